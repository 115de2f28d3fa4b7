"""File names of VBackChecker's step outputs and their loaders (what the notebooks and figures read).

``data/``: ``dataset/`` (the ``DatasetDict``: ``scenes``, ``train``, ``val``, ``bench``, ``refer``) and
``formats/`` (the same splits in the real formats: COCO instances, gRefCOCO-style refs, R^2-HalBench).
``pretrain/``: ``grounder_seed<k>.safetensors`` + ``.json`` (absent when ``pretrain.steps`` is 0),
``budget.json``, ``jobs.json``.
``train/``: ``weights/<arm>_seed<k>.safetensors`` + ``.json``, ``history.json``, ``budget.json``.
``evaluate/``: ``scores.npz``, ``claims.json``, ``predictions.npz`` (first seed's verdicts and masks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro.core import tables
from repro.core.arms import Arm
from repro.core.steps import read_json
from repro.core.weights import load_config, load_weights, save_weights

DATASET = "dataset"
FORMATS = "formats"
HISTORY = "history.json"
BUDGET = "budget.json"
SCORES = "scores.npz"
CLAIMS = "claims.json"
PREDICTIONS = "predictions.npz"
MODEL_CARD = "models.json"
PRETRAINED = "grounder"


def save_tables(dataset, data_dir: Path) -> None:
    tables.save(dataset, Path(data_dir) / DATASET)


def load_tables(data_dir: Path):
    return tables.load(Path(data_dir) / DATASET)


def weights_path(train_dir: Path, arm: str, seed: int) -> Path:
    return Path(train_dir) / "weights" / f"{Arm(arm).file}_seed{seed}"


def save_trained(train_dir: Path, arm: str, seed: int, model, threshold: float | None) -> None:
    save_weights(model, weights_path(train_dir, arm, seed), {"arm": arm, "seed": seed, "threshold": threshold})


def load_trained(train_dir: Path, arm: str, seed: int, model):
    """``(model with the saved weights, threshold or None)``; ``model`` is an untrained network of the
    arm's kind (:func:`repro.vbackchecker.training.build_model`)."""
    path = weights_path(train_dir, arm, seed)
    meta = load_config(path)
    return load_weights(model, path).eval(), meta["threshold"]


def pretrained_path(pretrain_dir: Path, seed: int) -> Path:
    return Path(pretrain_dir) / f"{PRETRAINED}_seed{seed}"


def save_pretrained(pretrain_dir: Path, seed: int, model) -> None:
    save_weights(model, pretrained_path(pretrain_dir, seed), {"arm": "pretrain", "seed": seed})


def load_pretrained(pretrain_dir: Path, seed: int, model) -> dict | None:
    """Seed ``seed``'s pretrained grounder as a state dict (loaded into ``model``, an untrained checker
    of the same spec), or None when the run pretrains nothing."""
    path = pretrained_path(pretrain_dir, seed)
    if not path.with_suffix(".json").exists():
        return None
    return load_weights(model, path).state_dict()


def load_history(train_dir: Path) -> dict:
    return read_json(Path(train_dir) / HISTORY)


def load_budget(train_dir: Path) -> dict:
    return read_json(Path(train_dir) / BUDGET)


def load_predictions(evaluate_dir: Path) -> dict[str, np.ndarray]:
    with np.load(Path(evaluate_dir) / PREDICTIONS, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
