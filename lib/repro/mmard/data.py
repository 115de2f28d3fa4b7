"""MMARD's data: sklearn digits (real, bundled) for the miniature; CIFAR-10 python batches for the
``paper`` profile. Both become one ``datasets.DatasetDict`` (``train``, ``valid``, ``test``) with the
same typed features: ``image`` float32 (C, S, S) in [0, 1] and ``label`` a 10-class ``ClassLabel``, so
the miniature and the ``paper`` profile feed one code path. Introduced in ``notebooks/mmard/01_data.ipynb``.

The validation split is drawn from the training images, stratified, like the test split is drawn
from all of them: the gates (``repro.mmard.claims.GATES``) are measured on it, never on the test split.
"""

from __future__ import annotations

import numpy as np
from datasets import Dataset, DatasetDict

from repro.core.images import CIFAR_CLASSES, DIGIT_CLASSES, Split, cifar10_split, digits_split, to_dataset


def load_arrays(source: str, image_size: int, test_fraction: float, seed: int) -> Split:
    """The split as arrays: ``x_*`` float32 (N, C, S, S) in [0, 1], ``y_*`` int64."""
    if source == "digits":
        return digits_split(image_size, test_fraction, seed)
    if source == "cifar10":
        return cifar10_split()
    raise ValueError(f"unknown data_source {source!r}; valid: digits, cifar10")


def with_validation(split: Split, valid_fraction: float, seed: int) -> Split:
    """Move a stratified ``valid_fraction`` of the training images into ``x_valid`` / ``y_valid``."""
    from sklearn.model_selection import train_test_split

    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    x_tr, x_va, y_tr, y_va = train_test_split(
        split["x_train"], split["y_train"], test_size=valid_fraction, stratify=split["y_train"], random_state=seed
    )
    return {**split, "x_train": x_tr, "y_train": y_tr, "x_valid": x_va, "y_valid": y_va}


def load_split(
    source: str,
    image_size: int,
    test_fraction: float,
    seed: int,
    train_limit: int = 0,
    eval_limit: int = 0,
    valid_fraction: float = 0.1,
) -> DatasetDict:
    """The data step's dataset; ``train_limit`` / ``eval_limit`` keep the first n training / validation
    and test images when > 0."""
    split = with_validation(load_arrays(source, image_size, test_fraction, seed), valid_fraction, seed)
    for part, limit in (("train", train_limit), ("valid", eval_limit), ("test", eval_limit)):
        if limit:
            split[f"x_{part}"], split[f"y_{part}"] = split[f"x_{part}"][:limit], split[f"y_{part}"][:limit]
    dataset = to_dataset(split, CIFAR_CLASSES if source == "cifar10" else DIGIT_CLASSES)
    features = dataset["train"].features
    valid = {"image": np.ascontiguousarray(split["x_valid"]), "label": split["y_valid"]}
    return DatasetDict({**dataset, "valid": Dataset.from_dict(valid, features=features)})
