"""VideoPure's metrics: clean accuracy (no defence, clean clips), standard accuracy (purified clean
clips), robust accuracy per attack, temporal consistency (warping error of the purified clip under
the true flow), and purification time per clip; plus the probe that checks the generator does not
give the class away in a single frame. Introduced in ``notebooks/videopure/04_evaluate.ipynb``.

Per-example scores (``repro.core.scores``): ``accuracy`` (0 or 100 per clip), ``warping_error`` (per
clip, x1000: mean squared residual on [0, 1] pixels) and ``time_ms`` (per clip, the batch's
purification time divided by its clips), each ``(n_seeds, n_eval)`` per arm ``<rung>@<condition>``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from repro.core.arms import Arm
from repro.videopure.baselines import rung
from repro.videopure.method import Purifier


def condition(attack: str, eps: float | None = None) -> str:
    """``clean``, or ``<attack><eps in 1/255>`` (``pgd4``, ``bpda16``, ``transfer16``)."""
    return attack if eps is None else f"{attack}{round(eps * 255)}"


def single_frame_probe(videos: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Test accuracy of a logistic regression on one frame (frame 0) and on the clip's mean frame, for
    the direction (left/right) and for the class. The generator must not let either read the
    direction: both should sit at chance (50%), while the digit is readable (the class only at half)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    out = {}
    views = {"frame0": videos[:, 0], "mean_frame": videos.mean(1)}
    for view, x in views.items():
        x = x.reshape(len(x), -1)
        for target, y in (("direction", labels % 2), ("class", labels)):
            x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
            model = LogisticRegression(max_iter=300).fit(x_tr, y_tr)
            out[f"{view}_{target}"] = round(100 * float(model.score(x_te, y_te)), 1)
    return out


def accuracy_scores(predictions: Mapping[str, np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """``{arm: 100 * (prediction == label)}``, each (n_seeds, n_eval)."""
    return {arm: 100.0 * (np.asarray(p) == labels) for arm, p in predictions.items()}


def results_table(scores: Mapping[str, Mapping[str, np.ndarray]], rungs: tuple[str, ...], conditions: list[str]):
    """One row per rung: accuracy per condition (seed-mean), warping error and time on clean clips."""
    rows = []
    for name in rungs:
        row: dict = {"method": name}
        for cond in conditions:
            arm = Arm(name, cond).name
            if arm in scores["accuracy"]:
                row[f"acc {cond}"] = round(float(scores["accuracy"][arm].mean()), 2)
        for metric in ("warping_error", "time_ms"):
            arm = Arm(name, "clean").name
            if arm in scores.get(metric, {}):
                row[metric] = round(float(scores[metric][arm].mean()), 4)
        rows.append(row)
    return rows


def reconstruction_check(p: Purifier, clips: torch.Tensor) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """MSE (on [0, 1] pixels) between clean clips and their K-step inversion + K-step DDIM regeneration,
    per-frame and temporal. Near zero for per-frame inversion (DDIM inverts almost exactly); the shared
    noise of temporal inversion moves the frames further."""
    metrics, outputs = {}, {}
    for name in ("ddim_inversion", "temporal_inversion"):
        purified = rung(name)(p, clips)
        outputs[name] = purified.output.numpy()
        metrics[f"{name}_mse"] = round(float((purified.output - clips).pow(2).mean()), 5)
    return metrics, outputs
