"""File names and loaders of Invert4TVG's step outputs (what later steps, figures and notebooks read).

data/      ``verb/`` and ``object/`` (``datasets.DatasetDict`` with train, eval and ``eval_noise<x>``
           splits), ``vocab.json``, ``word_vectors.npy`` (the cosine reward's table), and the verb
           set's eval split written in both real formats: ``charades_sta_eval.txt`` and
           ``timezero_eval.json``.
model/     ``warmup_seed<s>.safetensors`` (+ ``.json``): the format warm-up per seed.
train/     ``<arm>_seed<s>.safetensors`` (+ ``.json``), ``history.json`` (per-update rewards),
           ``budget.json`` (the ledger per arm).
evaluate/  ``scores.npz`` (per-example scores), ``claims.json``, ``predictions.json``.
figures/   PNG and PDF.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from repro.core import tables
from repro.core.arms import Arm
from repro.core.steps import read_json
from repro.core.weights import load_config, load_weights
from repro.invert4tvg.config import PolicySpec
from repro.invert4tvg.data import Vocab
from repro.invert4tvg.models import Policy, build_policy

CONTRAST_DIR = {"verb": "verb", "object": "object"}


def noise_split(noise: float) -> str:
    return f"eval_noise{noise:g}"


def load_split(data_dir: Path, contrast: str, split: str):
    """One split of the saved ``DatasetDict`` of a contrast ("verb" or "object")."""
    return tables.load(Path(data_dir) / CONTRAST_DIR[contrast])[split]


def load_vocab(data_dir: Path) -> Vocab:
    return Vocab(tuple(read_json(Path(data_dir) / "vocab.json")["words"]))


def load_vectors(data_dir: Path) -> np.ndarray:
    return np.load(Path(data_dir) / "word_vectors.npy", allow_pickle=False)


def warmup_path(model_dir: Path, seed: int) -> Path:
    return Path(model_dir) / f"warmup_seed{seed}"


def arm_path(train_dir: Path, arm: Arm, seed: int) -> Path:
    return Path(train_dir) / f"{arm.file}_seed{seed}"


def policy_config(spec: PolicySpec, frames: int, feature_dim: int) -> dict:
    """What :func:`load_policy` needs to rebuild a policy (saved beside its weights)."""
    return {"spec": asdict(spec), "frames": frames, "feature_dim": feature_dim}


def load_policy(path: Path, vocab: Vocab) -> Policy:
    """A saved policy (safetensors + JSON), rebuilt from its config."""
    config = load_config(path)
    net = build_policy(PolicySpec(**config["spec"]), vocab, config["frames"], config["feature_dim"])
    return load_weights(net, path).eval()


def annotations_of(table):
    """The targets of a TVG table as real-format annotations (seconds)."""
    from repro.invert4tvg.data import annotations_of as convert

    return convert(table)


def predictions_file(evaluate_dir: Path) -> Path:
    return Path(evaluate_dir) / "predictions.json"
