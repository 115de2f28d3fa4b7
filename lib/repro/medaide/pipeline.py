"""MedAide's five steps; each notebook calls one. ``python -m repro step medaide <step> --profile cpu``
runs one outside Jupyter."""

from __future__ import annotations

import numpy as np
from datasets import DatasetDict

from repro.core.claims import claims_document
from repro.core.runtime import make_accelerator
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget
from repro.core.weights import save_weights
from repro.medaide import artifacts as files
from repro.medaide import figures as draw
from repro.medaide.claims import CANNOT_SHOW, CLAIMS, GATES
from repro.medaide.config import MedaideConfig
from repro.medaide.data import benchmark_splits, query_rows, read_benchmarks, to_dataset
from repro.medaide.evaluate import (
    Ledger,
    by_intent_count,
    chance_f1,
    effect_by_mention,
    ledger_with_fitting,
    results_table,
    score_seed,
    subset,
    validation_gates,
    write_traces,
)
from repro.medaide.kb import INTENTS
from repro.medaide.method import Resources
from repro.medaide.models import Embedder, MiniLMEncoder, class_means
from repro.medaide.queries import make_split
from repro.medaide.training import fit_recognisers, save_sample, train_small_encoder

pipe = Pipeline("medaide")
INTENT_METRICS = ("intent_f1", "exact_match", "intent_f1_sweep", "intent_f1_composite")  # what real files can score
KB_FIELDS = ("n_diseases", "cases_per_disease", "data_seed")


def _kb(cfg: MedaideConfig):
    return files.load_kb(cfg.n_diseases, cfg.cases_per_disease, cfg.data_seed)


def shared_resources(cfg: MedaideConfig, model_dir) -> Resources:
    """What every arm shares (:func:`repro.medaide.artifacts.load_resources`) with the profile's values."""
    return files.load_resources(
        _kb(cfg),
        model_dir,
        make_accelerator(cfg).device,
        encoder=cfg.encoder.kind,
        small_dim=cfg.encoder.small_dim,
        encode_batch=cfg.encode_batch,
        max_passes=cfg.max_passes,
        max_subqueries=cfg.max_subqueries,
        hybrid_weight=cfg.hybrid_weight,
        case_tau=cfg.case_tau,
        top_k=cfg.top_k,
        backend=cfg.backend,
    )


@pipe.step(
    uses=(
        *KB_FIELDS,
        "data_source",
        "seeds",
        "n_train",
        "n_val",
        "n_test",
        "n_control",
        "n_sweep",
        "max_intents",
        "noise",
        "noise_sweep",
    )
)
def data(cfg: MedaideConfig, ctx: StepContext) -> dict:
    """The KB, and per seed: train/val (templates and lexicon A), test and the noise sweep (held-out
    family B), and the single-intent control split (family B, the test's noise). With
    ``data_source="benchmarks"``: per seed, splits drawn from the manifest's files (the sweep is the
    test split as read, the control its single-intent queries)."""
    kb = _kb(cfg)
    write_json(
        ctx.dir / files.KB_FILE, {"diseases": [d.__dict__ for d in kb.diseases], "facts": kb.facts, "cases": kb.cases}
    )
    real = read_benchmarks() if cfg.data_source == "benchmarks" else None
    unclaused = 0
    for seed in cfg.seeds:
        if real is not None:
            splits = benchmark_splits(real, cfg.n_train, cfg.n_val, cfg.n_test, seed)
            splits[files.sweep_name(cfg.noise_sweep[0])] = splits["test"]
            unclaused += sum(not q.get("clauses") for q in splits["train"])
        else:
            splits = {name: query_rows(q) for name, q in procedural_splits(cfg, kb, seed).items()}
        files.save_splits(DatasetDict({k: to_dataset(q) for k, q in splits.items()}), ctx.dir, seed)
    test = files.load_split(ctx.dir, cfg.seeds[0], "test")
    return {
        "source": cfg.data_source,
        "intents": len(INTENTS),
        "diseases": len(kb.diseases),
        "facts": len(kb.facts),
        "cases": len(kb.cases),
        "queries_per_seed": {s: len(splits[s]) for s in files.SPLITS},
        "composite_share_test": round(float(np.mean([len(q["intents"]) > 1 for q in test])), 3),
    } | ({"unclaused_training_queries": unclaused} if real is not None else {})


def procedural_splits(cfg: MedaideConfig, kb, seed: int) -> dict:
    """One seed's generated splits (``Query`` lists)."""
    base = 1000 * seed
    splits = {
        "train": make_split(kb, cfg.n_train, "A", cfg.noise, base + 1, cfg.max_intents),
        "val": make_split(kb, cfg.n_val, "A", cfg.noise, base + 2, cfg.max_intents),
        "test": make_split(kb, cfg.n_test, "B", cfg.noise, base + 3, cfg.max_intents),
        # single-intent queries at the test's noise: decomposition can still split a noisy query wrongly
        "control": make_split(kb, cfg.n_control, "B", cfg.noise, base + 4, max_intents=1),
    }
    return splits | {
        files.sweep_name(p): make_split(kb, cfg.n_sweep, "B", p, base + 5, cfg.max_intents) for p in cfg.noise_sweep
    }


@pipe.step(
    uses=(
        *KB_FIELDS,
        "encoder",
        "temperature",
        "batch_size",
        "proto_lr",
        "encode_batch",
        "device",
        "mixed_precision",
    ),
    upstream=("data",),
)
def model(cfg: MedaideConfig, ctx: StepContext) -> dict:
    """The encoder (MiniLM loaded and verified, or the small encoder trained on the KB), the KB's
    embeddings for the three indices, and the initial prototypes (class means of seed 0's clauses)."""
    kb = _kb(cfg)
    accelerator = make_accelerator(cfg)
    summary = {"encoder": cfg.encoder.kind}
    if cfg.encoder.kind == "small":
        encoder, fitted = train_small_encoder(
            kb,
            accelerator,
            dim=cfg.encoder.small_dim,
            temperature=cfg.temperature,
            epochs=cfg.encoder.small_epochs,
            batch_size=cfg.batch_size,
            lr=cfg.proto_lr,
            seed=cfg.data_seed,
        )
        save_weights(encoder, ctx.dir / files.SMALL_ENCODER, {"dim": cfg.encoder.small_dim})
        summary |= {"losses": [round(v, 4) for v in fitted.losses], "budget": fitted.budget.to_dict()}
    else:
        encoder = MiniLMEncoder()
    embed = Embedder(encoder.to(accelerator.device), cfg.encode_batch, str(accelerator.device))
    np.savez(ctx.dir / files.KB_EMBEDDINGS, **{name: embed(texts) for name, texts in files.kb_texts(kb).items()})
    train = files.load_split(ctx.upstream["data"], cfg.seeds[0], "train")
    clauses = [c for q in train for c in q["clauses"]]
    labels = np.array([INTENTS.index(i) for q in train for i in q["clause_intents"]])
    means = class_means(embed(clauses), labels, len(INTENTS)).numpy()
    np.save(ctx.dir / files.CLASS_MEANS, means)
    embed.save(ctx.dir / files.EMBEDDING_CACHE)
    summary |= {
        "params": sum(p.numel() for p in encoder.parameters()),
        "dim": int(means.shape[1]),
        "indexed": {k: len(v) for k, v in files.kb_texts(kb).items()},
    }
    return summary


@pipe.step(
    uses=(
        "seeds",
        "temperature",
        "proto_epochs",
        "proto_lr",
        "batch_size",
        "threshold_grid",
        "keyword_k_grid",
        "max_passes",
        "max_subqueries",
        "hybrid_weight",
        "encode_batch",
        "backend",
    ),
    upstream=("data", "model"),
)
def train(cfg: MedaideConfig, ctx: StepContext) -> dict:
    """Per seed: prototypes fitted with CE (rewritten and raw clauses), threshold calibrated on
    validation; the keyword baseline's keywords and k from the same data."""
    res = shared_resources(cfg, ctx.upstream["model"])
    accelerator = make_accelerator(cfg)
    calibration, budgets = {}, {}
    for seed in cfg.seeds:
        splits = files.load_splits(ctx.upstream["data"], seed)
        _, params, curves, fitted = fit_recognisers(
            res,
            splits["train"],
            splits["val"],
            seed,
            accelerator,
            temperature=cfg.temperature,
            epochs=cfg.proto_epochs,
            batch_size=cfg.batch_size,
            lr=cfg.proto_lr,
            threshold_grid=cfg.threshold_grid,
            keyword_k_grid=cfg.keyword_k_grid,
        )
        np.savez(
            files.prototypes_file(ctx.dir, seed),
            prototype=params["prototype"]["prototypes"],
            raw=params["raw"]["prototypes"],
        )
        if seed == cfg.seeds[0]:
            save_sample(files.sample_file(ctx.dir, seed), res, splits["train"], params["prototype"]["prototypes"])
        calibration[seed] = {
            "threshold": params["prototype"]["threshold"],
            "threshold_raw": params["raw"]["threshold"],
            "threshold_whole": params["whole"]["threshold"],
            "threshold_whole_single": params["whole_single"]["threshold"],
            "threshold_norules": params["norules"]["threshold"],
            "keyword_k": params["keyword"]["k"],
            "keywords": params["keyword"]["keywords"],
            "fallback": params["keyword"]["fallback"],
            "val_f1": {k: {str(g): round(v, 2) for g, v in c.items()} for k, c in curves.items()},
        }
        for name, b in fitted.items():
            budgets[name] = budgets.get(name, Budget()).merge(b)
        cal = calibration[seed]
        ctx.log(
            f"seed {seed}: threshold {cal['threshold']}, whole query {cal['threshold_whole']}, "
            f"raw {cal['threshold_raw']}, keyword k {cal['keyword_k']}"
        )
    write_json(ctx.dir / files.CALIBRATION, calibration)
    write_json(ctx.dir / files.FIT_BUDGET, {k: b.to_dict() for k, b in budgets.items()})
    return {"seeds": len(cfg.seeds), "prototype_shape": [len(INTENTS), res.embed.encoder.dim]}


@pipe.step(
    uses=(
        "data_source",
        "seeds",
        "temperature",
        "noise_sweep",
        "max_passes",
        "max_subqueries",
        "hybrid_weight",
        "case_tau",
        "top_k",
        "backend",
        "encode_batch",
    ),
    upstream=("data", "model", "train"),
)
def evaluate(cfg: MedaideConfig, ctx: StepContext) -> dict:
    """Every arm on every seed's test, sweep and control splits; the gates on validation; the claims
    by the kit's verdict rule (paired interval over seeds and queries)."""
    res = shared_resources(cfg, ctx.upstream["model"])
    ledger = Ledger(res)
    per_seed, per_benchmark, curves, chance, mentions, counts, gates = [], [], [], [], [], [], []
    for seed in cfg.seeds:
        splits = files.load_splits(ctx.upstream["data"], seed)
        sweep = files.load_sweep(ctx.upstream["data"], seed, cfg.noise_sweep)
        recognisers = files.load_recognisers(ctx.upstream["train"], seed, cfg.temperature)
        scores, pb, curve, traces = score_seed(res, recognisers, splits, sweep, ledger)
        gates.append(validation_gates(res, recognisers, splits["val"]))
        per_seed.append(scores), per_benchmark.append(pb), curves.append(curve)
        mentions.append([q.get("mention", "name") for q in splits["test"]])
        counts.append([len(q["intents"]) for q in splits["test"]])
        chance.append(chance_f1(splits["train"], splits["test"], seed).mean())
        if seed == cfg.seeds[0]:
            write_traces(ctx.dir / files.TRACES, splits["test"], traces, res.kb)
            write_json(
                ctx.dir / files.PREDICTIONS,
                {arm: [a.intents for a in answers] for arm, answers in traces.items()},
            )
    scores = {m: {a: np.stack([s[m][a] for s in per_seed]) for a in per_seed[0][m]} for m in per_seed[0]}
    # C2 on composite queries only, C3e on queries that do not name their disease by acronym
    composite = [np.array(c) > 1 for c in counts]
    for metric in ("rougeL", "bleu1", "intent_f1"):
        scores[f"{metric}_composite"] = subset(scores[metric], composite)
    scores["rougeL_no_acronym"] = subset(scores["rougeL"], [np.array(m) != "acronym" for m in mentions])
    if cfg.data_source == "benchmarks":  # answers come from the kit's KB, not the files': intents only
        scores = {m: v for m, v in scores.items() if m in INTENT_METRICS}
    save_scores(ctx.dir / files.SCORES, scores)
    write_json(
        ctx.dir / files.SWEEP,
        {
            "noise": list(cfg.noise_sweep),
            "intent_f1": {a: np.mean([c[a] for c in curves], 0).tolist() for a in curves[0]},
        },
    )
    by_mention = {
        arm: effect_by_mention(scores["rougeL"], "medaide", arm, mentions)
        for arm in ("no_rewrite", "no_rules")
        if "rougeL" in scores
    }
    write_json(ctx.dir / files.C3A_BY_MENTION, by_mention)
    c2_by_count = {
        m: by_intent_count(scores[m], counts, ("medaide", "single_agent"))
        for m in ("rougeL", "intent_f1")
        if m in scores
    }
    budget = ledger_with_fitting(ledger.budgets, read_json(ctx.upstream["train"] / files.FIT_BUDGET))
    doc = claims_document(
        paper="medaide",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "backend": "extractive" if cfg.backend == "extractive" else cfg.backend,
            "encoder": cfg.encoder.kind,
            "c2_by_intent_count": c2_by_count,
            "c3_by_mention": by_mention,
            "thresholds": {
                seed: {k: v for k, v in cal.items() if k.startswith("threshold") or k == "keyword_k"}
                for seed, cal in read_json(ctx.upstream["train"] / files.CALIBRATION).items()
            },
        },
        claims=measured_claims(CLAIMS, scores),  # with real files: the intent claims only
        scores=scores,
        table=results_table(scores, per_benchmark, float(np.mean(chance))),
        budget=budget,
        cannot_show=CANNOT_SHOW,
        gates=GATES,
        gate_values={name: [round(g[name], 3) for g in gates] for name in gates[0] if np.isfinite(gates[0][name])},
    )
    write_json(ctx.dir / files.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]} | {
        "c3_acronym_share": {arm: v["share"] for arm, v in by_mention.items()}
    }


@pipe.step(uses=("seeds", "noise_sweep", "temperature"), upstream=("data", "model", "train", "evaluate"))
def figures(cfg: MedaideConfig, ctx: StepContext) -> dict:
    """Intent confusion, prototype map, ablation bars, noise sweep, an annotated end-to-end trace."""
    written = draw.all_figures(cfg.seeds[0], ctx.upstream, ctx.dir)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
