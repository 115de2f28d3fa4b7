"""MMSA's metrics, per-example scores for the claims, the selector's accuracy and the trivial probe.
Introduced in ``notebooks/mods/04_evaluate.ipynb``.

``mmsa_metrics`` computes what MMSA's ``metricsTop`` reports for MOSI/MOSEI regression:
Acc-2 "has0" (pred >= 0 vs truth >= 0) and "non0" (utterances labelled exactly 0 dropped; pred > 0
vs truth > 0), each with scikit-learn's weighted F1; Acc-7 and Acc-5 (clip to [-3, 3] / [-2, 2],
round, compare); MAE; Pearson correlation. Accuracies here are in points (MMSA reports fractions).

Claims need per-example scores of shape (n_seeds, n_examples): absolute error (``mae``), 0/100 for
Acc-7 (``acc7``), Acc-2 has0 (``acc2``), and the selector's hit on the known dominant modality
(``selector``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

CHANCE_SELECTOR = 100 / 3
MODALITY_NAMES = ("text", "audio", "vision")  # index = the dominant-modality code


def mmsa_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MMSA's MOSI/MOSEI regression metrics (accuracies and F1 in points)."""
    pred, truth = np.asarray(pred, np.float64).reshape(-1), np.asarray(truth, np.float64).reshape(-1)
    non0 = truth != 0
    has0_t, has0_p = truth >= 0, pred >= 0
    non0_t, non0_p = truth[non0] > 0, pred[non0] > 0
    return {
        "Has0_acc_2": 100 * accuracy_score(has0_t, has0_p),
        "Has0_F1_score": 100 * f1_score(has0_t, has0_p, average="weighted"),
        "Non0_acc_2": 100 * accuracy_score(non0_t, non0_p),
        "Non0_F1_score": 100 * f1_score(non0_t, non0_p, average="weighted"),
        "Mult_acc_5": 100 * multiclass_acc(np.clip(pred, -2, 2), np.clip(truth, -2, 2)),
        "Mult_acc_7": 100 * multiclass_acc(np.clip(pred, -3, 3), np.clip(truth, -3, 3)),
        "MAE": float(np.abs(pred - truth).mean()),
        "Corr": float(np.corrcoef(pred, truth)[0, 1]) if pred.std() > 0 and truth.std() > 0 else 0.0,
    }


def multiclass_acc(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.round(pred) == np.round(truth)))


def example_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-utterance scores whose means are MAE, Acc-7 and Acc-2 (has0)."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    return {
        "mae": np.abs(pred - truth),
        "acc7": 100.0 * (np.round(np.clip(pred, -3, 3)) == np.round(np.clip(truth, -3, 3))),
        "acc2": 100.0 * ((pred >= 0) == (truth >= 0)),
    }


def selector_hits(primary: np.ndarray, dominant: np.ndarray) -> np.ndarray:
    """0/100 per utterance: the selected primary modality is the true dominant one."""
    return 100.0 * (np.asarray(primary) == np.asarray(dominant))


# ----------------------------------------------------------------------------------------------
# the trivial probe (an honesty guard, docs/papers/mods.md)


def trivial_features(data: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per modality: mean frame norm, variance over valid frames, valid length (N, 9)."""
    feats = []
    for name in ("text", "audio", "vision"):
        x, mask = np.asarray(data[name], np.float64), np.asarray(data[f"{name}_mask"], bool)
        count = mask.sum(1).clip(1)
        norms = (np.linalg.norm(x, axis=-1) * mask).sum(1) / count
        mean = (x * mask[..., None]).sum(1) / count[:, None]
        var = (((x - mean[:, None]) ** 2).sum(-1) * mask).sum(1) / count
        feats += [norms, var, count.astype(np.float64)]
    return np.stack(feats, 1)


def trivial_probe(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray]) -> np.ndarray:
    """0/100 per test utterance: a logistic regression on the energy statistics above, trained to
    predict the dominant modality. Near chance means dominance is not readable from energy."""
    x_tr, x_te = trivial_features(train), trivial_features(test)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-9
    probe = LogisticRegression(max_iter=1000).fit((x_tr - mu) / sd, np.asarray(train["dominant"]))
    return selector_hits(probe.predict((x_te - mu) / sd), test["dominant"])


def pooled_features(data: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per modality, the mean of its valid frames' features, concatenated (N, d_text + d_audio + d_vision):
    what a linear read-out of each modality's pooled content can see."""
    feats = []
    for name in ("text", "audio", "vision"):
        x, mask = np.asarray(data[name], np.float64), np.asarray(data[f"{name}_mask"], bool)
        feats.append((x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True).clip(1))
    return np.concatenate(feats, 1)


def linear_probe(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray]) -> np.ndarray:
    """0/100 per test utterance: a logistic regression on :func:`pooled_features`, trained on the
    training set's known dominant modality. Unlike :func:`trivial_probe` it can find the generator's
    cue direction if the cue survives mean pooling: a selector that does not beat it has learned no
    more than a linear read-out of pooled features."""
    x_tr, x_te = pooled_features(train), pooled_features(test)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-9
    probe = LogisticRegression(max_iter=2000).fit((x_tr - mu) / sd, np.asarray(train["dominant"]))
    return selector_hits(probe.predict((x_te - mu) / sd), test["dominant"])


def trivial_scores(
    train_labels: np.ndarray, test: Mapping[str, np.ndarray], sweep_labels: list[np.ndarray], n_seeds: int
) -> dict[str, dict[str, np.ndarray]]:
    """The trivial references as arms, metric -> name -> (n_seeds, n_examples) on the test utterances:
    the training labels' mean and median for every utterance (``mae``, ``acc7``, ``acc2`` and, over the
    noise sweep's labels, ``mae_sweep``), and each constant modality choice for ``selector`` where the
    dominant modality is known."""
    truth = np.asarray(test["label"], np.float64)
    constants = {"mean_label": float(np.mean(train_labels)), "median_label": float(np.median(train_labels))}
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, value in constants.items():
        for metric, values in example_scores(np.full_like(truth, value), truth).items():
            out.setdefault(metric, {})[name] = np.tile(values, (n_seeds, 1))
        if sweep_labels:
            errors = np.mean([np.abs(value - np.asarray(y, np.float64)) for y in sweep_labels], axis=0)
            out.setdefault("mae_sweep", {})[name] = np.tile(errors, (n_seeds, 1))
    dominant = np.asarray(test["dominant"])
    if (dominant >= 0).all():
        for code, modality in enumerate(MODALITY_NAMES):
            out.setdefault("selector", {})[f"always_{modality}"] = np.tile(selector_hits(code, dominant), (n_seeds, 1))
    return out


def gate_values(gates, claims, gap: Mapping[str, list[float]]) -> dict[str, list[float]]:
    """Each gate's value per seed: the smallest validation-MAE gap (constant predictor minus model,
    ``gap[arm]`` per seed) among the trained arms of the claims it covers."""
    values = {}
    for gate in gates:
        arms = sorted({arm for c in claims if c.id in gate.covers for arm in c.arms} & set(gap))
        if arms:
            values[gate.name] = np.min([gap[arm] for arm in arms], axis=0).tolist()
    return values


def results_table(per_seed: Mapping[str, list[dict[str, float]]], extra: Mapping[str, dict[str, float]]) -> list[dict]:
    """Rows: each arm's MMSA metrics, mean (and sd over seeds), then extra rows (chance, probe)."""
    rows = []
    for arm, runs in per_seed.items():
        row: dict = {"method": arm}
        for key in runs[0]:
            values = np.array([r[key] for r in runs], np.float64)
            row[key] = round(float(values.mean()), 4)
            if len(values) > 1:
                row[f"{key}_sd"] = round(float(values.std(ddof=1)), 4)
        rows.append(row)
    rows += [{"method": name, **values} for name, values in extra.items()]
    return rows
