"""Per-example scores: one ``(n_seeds, n_examples)`` array per metric and arm, saved as ``scores.npz``.

Every evaluate step writes its scores with :func:`save_scores` and the claims are decided from them
(:mod:`repro.core.claims`), so a reader can re-decide a claim, or plot per-seed results, from the
file alone. Arrays are stored under ``"<metric>|<arm>"`` keys and read back without pickle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from .steps import atomic_path

Scores = Mapping[str, Mapping[str, np.ndarray]]
SEP = "|"


def save_scores(path: Path, scores: Scores) -> Path:
    """Write ``scores[metric][arm]`` arrays atomically to ``path`` (``.npz``)."""
    arrays = {}
    for metric, arms in scores.items():
        for arm, values in arms.items():
            if SEP in metric or SEP in str(arm):
                raise ValueError(f"metric and arm names may not contain {SEP!r}: {metric!r}, {arm!r}")
            values = np.asarray(values)
            if values.ndim != 2:
                raise ValueError(f"scores[{metric!r}][{arm!r}] must be (n_seeds, n_examples), got {values.shape}")
            arrays[f"{metric}{SEP}{arm}"] = values
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def load_scores(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Read a ``scores.npz`` written by :func:`save_scores` (``allow_pickle=False``)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            metric, _, arm = key.partition(SEP)
            out.setdefault(metric, {})[arm] = data[key]
    return out


def measured_claims(claims: Iterable, scores: Scores) -> list:
    """The claims whose metric and every arm this run measured (a profile may skip some arms, e.g.
    real data without the generator's ground truth)."""
    return [c for c in claims if c.metric in scores and all(arm in scores[c.metric] for arm in c.arms)]
