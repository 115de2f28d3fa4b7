"""MMARD's data: sklearn digits (real, bundled) for the miniature; CIFAR-10 python batches for the
``paper`` profile. Both become one ``datasets.DatasetDict`` (``train``, ``test``) with the same typed
features: ``image`` float32 (C, S, S) in [0, 1] and ``label`` a 10-class ``ClassLabel``, so the
miniature and the ``paper`` profile feed one code path. Introduced in ``notebooks/mmard/01_data.ipynb``.
"""

from __future__ import annotations

from datasets import DatasetDict

from repro.core.images import CIFAR_CLASSES, DIGIT_CLASSES, Split, cifar10_split, digits_split, to_dataset


def load_arrays(source: str, image_size: int, test_fraction: float, seed: int) -> Split:
    """The split as arrays: ``x_*`` float32 (N, C, S, S) in [0, 1], ``y_*`` int64."""
    if source == "digits":
        return digits_split(image_size, test_fraction, seed)
    if source == "cifar10":
        return cifar10_split()
    raise ValueError(f"unknown data_source {source!r}; valid: digits, cifar10")


def load_split(
    source: str, image_size: int, test_fraction: float, seed: int, train_limit: int = 0, eval_limit: int = 0
) -> DatasetDict:
    """The data step's dataset; ``train_limit`` / ``eval_limit`` keep the first n images when > 0."""
    split = load_arrays(source, image_size, test_fraction, seed)
    for part, limit in (("train", train_limit), ("test", eval_limit)):
        if limit:
            split[f"x_{part}"], split[f"y_{part}"] = split[f"x_{part}"][:limit], split[f"y_{part}"][:limit]
    return to_dataset(split, CIFAR_CLASSES if source == "cifar10" else DIGIT_CLASSES)
