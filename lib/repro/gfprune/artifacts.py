"""gfprune's step outputs: their file names and loaders (what the later steps, the figures and the
notebooks read back). Nothing here computes a step; :mod:`repro.gfprune.pipeline` does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict

from repro.core import images, tables
from repro.core.arms import Arm
from repro.core.steps import read_json
from repro.core.weights import load_weights
from repro.gfprune.models import DigitClassifier

SPLIT = "split"  # data step: a datasets.DatasetDict saved with save_to_disk
UNET = "unet"  # model step: the dense UNet (diffusers folder, safetensors)
SCHEDULER = "scheduler.json"
CLASSIFIER = "classifier"  # the digit classifier whose features define the Frechet distance
REFERENCE = "reference.npz"  # real-feature statistics, the shared noise and the dense model's samples
PRETRAIN_CURVE = "pretrain_curve.json"  # validation loss and Frechet distance along pretraining
CURVES = "curves.npz"  # train step: validation losses per checkpoint
BUDGET = "budget.json"
TRAJECTORIES = "trajectories.json"
INFO = "info.json"
PLANTED = "planted.json"  # train step: per criterion and seed, 100/0 per planted dead channel (control K1)
RELIABILITY = "reliability.json"  # train step: split-half Spearman per seed; Diff-Pruning's two walks' agreement
SCORES = "scores.npz"  # evaluate step
GRIDS = "grids.npz"
CLAIMS = "claims.json"


def save_split(dataset: DatasetDict, data_dir: Path) -> None:
    tables.save(dataset, Path(data_dir) / SPLIT)


def load_split(data_dir: Path) -> dict[str, torch.Tensor]:
    """``x_train``, ``y_train``, ``x_test``, ``y_test`` as tensors (float32 images in [-1, 1], int64 labels)."""
    return images.load_split(Path(data_dir) / SPLIT)


def pruned_model(train_dir: Path, arm: Arm, seed: int) -> Path:
    """Where the train step keeps one pruned and fine-tuned model (``core.weights`` appends suffixes)."""
    return Path(train_dir) / "models" / f"{arm.file}_seed{seed}"


def load_dense(model_dir: Path) -> tuple[torch.nn.Module, dict]:
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(Path(model_dir) / UNET, use_safetensors=True).eval()
    return unet, read_json(Path(model_dir) / SCHEDULER)


def load_classifier(model_dir: Path) -> DigitClassifier:
    spec = read_json(Path(model_dir) / "classifier.json")
    return load_weights(DigitClassifier(**spec), Path(model_dir) / CLASSIFIER).eval()


def load_reference(model_dir: Path) -> dict[str, torch.Tensor]:
    with np.load(Path(model_dir) / REFERENCE) as ref:
        return {k: torch.from_numpy(ref[k]) for k in ref.files}


def steps_key(arm_name: str) -> str:
    return f"{arm_name}|steps"


def load_curves(train_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per arm name: the fine-tuning steps of its checkpoints (methods fine-tune for different numbers
    of steps so that all end at the same total gradient evaluations) and the (seeds, checkpoints,
    val examples) validation losses."""
    with np.load(Path(train_dir) / CURVES) as npz:
        return {k: (npz[steps_key(k)], npz[k]) for k in npz.files if not k.endswith("|steps")}


def load_grids(evaluate_dir: Path) -> dict[str, np.ndarray]:
    with np.load(Path(evaluate_dir) / GRIDS) as npz:
        return {k: npz[k] for k in npz.files}
