"""The file names of MMARD's step outputs and their loaders (what the steps, the figures and the
notebooks read back). Each step writes under its own folder, ``runs/<profile>/mmard/<step>/``:

* data: ``split/`` (a ``datasets.DatasetDict``, train / valid / test, saved with ``save_to_disk``)
* model: ``teacher_<name>[_seed<s>].safetensors`` (+ ``.json``: the network's spec)
* train: ``students/<arm file>_seed<s>.safetensors``, ``history.json``, ``budget.json``
* evaluate: ``scores.npz`` (``repro.core.scores``), ``sweep.json``, ``claims.json``
"""

from __future__ import annotations

from pathlib import Path

import torch
from datasets import DatasetDict

from repro.core import images, tables
from repro.core.arms import Arm
from repro.core.weights import load_config, load_weights
from repro.mmard.models import net_from_record

SPLIT = "split"
HISTORY = "history.json"
BUDGET = "budget.json"
SCORES = "scores.npz"
SWEEP = "sweep.json"
CLAIMS = "claims.json"


def save_split(dataset: DatasetDict, data_dir: Path) -> None:
    tables.save(dataset, Path(data_dir) / SPLIT)


def load_split(data_dir: Path) -> dict[str, torch.Tensor]:
    """``x_train``, ``y_train``, ``x_valid``, ``y_valid``, ``x_test``, ``y_test`` as tensors (float32
    images, int64 labels)."""
    split = images.load_split(Path(data_dir) / SPLIT)
    valid = tables.load(Path(data_dir) / SPLIT)["valid"].with_format("torch")[:]
    return {**split, "x_valid": valid["image"].float(), "y_valid": valid["label"].long()}


def teacher_path(model_dir: Path, name: str, seed: int | None = None) -> Path:
    return Path(model_dir) / (f"teacher_{name}" if seed is None else f"teacher_{name}_seed{seed}")


def student_path(train_dir: Path, arm: Arm, seed: int) -> Path:
    return Path(train_dir) / "students" / f"{arm.file}_seed{seed}"


def load_net(path: Path) -> torch.nn.Module:
    """A saved network (weights + spec), in eval mode."""
    return load_weights(net_from_record(load_config(path)), path).eval()
