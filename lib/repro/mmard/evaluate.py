"""The attack suite over every trained student, as per-image scores for the claims.
Introduced in ``notebooks/mmard/04_evaluate.ipynb``.

Scores are 0 or 100 per test image (accuracy in points), shape ``(n_seeds, n_images)`` per arm, on
the same images for every arm so that claims are paired. AutoAttack (~0.1 s per image on 2 cores)
runs only on the arms the claims compare, on the first ``autoattack_subset`` test images.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from repro.core.runtime import seed_everything
from repro.mmard.attacks import PGD_EVAL_STEP_FRACTION, PGD_EVAL_STEPS, attack_suite, pgd, robust_correct

FAST_ATTACKS = ("clean", "fgsm", "pgd20", "cw_inf")


def points(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack, batch_size: int = 512) -> np.ndarray:
    """0/100 per image: correct under ``attack`` (None = clean)."""
    return robust_correct(model, x, y, attack, batch_size).float().mul(100).cpu().numpy()


def score_arms(
    students: Mapping[str, Sequence[nn.Module]],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    eps_sweep: Sequence[float],
    autoattack_arms: Collection[str],
    autoattack_subset: int,
    seed: int,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, list[float]]]:
    """Scores, metric -> arm -> (n_seeds, n_images), for the fast attacks, the eps sweep (PGD-20
    averaged over eps per image) and AutoAttack (on ``autoattack_arms`` only); and each arm's PGD-20
    accuracy per eps (seed mean)."""
    per_model = {
        arm: [model_scores(m, x, y, eps, eps_sweep, autoattack_subset * (arm in autoattack_arms), seed) for m in models]
        for arm, models in students.items()
    }
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
    """Every metric of one model (AutoAttack on the first ``autoattack_subset`` images when > 0). The
    random starts are reseeded per model, so a model's scores do not depend on which models were
    attacked before it (or on a resumed run's history)."""
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


def results_table(
    scores: Mapping[str, Mapping[str, np.ndarray]], teachers: Mapping[str, Mapping[str, float]]
) -> list[dict]:
    """Rows: chance, each teacher (``teachers``: the model step's summary, means over its seeds), then
    each arm's mean (and seed sd) per metric, in points. The AutoAttack column is named with its
    subset size: it is measured on fewer images than the rest."""
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
        for metric, column in columns.items():
            if arm in scores[metric]:
                per_seed = scores[metric][arm].mean(axis=1)
                row[column] = round(float(per_seed.mean()), 2)
                if len(per_seed) > 1:
                    row[f"{column}_sd"] = round(float(per_seed.std(ddof=1)), 2)
        rows.append(row)
    return rows
