"""Image datasets two or more papers share, as float32 arrays in [0, 1] of shape (N, C, S, S) with
int64 labels: scikit-learn's bundled digits (real, offline) and CIFAR-10's python batches (the
``paper`` profiles; every file hash-checked, then read with the restricted unpickler).

MMARD uses both at [0, 1]; gfprune rescales them to [-1, 1] for its DDPM.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Array3D, ClassLabel, Dataset, DatasetDict, Features

from repro.core import tables
from repro.core.data import Manifest, load_manifest, restricted_load, verified_path

CIFAR_TRAIN = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "cifar-10-batches-py/test_batch"
DIGIT_CLASSES = tuple(str(d) for d in range(10))
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
Split = dict[str, np.ndarray]


def digits_split(image_size: int, test_fraction: float, seed: int) -> Split:
    """Stratified train/test split of the 1797 digits, scaled from 0..16 to [0, 1] and, when
    ``image_size`` is not 8, bilinearly resized (then clipped to [0, 1])."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    if image_size != 8:
        resized = F.interpolate(torch.from_numpy(images), size=image_size, mode="bilinear", align_corners=False)
        images = resized.clamp(0, 1).numpy()
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, digits.target.astype(np.int64), test_size=test_fraction, stratify=digits.target, random_state=seed
    )
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: a Python 2 pickle of {b'data': uint8 (N, 3072), b'labels': [...]}.
    Opened with the restricted unpickler only (numpy arrays and containers, nothing else)."""
    batch = restricted_load(path, encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{path}: not a CIFAR-10 batch (needs b'data' and b'labels', found {found})")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(
            f"{path}: expected uint8 data (N, 3072) and N labels, got {data.dtype} {data.shape} and {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels outside 0..9")
    return (data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0), labels


def cifar10_split(root: Path | None = None, manifest: Manifest | None = None) -> Split:
    """CIFAR-10 train (50k) and test (10k) from ``$REPRO_DATA_DIR/cifar-10-batches-py``, each file
    checked against the manifest's hash before it is opened."""
    manifest = manifest or load_manifest("cifar10")
    train = [read_cifar_batch(verified_path(manifest, rel, root)) for rel in CIFAR_TRAIN]
    x_te, y_te = read_cifar_batch(verified_path(manifest, CIFAR_TEST, root))
    return {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_te,
        "y_test": y_te,
    }


def image_features(channels: int, image_size: int, classes: tuple[str, ...]) -> Features:
    """The typed columns of an image split: ``image`` float32 (C, S, S), ``label`` a ``ClassLabel``."""
    return Features(
        {
            "image": Array3D(shape=(channels, image_size, image_size), dtype="float32"),
            "label": ClassLabel(names=list(classes)),
        }
    )


def to_dataset(split: Split, classes: tuple[str, ...]) -> DatasetDict:
    """Arrays -> a ``DatasetDict`` (``train``, ``test``) with :func:`image_features` (float32 images are
    stored exactly), so a bundled miniature and a real dataset give a paper one code path."""
    _, channels, size, _ = split["x_train"].shape
    feats = image_features(channels, size, classes)
    return DatasetDict(
        {
            part: Dataset.from_dict(
                {"image": np.ascontiguousarray(split[f"x_{part}"]), "label": split[f"y_{part}"]}, features=feats
            )
            for part in ("train", "test")
        }
    )


def load_split(folder: Path) -> dict[str, torch.Tensor]:
    """``x_train``, ``y_train``, ``x_test``, ``y_test`` as tensors (float32 images, int64 labels) from a
    split saved by :func:`repro.core.tables.save`."""
    dataset = tables.load(folder).with_format("torch")
    out = {}
    for part in ("train", "test"):
        rows = dataset[part][:]
        out[f"x_{part}"], out[f"y_{part}"] = rows["image"].float(), rows["label"].long()
    return out
