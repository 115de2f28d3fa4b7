"""Every arm over the test, sweep and control splits, as per-query scores for the claims.
Introduced in ``notebooks/medaide/04_evaluate.ipynb``.

Scores have shape ``(n_seeds, n_queries)`` per metric and arm, on the same queries for every arm
(paired). Intent metrics exist for the arms that recognise intents differently (the single agent recognises
the whole query's intents with MedAide's prototypes).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from repro.core.train import Budget
from repro.medaide.kb import BENCHMARKS, INTENTS
from repro.medaide.method import (
    ARMS,
    INTENT_ARMS,
    answer_batch,
    arm_subqueries,
    query_intents,
    recognise,
    recogniser_of,
)
from repro.medaide.metrics import answer_scores, exact_match, fact_recall, intent_f1, split_f1

ANSWER_METRICS = ("bleu1", "bleu2", "rouge1", "rouge2", "rougeL", "gleu", "fact_recall")


class Ledger:
    """Per-arm budget: encoder requests, retrieval queries, backend calls (forward counts) and wall time."""

    def __init__(self, res):
        self.res, self.budgets = res, {}

    def measure(self, arm: str, fn, *args):
        r = self.res
        before = (r.embed.requests, r.facts.queries + r.cases.queries + r.profiles.queries, r.backend.calls)
        started = time.perf_counter()
        out = fn(*args)
        after = (r.embed.requests, r.facts.queries + r.cases.queries + r.profiles.queries, r.backend.calls)
        spent = Budget(
            0,
            {k: b - a for k, a, b in zip(("encoder", "retrieval", "backend"), before, after)},
            time.perf_counter() - started,
        )
        self.budgets[arm] = self.budgets.get(arm, Budget()).merge(spent)
        return out


def score_seed(res, recognisers, splits: dict[str, list[dict]], sweep: dict[float, list[dict]], ledger: Ledger):
    """All metrics of one seed: ``{metric: {arm: (n_queries,)}}``, per-benchmark F1 and the traces."""
    test, control = splits["test"], splits["control"]
    gold = [q["intents"] for q in test]
    out: dict[str, dict[str, np.ndarray]] = {}
    per_benchmark, traces = {}, {}
    for arm in ARMS:
        answers = ledger.measure(arm, answer_batch, res, [q["query"] for q in test], arm, recognisers)
        traces[arm] = answers
        metrics = answer_scores([a.text for a in answers], [q["reference"] for q in test])
        metrics["fact_recall"] = fact_recall([a.facts for a in answers], [tuple(q["gold_facts"]) for q in test])
        if arm in INTENT_ARMS:
            pred = [a.intents for a in answers]
            metrics["intent_f1"], metrics["exact_match"] = intent_f1(gold, pred), exact_match(gold, pred)
            per_benchmark[arm] = {
                b: split_f1(
                    [g for g, q in zip(gold, test) if q["benchmark"] == b],
                    [p for p, q in zip(pred, test) if q["benchmark"] == b],
                )
                for b in BENCHMARKS
            } | {"all": split_f1(gold, pred)}
        for k, v in metrics.items():
            out.setdefault(k, {})[arm] = v
    # the single agent answers single-intent queries here: its threshold is the one calibrated on them
    on_control = recognisers | {"whole": recognisers["whole_single"]}
    for arm in ("medaide", "single_agent"):
        answers = ledger.measure(arm, answer_batch, res, [q["query"] for q in control], arm, on_control)
        out.setdefault("rougeL_control", {})[arm] = answer_scores(
            [a.text for a in answers], [q["reference"] for q in control]
        )["rougeL"]
    curves = {}
    for arm in INTENT_ARMS:
        spec = ARMS[arm]
        recogniser = recogniser_of(spec, recognisers)
        levels = []
        for queries in sweep.values():
            subs, *_ = ledger.measure(arm, arm_subqueries, res, [q["query"] for q in queries], spec, False)
            pred = [query_intents(s) for s in ledger.measure(arm, recognise, res, subs, recogniser)]
            levels.append(intent_f1([q["intents"] for q in queries], pred))
        out.setdefault("intent_f1_sweep", {})[arm] = np.mean(levels, axis=0)
        curves[arm] = [float(v.mean()) for v in levels]
    return out, per_benchmark, curves, traces


def validation_gates(res, recognisers, val: list[dict]) -> dict[str, float]:
    """The gates of ``repro.medaide.claims.GATES`` for one seed, on its validation split: MedAide's
    intent F1 over the prior intent's (points), and the share of asked KB facts its answers hold."""
    texts, gold = [q["query"] for q in val], [q["intents"] for q in val]
    ours = answer_batch(res, texts, "medaide", recognisers)
    prior = [[recognisers["prior"].intents[0]] for _ in val]
    return {
        "intents_above_prior": float(intent_f1(gold, [a.intents for a in ours]).mean() - intent_f1(gold, prior).mean()),
        "answers_find_facts": float(fact_recall([a.facts for a in ours], [tuple(q["gold_facts"]) for q in val]).mean()),
    }


def subset(metric: dict[str, np.ndarray], masks: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Each arm's ``(seeds, queries)`` scores on the queries ``masks[seed]`` selects, the first ``n`` of
    each seed with ``n`` the smallest count over seeds (seeds draw their own queries, so their counts
    differ; every seed keeps as many units)."""
    n = min(int(m.sum()) for m in masks)
    return {arm: np.stack([v[s][masks[s]][:n] for s in range(len(v))]) for arm, v in metric.items()}


def by_intent_count(metric: dict[str, np.ndarray], counts: list[list[int]], arms: tuple[str, str]) -> dict:
    """Per number of gold intents: queries, each arm's mean and the gap ``arms[0] - arms[1]``."""
    counts_ = np.array(counts)
    out = {}
    for k in sorted(set(counts_.ravel().tolist())):
        mask = counts_ == k
        means = {arm: round(float(metric[arm][mask].mean()), 2) for arm in arms}
        out[str(k)] = {"queries": int(mask.sum()), **means, "gap": round(means[arms[0]] - means[arms[1]], 2)}
    return out


def chance_f1(train: list[dict], test: list[dict], seed: int) -> np.ndarray:
    """A recogniser that draws each intent independently at its training frequency."""
    rng = np.random.default_rng(seed)
    prior = np.mean([[i in q["intents"] for i in INTENTS] for q in train], axis=0)
    pred = [[i for i, p in zip(INTENTS, prior) if rng.random() < p] for _ in test]
    return intent_f1([q["intents"] for q in test], pred)


def results_table(scores, per_benchmark: list[dict], chance: float) -> list[dict]:
    """Rows: chance, then each arm: mean (and seed sd) per metric; intent micro/macro F1 and per-benchmark
    micro F1 (seed means)."""
    rows = [{"method": "chance (intent prior)", "intent_f1": round(chance, 2)}]
    for arm in ARMS:
        row: dict = {"method": f"{arm} (extractive)"}
        for metric in ("intent_f1", "exact_match", *ANSWER_METRICS, "rougeL_control", "intent_f1_sweep"):
            if arm in scores.get(metric, {}):
                per_seed = scores[metric][arm].mean(axis=1)
                row[metric] = round(float(per_seed.mean()), 2)
                if len(per_seed) > 1:
                    row[f"{metric}_sd"] = round(float(per_seed.std(ddof=1)), 2)
        if arm in per_benchmark[0]:
            for b in (*BENCHMARKS, "all"):
                for avg in ("micro", "macro") if b == "all" else ("micro",):
                    name = f"f1_{avg}" if b == "all" else f"f1_{b}"
                    row[name] = round(float(np.mean([pb[arm][b][avg] for pb in per_benchmark])), 2)
        rows.append(row)
    return rows


def ledger_with_fitting(evaluation: dict[str, Budget], fitting: dict[str, dict]) -> dict[str, dict]:
    """Evaluation cost per arm plus the prototype fitting it relies on (optimizer steps, forwards)."""
    uses = {
        "medaide": "prototype",
        "no_decision": "prototype",
        "single_agent": "prototype",
        "no_rewrite": "raw",
        "no_rules": "raw",
    }
    out = {}
    for arm in ARMS:
        row = evaluation[arm].to_dict()
        fit = fitting.get(uses.get(arm, ""), {})
        row["optimizer_steps"] = fit.get("optimizer_steps", 0)
        row["forward_samples"] = row["forward_samples"] | {
            f"fit_{k}": v for k, v in fit.get("forward_samples", {}).items()
        }
        out[arm] = row
    return out


def write_traces(path: Path, queries: list[dict], traces: dict, kb) -> None:
    """The first queries' end-to-end traces per arm (for the annotated trace figure)."""
    rows = []
    for q in queries[:: max(1, len(queries) // 8)][:8]:
        idx = queries.index(q)
        rows.append(
            {
                "query": q["query"],
                "gold": q["intents"],
                "reference": q["reference"],
                "arms": {
                    arm: {
                        "subqueries": a[idx].subqueries,
                        "intents": a[idx].intents,
                        "answer": a[idx].text,
                        "key_disease": kb.diseases[a[idx].key_disease].name if a[idx].key_disease is not None else None,
                        "tasks": [(t.subquery, t.intent, t.agent) for t in a[idx].tasks],
                    }
                    for arm, a in traces.items()
                },
            }
        )
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def effect_by_mention(metric: dict[str, np.ndarray], a: str, b: str, mentions: list[list[str]]) -> dict:
    """The per-query effect ``a - b`` split by how the query names its disease (name, acronym, drug,
    symptoms), and the share of the total effect that acronym queries carry. The acronym rule builds
    initials exactly as the generator does, so that share is the part of C3a decided by construction."""
    delta = metric[a] - metric[b]
    kinds = np.array(mentions)
    out: dict = {"effect_all": round(float(delta.mean()), 2), "by_mention": {}}
    for kind in sorted(set(kinds.ravel())):
        mask = kinds == kind
        out["by_mention"][kind] = {"queries": int(mask.sum()), "effect": round(float(delta[mask].mean()), 2)}
    total = float(delta.sum())
    out["acronym_queries"] = round(float((kinds == "acronym").mean()), 3)
    out["share"] = round(float(delta[kinds == "acronym"].sum()) / total, 3) if total else None
    out["effect_without_acronym_queries"] = round(float(delta[kinds != "acronym"].mean()), 2)
    return out
