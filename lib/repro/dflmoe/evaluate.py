"""Scores, the results table and the budget ledger from the train step's runs.
Introduced in ``notebooks/dflmoe/04_evaluate.ipynb``.

The paper's metric is the mean of per-client test accuracies. Each seed draws its own partition
(:func:`repro.dflmoe.runs.partition_seed`), so the claims' units are (seed, client) accuracies
(:func:`scores`); :func:`client_weighted_points` gives per-example scores whose mean is the same
number when one partition is scored.

Breast cancer: with ~14 test samples per client, some clients' test sets can hold one class, where a
per-client AUC is undefined; the table reports the AUC of the *pooled* predictions of all clients
(per seed, each seed's predictions against that seed's own labels, then averaged), and the claim on
it uses accuracy (per-example scores).

The gates (:func:`gate_values`) read each client's *validation* set (cut from its training share,
:mod:`repro.dflmoe.data`), never the test set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from repro.dflmoe.data import Task


def client_weighted_points(correct: Sequence[np.ndarray]) -> np.ndarray:
    """(N,) per-example scores whose mean is the mean per-client accuracy in points."""
    n_total, n_clients = sum(len(c) for c in correct), len(correct)
    return np.concatenate([100.0 * np.asarray(c) * n_total / (n_clients * len(c)) for c in correct])


def pooled_auc(prob_pos: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> float:
    """ROC AUC of all clients' predictions pooled (defined whenever the pool holds both classes)."""
    from sklearn.metrics import roc_auc_score

    y = np.concatenate(labels)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, np.concatenate(prob_pos)))


def scores(runs: Mapping[str, Mapping[str, list[dict]]]) -> dict[str, dict[str, np.ndarray]]:
    """metric -> arm -> (n_seeds, n_clients): each client's test accuracy in points.

    Every seed draws its own partition, so test examples are not shared across seeds (their number
    even varies); the clients are, in number, and the mean over them is the paper's metric. The
    claims rule then rests on the per-seed paired differences, which carry the partition's variance."""
    return {
        metric: {
            arm: np.stack([np.asarray(r["client_acc"], dtype=float) for r in per_seed])
            for arm, per_seed in arms.items()
        }
        for metric, arms in runs.items()
    }


def prior_scores(tasks_per_seed: Sequence[Mapping[str, Task]]) -> dict[str, np.ndarray]:
    """metric -> (n_seeds, n_clients): the trivial reference that answers every test example of a
    client with that client's most frequent training class (under strong label skew it is no
    small number)."""
    out: dict[str, list] = {}
    for tasks in tasks_per_seed:
        for name, task in tasks.items():
            acc = [100.0 * np.mean(c["y_test"] == np.bincount(c["y_train"]).argmax()) for c in task.clients]
            out.setdefault(name, []).append(acc)
    return {name: np.array(v, dtype=float) for name, v in out.items()}


def results_table(
    runs: Mapping[str, Mapping[str, list[dict]]], prior: Mapping[str, np.ndarray] | None = None
) -> list[dict]:
    """One row per (partition, arm): mean client accuracy and its seed sd, the worst client, the spread
    over clients, bytes per round, and the pooled AUC on binary tasks (each run against the labels it
    was scored on: every seed draws its own partition). A chance row per partition, and the
    ``prior`` trivial reference's row where given."""
    rows = []
    for metric, arms in runs.items():
        first = next(iter(arms.values()))[0]
        n_classes = len(np.unique(np.concatenate(first["labels"])))
        rows.append({"partition": metric, "method": "chance", "mean_acc": round(100 / n_classes, 2)})
        for arm, per_seed in arms.items():
            acc = np.array([r["client_acc"] for r in per_seed])  # (seeds, clients)
            row = {
                "partition": metric,
                "method": arm,
                "mean_acc": round(float(acc.mean()), 2),
                "mean_acc_sd": round(float(acc.mean(1).std(ddof=1)), 2) if len(acc) > 1 else None,
                "worst_client": round(float(acc.min(1).mean()), 2),
                "client_spread": round(float(acc.std(1).mean()), 2),
                "bytes_per_round": int(np.mean([np.mean(r["bytes_per_round"]) for r in per_seed])),
            }
            if n_classes == 2:
                aucs = [pooled_auc(r["prob_pos"], r["labels"]) for r in per_seed]
                row["pooled_auc"] = round(float(np.mean(aucs)), 4)
            rows.append({k: v for k, v in row.items() if v is not None})
        if metric in (prior or {}):
            acc = prior[metric]
            rows.append({"partition": metric, "method": "prior (trivial)", "mean_acc": round(float(acc.mean()), 2),
                         "worst_client": round(float(acc.min(1).mean()), 2)})  # fmt: skip
    return rows


def val_mean(runs: Mapping[str, Mapping[str, list[dict]]], metric: str, arm: str) -> np.ndarray:
    """(n_seeds,) mean client accuracy on the validation sets, in points."""
    return np.array([np.mean(r["val_acc"]) for r in runs[metric][arm]])


def gate_values(runs: Mapping[str, Mapping[str, list[dict]]], main: str) -> dict[str, list[float]]:
    """Every gate of :data:`repro.dflmoe.claims.GATES` that this run's matrix measures, per seed, on
    validation data: local training above chance on each partition, and the peers' help (dFLMoE
    minus its isolated self) on the main partition."""
    from repro.dflmoe.claims import ISOLATED_ARM, LEARNS

    out = {}
    for gate, metric in LEARNS.items():
        if metric in runs and "local" in runs[metric]:
            out[gate] = val_mean(runs, metric, "local").tolist()
    if main in runs and {"dflmoe", ISOLATED_ARM} <= set(runs[main]):
        out["peers_help"] = (val_mean(runs, main, "dflmoe") - val_mean(runs, main, ISOLATED_ARM)).tolist()
    return out


def budget_ledger(runs: Mapping[str, Mapping[str, list[dict]]]) -> dict[str, dict]:
    """Per arm, summed over seeds: optimizer steps (one per client per batch), samples through bodies
    and heads, rounds x local epochs, and wall time. Baselines and dFLMoE see the same data the same
    number of times; dFLMoE's extra cost is its expert heads (the ``heads`` column)."""
    ledger = {}
    for metric, arms in runs.items():
        for arm, per_seed in arms.items():
            steps = sum(r["budget"]["optimizer_steps"] for r in per_seed)
            forwards: dict[str, int] = {}
            for r in per_seed:
                for k, v in r["budget"]["forward_samples"].items():
                    forwards[k] = forwards.get(k, 0) + v
            ledger[f"{metric}|{arm}"] = {
                "optimizer_steps": steps,
                "forward_samples": forwards,
                "wall_s": round(sum(r["budget"]["wall_s"] for r in per_seed), 3),
                "seeds": len(per_seed),
            }
    return ledger
