"""MMARD's data: sklearn digits (real, bundled) for the miniature; CIFAR-10 python batches for the
``paper`` profile. Both come out as float32 images in [0, 1], shape (N, C, S, S), and int64 labels.
Introduced in ``notebooks/mmard/01_data.ipynb``.
"""

from __future__ import annotations

from repro.core.images import Split, cifar10_split, digits_split


def load_split(source: str, image_size: int, test_fraction: float, seed: int) -> Split:
    if source == "digits":
        return digits_split(image_size, test_fraction, seed)
    if source == "cifar10":
        return cifar10_split()
    raise ValueError(f"unknown data_source {source!r}; valid: digits, cifar10")
