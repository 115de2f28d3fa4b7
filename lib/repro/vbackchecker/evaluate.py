"""The field's metrics, as per-example scores (in points) so that claims pair arms on the same rows.

Detection on R^2-HalBench (a hallucinated caption should be rejected, a clean one accepted):

* ``acc``: accuracy over all items; ``neg_acc``: recall on hallucinated items; ``pos_acc``: recall on
  clean items (the paper's Acc, Neg.Acc, Pos.Acc).
* ``bacc_<level>`` for object / attribute / relation: balanced accuracy on the level's hallucinated
  items and all clean items, ``(Neg.Acc_level + Pos.Acc) / 2``. As a per-example score each item
  contributes ``100 * correct * n / (2 * n_class)``, whose mean is exactly that balanced accuracy (a
  constant judge scores 50 whatever the class sizes: chance is one number for every level).
* ``bacc_heldout``: the same over the hallucinations made by operators held out of training.

Grounding on the gRefCOCO-style split (GSVA / ReLA's definitions):

* ``giou``: mean per-sample IoU, where an empty prediction on an empty target counts 1;
* ``ciou``: cumulative intersection over cumulative union (one number per run, in the table);
* ``n_acc``: share of no-target samples predicted empty (rejected); ``t_acc``: share of target
  samples predicted non-empty.

Introduced in ``notebooks/vbackchecker/04_evaluate.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from repro.vbackchecker.scenes import ERROR_TYPES


def detection_scores(accept: np.ndarray, error_types: Sequence[str], operators: Sequence[str],
                     held_out: Sequence[str]) -> dict[str, np.ndarray]:  # fmt: skip
    """Per-example scores of every detection metric (each over its own subset of the items)."""
    error_types, operators = np.asarray(error_types), np.asarray(operators)
    clean = error_types == "none"
    correct = 100.0 * (accept == clean)
    scores = {"acc": correct, "neg_acc": correct[~clean], "pos_acc": correct[clean]}
    subsets = {f"bacc_{level}": error_types == level for level in ERROR_TYPES}
    subsets["bacc_heldout"] = ~clean & np.isin(operators, list(held_out))
    for name, hallucinated in subsets.items():
        scores[name] = balanced(correct, clean, hallucinated)
    return scores


def balanced(correct: np.ndarray, clean: np.ndarray, hallucinated: np.ndarray) -> np.ndarray:
    """Per-example scores over ``clean | hallucinated`` whose mean is the balanced accuracy."""
    keep = clean | hallucinated
    n_clean, n_bad = clean.sum(), hallucinated.sum()
    if n_clean == 0 or n_bad == 0:
        return np.zeros(0)
    weight = np.where(clean, keep.sum() / (2 * n_clean), keep.sum() / (2 * n_bad))
    return (correct * weight)[keep]


def iou(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample IoU ``(n,)`` (1 for an empty prediction on an empty target), intersections, unions."""
    pred, target = pred.reshape(len(pred), -1).astype(bool), target.reshape(len(target), -1).astype(bool)
    inter = (pred & target).sum(1)
    union = (pred | target).sum(1)
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1)), inter, union


def grounding_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example ``giou``, ``n_acc`` and ``t_acc`` in points (``ciou`` from :func:`ciou`)."""
    per_sample, _, _ = iou(pred, target)
    empty_target = ~target.reshape(len(target), -1).any(1)
    empty_pred = ~pred.reshape(len(pred), -1).any(1)
    return {
        "giou": 100.0 * per_sample,
        "n_acc": 100.0 * empty_pred[empty_target],
        "t_acc": 100.0 * ~empty_pred[~empty_target],
    }


def ciou(pred: np.ndarray, target: np.ndarray) -> float:
    _, inter, union = iou(pred, target)
    return 100.0 * inter.sum() / max(union.sum(), 1)


def results_table(
    scores: Mapping[str, Mapping[str, np.ndarray]], extra: Mapping[str, Mapping[str, float]]
) -> list[dict]:
    """One row per arm: every metric's mean over seeds and examples (and the per-run extras, e.g. cIoU)."""
    arms = sorted({arm for per_arm in scores.values() for arm in per_arm})
    rows = []
    for arm in arms:
        row: dict = {"method": arm}
        for metric, per_arm in scores.items():
            if arm in per_arm and np.size(per_arm[arm]):
                row[metric] = round(float(np.mean(per_arm[arm])), 2)
        row.update({k: round(v, 2) for k, v in extra.get(arm, {}).items()})
        rows.append(row)
    return rows
