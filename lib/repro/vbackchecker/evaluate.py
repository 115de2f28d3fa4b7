"""The field's metrics, as per-example scores (in points) so that claims pair arms on the same rows, and
the trivial references scored on the same rows.

Detection on R^2-HalBench (a hallucinated caption should be rejected, a clean one accepted):

* ``acc``: the paper's Acc, ``(Neg.Acc + Pos.Acc) / 2`` (it checks against the paper's table:
  62.5 = (64.1 + 60.9) / 2, and GSVA-7B's 49.9 = (0.5 + 99.3) / 2); ``plain_acc``: accuracy over all
  items (a table column); ``neg_acc``: recall on hallucinated items; ``pos_acc``: recall on clean items.
* ``pos_minus_neg``: ``Pos.Acc - Neg.Acc`` (0 for a judge that errs evenly on both classes; +100 for one
  that accepts everything).
* ``bacc_<level>`` for object / attribute / relation: balanced accuracy on the level's hallucinated
  items and all clean items, ``(Neg.Acc_level + Pos.Acc) / 2``; ``bacc_<level>_seen`` and
  ``bacc_<level>_heldout`` split the level's hallucinations by whether their swap operator was in
  training; ``bacc_heldout`` pools every held-out operator.

A balanced score as a per-example array: each item contributes ``100 * correct * n / (2 * n_class)``,
whose mean is exactly the balanced accuracy (a constant judge scores 50 whatever the class sizes).

Grounding on the gRefCOCO-style split (GSVA / ReLA's definitions):

* ``giou``: mean per-sample IoU, where an empty prediction on an empty target counts 1;
* ``ciou``: cumulative intersection over cumulative union (one number per run, in the table);
* ``n_acc`` / ``t_acc``: no-target samples rejected / target samples accepted, decided from the
  predicted token as the official code does; ``n_acc_mask`` / ``t_acc_mask``: the same from an empty
  or non-empty mask (a second column);
* ``refer_acc``: ``(N-acc + T-acc) / 2`` (the form a constant answer cannot pass: 50 for always-reject
  and for a mask over every object);
* ``target_iou``: mean IoU over the samples that have a target (the grounding gate's measure).

Trivial references (:func:`trivial_verdicts`): ``always_accept`` (accepts, segments nothing),
``always_reject``, and ``mask_all`` (accepts with a mask over every object of the scene).

Introduced in ``notebooks/vbackchecker/04_evaluate.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from repro.vbackchecker.scenes import ERROR_TYPES

TRIVIAL = ("always_accept", "always_reject", "mask_all")


def detection_scores(accept: np.ndarray, error_types: Sequence[str], operators: Sequence[str],
                     held_out: Sequence[str]) -> dict[str, np.ndarray]:  # fmt: skip
    """Per-example scores of every detection metric (each over its own subset of the items; a subset
    with no hallucination of its kind is left out)."""
    error_types, operators = np.asarray(error_types), np.asarray(operators)
    clean = error_types == "none"
    correct = 100.0 * (accept == clean)
    unseen = np.isin(operators, list(held_out))
    scores = {"acc": balanced(correct, clean, ~clean), "plain_acc": correct, "neg_acc": correct[~clean],
              "pos_acc": correct[clean], "pos_minus_neg": balanced(correct, clean, ~clean, sign=-1.0)}  # fmt: skip
    subsets = {"bacc_heldout": ~clean & unseen}
    for level in ERROR_TYPES:
        hit = error_types == level
        subsets |= {f"bacc_{level}": hit, f"bacc_{level}_seen": hit & ~unseen, f"bacc_{level}_heldout": hit & unseen}
    for name, hallucinated in subsets.items():
        if hallucinated.any() and clean.any():
            scores[name] = balanced(correct, clean, hallucinated)
    return scores


def balanced(correct: np.ndarray, clean: np.ndarray, hallucinated: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """Per-example scores over ``clean | hallucinated`` whose mean is the balanced accuracy; with
    ``sign=-1`` the hallucinated items count negatively, so the mean is ``Pos.Acc - Neg.Acc`` times 1/2
    (scaled back to points: ``2 x``)."""
    keep = clean | hallucinated
    n_clean, n_bad = clean.sum(), hallucinated.sum()
    if n_clean == 0 or n_bad == 0:
        return np.zeros(0)
    weight = np.where(clean, keep.sum() / (2 * n_clean), sign * keep.sum() / (2 * n_bad))
    scale = 1.0 if sign > 0 else 2.0
    return (scale * correct * weight)[keep]


def iou(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample IoU ``(n,)`` (1 for an empty prediction on an empty target), intersections, unions."""
    pred, target = pred.reshape(len(pred), -1).astype(bool), target.reshape(len(target), -1).astype(bool)
    inter = (pred & target).sum(1)
    union = (pred | target).sum(1)
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1)), inter, union


def grounding_scores(accept: np.ndarray, pred: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example ``giou``, ``target_iou``, ``n_acc`` / ``t_acc`` (from the token), their mask-rule
    columns and ``refer_acc``, in points (``ciou`` from :func:`ciou`)."""
    per_sample, _, _ = iou(pred, target)
    has_target = target.reshape(len(target), -1).any(1)
    empty_pred = ~pred.reshape(len(pred), -1).any(1)
    correct = 100.0 * (np.asarray(accept, bool) == has_target)
    return {
        "giou": 100.0 * per_sample,
        "target_iou": 100.0 * per_sample[has_target],
        "n_acc": correct[~has_target],
        "t_acc": correct[has_target],
        "n_acc_mask": 100.0 * empty_pred[~has_target],
        "t_acc_mask": 100.0 * ~empty_pred[has_target],
        "refer_acc": balanced(correct, has_target, ~has_target),
    }


def ciou(pred: np.ndarray, target: np.ndarray) -> float:
    _, inter, union = iou(pred, target)
    return 100.0 * inter.sum() / max(union.sum(), 1)


def trivial_verdicts(name: str, n: int, every_object: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(accept, masks)`` of a trivial reference on ``n`` rows; ``every_object`` is the union of the
    objects of each row's scene ``(n, H, W)``."""
    if name == "always_accept":
        return np.ones(n, bool), np.zeros_like(every_object, bool)
    if name == "always_reject":
        return np.zeros(n, bool), np.zeros_like(every_object, bool)
    if name == "mask_all":
        return np.ones(n, bool), every_object.astype(bool)
    raise ValueError(f"unknown trivial reference {name!r}; known: {', '.join(TRIVIAL)}")


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
