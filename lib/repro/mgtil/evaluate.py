"""The MTIL protocol's metrics (ZSCL, ICCV 2023) and the per-example scores the claims are decided on.
Introduced in ``notebooks/mgtil/04_evaluate.ipynb``.

``A[j, i]`` is the accuracy on task i after training task j (T x T, in points). Then

* **Transfer** = mean over tasks i >= 2 of ``mean_{j < i} A[j, i]`` (accuracy on a task before it
  is learned: what zero-shot ability survives);
* **Avg** = mean of all entries of A;
* **Last** = mean of the last row (after the whole stream);
* **BWT** = mean over i < T of ``A[T, i] - A[i, i]`` (negative: forgetting).

Per-example scores reproduce each metric exactly as a mean: every task has the same number of test
images, so e.g. Avg's score of an example is its correctness averaged over the T steps, and Transfer's
is its correctness averaged over the steps before its task. The claims pair arms on seeds and these
examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

METRICS = ("transfer", "avg", "last", "bwt")


def mtil_metrics(acc: np.ndarray) -> dict[str, float]:
    """Transfer / Avg / Last / BWT of one accuracy matrix ``acc`` (T x T, points)."""
    T = len(acc)
    return {
        "transfer": float(np.mean([acc[:i, i].mean() for i in range(1, T)])),
        "avg": float(acc.mean()),
        "last": float(acc[-1].mean()),
        "bwt": float(np.mean([acc[-1, i] - acc[i, i] for i in range(T - 1)])),
    }


def example_scores(correct: np.ndarray, fine: Sequence[bool]) -> dict[str, np.ndarray]:
    """``correct`` (seeds, T steps, T tasks, n) -> metric -> (seeds, examples) in points, whose mean
    over examples is the metric; ``avg_fine`` is Avg over the fine-grained and hard tasks only."""
    pts = 100.0 * np.asarray(correct, dtype=np.float64)
    seeds, T, _, n = pts.shape
    over_steps = pts.mean(axis=1)  # (seeds, T, n)
    diag = pts[:, np.arange(T), np.arange(T)]  # (seeds, T, n)
    return {
        "transfer": np.concatenate([pts[:, :i, i].mean(axis=1) for i in range(1, T)], axis=1),
        "avg": over_steps.reshape(seeds, T * n),
        "last": pts[:, -1].reshape(seeds, T * n),
        "bwt": (pts[:, -1, : T - 1] - diag[:, : T - 1]).reshape(seeds, (T - 1) * n),
        "avg_fine": over_steps[:, np.asarray(fine, bool)].reshape(seeds, -1),
    }


def results_table(scores: Mapping[str, Mapping[str, np.ndarray]], chance: float) -> list[dict]:
    """Rows: chance, then each arm's mean (and seed sd) of Transfer / Avg / Last / BWT in points."""
    rows: list[dict] = [{"method": "chance", "transfer": chance, "avg": chance, "last": chance, "bwt": 0.0}]
    for arm in scores["avg"]:
        row: dict = {"method": arm}
        for metric in METRICS:
            per_seed = scores[metric][arm].mean(axis=1)
            row[metric] = round(float(per_seed.mean()), 2)
            if len(per_seed) > 1:
                row[f"{metric}_sd"] = round(float(per_seed.std(ddof=1)), 2)
        rows.append(row)
    return rows


def prior_correct(world_table, order: Sequence[str], matrices: Mapping[str, np.ndarray], stream: str) -> np.ndarray:
    """The trivial reference (the prior class): each task's test images all given the task's most
    frequent training class, at every step and seed; shaped like the arms of ``stream``."""
    rows = []
    for task in order:
        train = np.asarray(world_table[f"{task}_train"]["label"])
        rows.append(np.asarray(world_table[f"{task}_test"]["label"]) == np.bincount(train).argmax())
    like = next(v for k, v in matrices.items() if k.endswith(f"@{stream}"))
    return np.broadcast_to(np.stack(rows)[None, None], like.shape).copy()


def reference_scores(in_domain: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """K1's units: every reference pair of every task, 100 when it comes from the task's domain;
    arm -> (seeds, T * budget)."""
    return {arm: 100.0 * v.reshape(len(v), -1) for arm, v in in_domain.items()}


def reference_summary(references: Mapping[str, list]) -> dict[str, dict[str, list[float]]]:
    """Per arm and task (seed means): the share of the reference set from the task's domain (where the
    database names domains), and the share filled at random because retrieval found too few distinct
    pairs (issue 30's confound check)."""
    out = {}
    for arm, seeds in references.items():
        if not seeds or not seeds[0] or not seeds[0][0]:
            continue
        tasks = range(len(seeds[0]))
        out[arm] = {
            "filler": [
                round(float(np.mean([s[t].get("fill", 0) / max(1, sum_pairs(s[t])) for s in seeds])), 3) for t in tasks
            ]
        }
        if "same_domain" in seeds[0][0]:
            out[arm]["same_domain"] = [round(float(np.mean([s[t]["same_domain"] for s in seeds])), 3) for t in tasks]
    return out


def sum_pairs(info: Mapping[str, float]) -> int:
    """The number of pairs a reference-set record counts (levels + fill, or the uniform sample)."""
    return int(sum(info.get(k, 0) for k in ("task", "domain", "general", "fill", "uniform")))


def gate_values(val: Mapping[str, np.ndarray], classes: Sequence[int], stream: str) -> dict[str, list[float]]:
    """The gates of ``repro.mgtil.claims.GATES`` per seed, from the validation accuracy matrices
    (``arm -> (seeds, T, T, n_val)``) of the main stream; a gate whose arm did not run is left out."""
    acc = {arm.split("@")[0]: 100 * v.mean(axis=-1) for arm, v in val.items() if arm.endswith(f"@{stream}")}
    chance = 100 * float(np.mean([1 / c for c in classes]))
    zero = acc["zeroshot"][:, 0].mean(axis=-1)  # (seeds,): the pretrained model on every task
    diag = {m: np.stack([np.diag(a) for a in v]).mean(axis=-1) for m, v in acc.items()}
    out = {"zeroshot_transfers": zero - chance}
    if "finetune" in acc:
        out["finetune_learns"] = diag["finetune"] - zero
        out["finetune_forgets"] = np.array([mtil_metrics(a)["bwt"] for a in acc["finetune"]])
    if "ours" in acc:
        out["ours_learns"] = diag["ours"] - zero
    return {k: [round(float(x), 3) for x in v] for k, v in out.items()}
