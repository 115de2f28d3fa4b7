"""The attack suite over every trained student, as per-image scores for the claims.
Introduced in ``notebooks/mmard/04_evaluate.ipynb``.

Scores are 0 or 100 per test image (accuracy in points), shape ``(n_seeds, n_images)`` per arm, on
the same images for every arm so that claims are paired. AutoAttack (~0.1 s per image on 2 cores)
runs only on the arms the claims compare, on the first ``autoattack_subset`` test images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from repro.core.claims import Claim
from repro.core.runtime import seed_everything
from repro.mmard.attacks import PGD_EVAL_STEP_FRACTION, PGD_EVAL_STEPS, attack_suite, pgd, robust_correct

FAST_ATTACKS = ("clean", "fgsm", "pgd20", "cw_inf")
PRIOR = "prior"  # the trivial reference: the most frequent training class for every image


def points(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack, batch_size: int = 512) -> np.ndarray:
    """0/100 per image: correct under ``attack`` (None = clean)."""
    return robust_correct(model, x, y, attack, batch_size).float().mul(100).cpu().numpy()


def arm_scores(
    per_model: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, list[float]]]:
    """Scores, metric -> arm -> (n_seeds, n_images), from each arm's per-seed :func:`model_scores`
    (AutoAttack where it ran); and each arm's PGD-20 accuracy per eps of the sweep (seed mean)."""
    metrics = (*FAST_ATTACKS, "pgd20_sweep", "autoattack")
    scores = {
        metric: {arm: np.stack([s[metric] for s in runs]) for arm, runs in per_model.items() if metric in runs[0]}
        for metric in metrics
    }
    curves = {arm: np.mean([s["sweep"].mean(axis=1) for s in runs], axis=0).tolist() for arm, runs in per_model.items()}
    return scores, curves


def model_scores(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    eps_sweep: Sequence[float],
    autoattack_subset: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Every metric of one model: the fast attacks, the eps sweep (PGD-20 averaged over eps per image;
    ``sweep`` keeps each eps) and AutoAttack on the first ``autoattack_subset`` images when > 0. The
    random starts are reseeded per model, so a model's scores do not depend on which models were
    attacked before it, in which process (a job), or on a resumed run's history."""
    seed_everything(seed)
    suite = attack_suite(eps, seed=seed)
    scores = {metric: points(model, x, y, suite[metric]) for metric in FAST_ATTACKS}
    scores["sweep"] = sweep_points(model, x, y, eps_sweep)  # (n_eps, n_images)
    scores["pgd20_sweep"] = scores["sweep"].mean(axis=0)
    if autoattack_subset:
        n = min(autoattack_subset, len(x))
        scores["autoattack"] = points(model, x[:n], y[:n], suite["autoattack"])
    return scores


def sweep_points(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_values: Sequence[float]) -> np.ndarray:
    """(n_eps, n_images) PGD-20 scores at each eps, the step a fixed fraction of eps."""
    return np.stack(
        [
            points(model, x, y, lambda m, xb, yb, e=eps: pgd(m, xb, yb, e, e * PGD_EVAL_STEP_FRACTION, PGD_EVAL_STEPS))
            for eps in eps_values
        ]
    )


def prior_scores(
    scores: dict[str, dict[str, np.ndarray]], y_train: torch.Tensor, y_test: torch.Tensor, n_seeds: int
) -> None:
    """Add the prior-class predictor to every metric as the arm ``prior``, on the same images (the
    first ones where a metric is measured on a subset): a constant answer no attack can change, so
    its accuracy is the share of that class under every attack."""
    prior = int(torch.bincount(y_train.cpu()).argmax())
    hits = 100.0 * (y_test.cpu().numpy() == prior)
    for arms in scores.values():
        n = next(iter(arms.values())).shape[1] if arms else len(hits)
        arms[PRIOR] = np.tile(hits[:n], (n_seeds, 1))


def soft_label_stats(robust: nn.Module, natural: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """How a robust teacher's soft labels (T = 1) differ from a natural teacher's on images ``x``:
    top-1 agreement (%), each one's mean top probability, and the mean total variation distance
    between the two distributions. RSLAD's student sees only these on clean images."""
    with torch.no_grad():
        p, q = robust(x).float().softmax(1), natural(x).float().softmax(1)
    return {
        "agreement": round(float((p.argmax(1) == q.argmax(1)).float().mean()) * 100, 2),
        "top_prob_robust": round(float(p.amax(1).mean()), 4),
        "top_prob_natural": round(float(q.amax(1).mean()), 4),
        "total_variation": round(float(0.5 * (p - q).abs().sum(1).mean()), 4),
    }


def gate_values(
    teachers: Mapping[str, Mapping], valid_clean: Mapping[str, Sequence[float]], natural: str, claims: Sequence[Claim]
) -> dict[str, list[float]]:
    """The gates' values per seed, all on the validation images (``repro.mmard.claims.GATES``):
    each robust teacher's PGD-20 accuracy minus the natural teacher's, and the lowest clean
    accuracy among the students the claims compare."""
    base = [r["valid_pgd20"] for r in teachers[natural]["per_seed"]]
    values = {
        f"robust teacher {name}": [r["valid_pgd20"] - b for r, b in zip(info["per_seed"], base)]
        for name, info in teachers.items()
        if name != natural
    }
    compared = sorted({arm for c in claims for arm in c.arms} & set(valid_clean))
    values["students learn"] = np.min([valid_clean[arm] for arm in compared], axis=0).tolist()
    return values


def results_table(
    scores: Mapping[str, Mapping[str, np.ndarray]],
    teachers: Mapping[str, Mapping[str, float]],
    epochs: Mapping[str, int] | None = None,
) -> list[dict]:
    """Rows: chance, each teacher (``teachers``: the model step's summary, means over its seeds), then
    each arm's mean (and seed sd) per metric, in points, and its training epochs (``epochs``, by
    method). The AutoAttack column is named with its subset size: it is measured on fewer images
    than the rest."""
    n_aa = next((v.shape[1] for v in scores["autoattack"].values()), 0)
    columns = {m: m for m in ("clean", "fgsm", "pgd20", "cw_inf")} | {"autoattack": f"autoattack (first {n_aa})"}
    rows = [{"method": "chance", **{c: 10.0 for c in columns.values()}}]
    rows += [
        {
            "method": f"teacher {name} ({values['method']}, seed mean)",
            "clean": values["clean"],
            "pgd20": values["pgd20"],
        }
        for name, values in teachers.items()
    ]
    for arm in scores["clean"]:
        row: dict = {"method": arm}
        if epochs and arm.split("@")[0] in epochs:
            row["epochs"] = epochs[arm.split("@")[0]]
        for metric, column in columns.items():
            if arm in scores[metric]:
                per_seed = scores[metric][arm].mean(axis=1)
                row[column] = round(float(per_seed.mean()), 2)
                if len(per_seed) > 1:
                    row[f"{column}_sd"] = round(float(per_seed.std(ddof=1)), 2)
        rows.append(row)
    return rows
