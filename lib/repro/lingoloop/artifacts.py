"""The file names of LingoLoop's step outputs and their loaders (what the steps, the figures and the
notebooks read back). Each step writes under ``runs/<profile>/lingoloop/<step>/``:

* data: ``scenes/`` (a ``datasets.DatasetDict``, splits ``train``, ``val`` and ``eval``), ``pos_table.json``
  (EOS frequency per POS in the reference captions: the phenomenon, shown for comparison)
* model: ``victims/seed<s>/`` (``save_pretrained``), ``pos_table_seed<s>.json`` (the victim's own
  mean p(EOS) per POS: the weights the attack uses), ``victims.json`` (each victim's right-ending
  rate on the validation scenes and whether it is ready: only ready victims are attacked and pooled)
* train: ``adversarial_seed<s>.npz`` (one array per arm file), ``history.json``, ``budget.json``
* evaluate: ``scores.npz`` (``repro.core.scores``), ``outputs.json``, ``claims.json``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict

from repro.core import tables
from repro.core.arms import Arm
from repro.core.steps import read_json
from repro.lingoloop.data import SceneSet, from_dataset, to_dataset

SCENES = "scenes"
REFERENCE_POS_TABLE = "pos_table.json"
HISTORY = "history.json"
BUDGET = "budget.json"
SCORES = "scores.npz"
OUTPUTS = "outputs.json"
CLAIMS = "claims.json"
VICTIMS = "victims.json"


def pooled_seeds(model_dir: Path) -> list[int]:
    """The seeds whose victims are attacked and pooled: the ready ones, or every one when none is
    (then the readiness gate fails and every claim is not testable)."""
    victims = read_json(Path(model_dir) / VICTIMS)
    ready = [int(s) for s, v in victims.items() if v["ready"]]
    return ready or [int(s) for s in victims]


def victim_dir(model_dir: Path, seed: int) -> Path:
    return Path(model_dir) / "victims" / f"seed{seed}"


def victim_pos_table(model_dir: Path, seed: int) -> Path:
    return Path(model_dir) / f"pos_table_seed{seed}.json"


def token_weights(model_dir: Path, seed: int) -> torch.Tensor:
    """w(POS(token)) per token id (V,) from the victim's own p(EOS) table of that seed."""
    return torch.tensor(read_json(victim_pos_table(model_dir, seed))["token_weight"], dtype=torch.float32)


def save_scenes(data_dir: Path, sets: dict[str, SceneSet]) -> None:
    """The scene sets as one ``DatasetDict`` (Arrow, memory-mapped)."""
    tables.save(DatasetDict({name: to_dataset(scenes) for name, scenes in sets.items()}), Path(data_dir) / SCENES)


def load_scenes(data_dir: Path, split: str) -> SceneSet:
    """One split (``train``, ``val`` or ``eval``) of the data step's scenes."""
    return from_dataset(tables.load(Path(data_dir) / SCENES)[split])


def eval_images(data_dir: Path, device) -> torch.Tensor:
    return torch.from_numpy(load_scenes(data_dir, "eval").images).to(device)


def adversarial_path(train_dir: Path, seed: int) -> Path:
    return Path(train_dir) / f"adversarial_seed{seed}.npz"


def save_adversarial(train_dir: Path, seed: int, images: dict[Arm, np.ndarray]) -> None:
    np.savez(adversarial_path(train_dir, seed), **{arm.file: x for arm, x in images.items()})


def load_adversarial(train_dir: Path, seed: int, arms: list[Arm]) -> dict[Arm, np.ndarray]:
    """The adversarial images of ``arms`` for one seed (``allow_pickle=False``)."""
    with np.load(adversarial_path(train_dir, seed), allow_pickle=False) as z:
        return {arm: z[arm.file] for arm in arms}
