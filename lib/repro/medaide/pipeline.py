"""MedAide's five steps; each notebook calls one. ``python -m repro step medaide <step> --profile cpu``
runs one outside Jupyter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from repro.core.claims import claims_document
from repro.core.runtime import make_accelerator
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget
from repro.core.weights import load_weights, save_weights
from repro.medaide import figures as draw
from repro.medaide.agents import make_backend
from repro.medaide.claims import CANNOT_SHOW, CLAIMS
from repro.medaide.config import MedaideConfig
from repro.medaide.data import read_queries, write_queries
from repro.medaide.evaluate import Ledger, chance_f1, results_table, score_seed
from repro.medaide.kb import INTENTS, KB, build_kb
from repro.medaide.method import ARMS, PrototypeRecogniser, Resources
from repro.medaide.models import Embedder, MiniLMEncoder, SmallEncoder, class_means, minilm_dir
from repro.medaide.queries import make_split
from repro.medaide.retrieval import HybridIndex
from repro.medaide.rewrite import Rewriter, general_words
from repro.medaide.training import fit_recognisers, train_small_encoder

pipe = Pipeline("medaide")
KB_FIELDS = ("n_diseases", "cases_per_disease", "data_seed")
SPLITS = ("train", "val", "test", "control")


def kb_of(cfg: MedaideConfig) -> KB:
    return build_kb(cfg.n_diseases, cfg.cases_per_disease, cfg.data_seed)


def load_splits(data_dir: Path, seed: int) -> dict[str, list[dict]]:
    return {name: read_queries(data_dir / f"seed{seed}" / f"{name}.jsonl") for name in SPLITS}


def load_sweep(data_dir: Path, seed: int, levels) -> dict[float, list[dict]]:
    return {p: read_queries(data_dir / f"seed{seed}" / f"sweep_{p:g}.jsonl") for p in levels}


def load_encoder(cfg: MedaideConfig, model_dir: Path) -> torch.nn.Module:
    if cfg.encoder == "minilm":
        return MiniLMEncoder()
    return load_weights(SmallEncoder(dim=cfg.small_dim), model_dir / "small_encoder")


def build_resources(cfg: MedaideConfig, model_dir: Path) -> Resources:
    """The KB, its indices (embeddings from the model step), the encoder (with the model step's
    embedding cache), the rewriter and the backend."""
    kb = kb_of(cfg)
    device = make_accelerator(cfg).device
    embed = Embedder(load_encoder(cfg, model_dir).to(device), cfg.encode_batch, str(device))
    embed.load(model_dir / "embeddings.npz")
    with np.load(model_dir / "kb_embeddings.npz", allow_pickle=False) as npz:
        indices = {name: HybridIndex(texts, npz[name]) for name, texts in kb_texts(kb).items()}
    rewriter = Rewriter(
        kb.vocabulary(), kb.terms(), general_words(minilm_dir() / "vocab.txt"), cfg.max_passes, cfg.max_subqueries
    )
    return Resources(
        kb,
        indices["facts"],
        indices["cases"],
        indices["profiles"],
        embed,
        rewriter,
        make_backend(cfg.backend, str(device)),
        cfg.hybrid_weight,
        cfg.case_tau,
        cfg.top_k,
    )


def kb_texts(kb: KB) -> dict[str, list[str]]:
    return {"facts": list(kb.facts), "cases": list(kb.cases), "profiles": kb.profiles()}


@pipe.step(
    uses=(
        *KB_FIELDS,
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
    family B), and the clean single-intent control split."""
    kb = kb_of(cfg)
    write_json(
        ctx.dir / "kb.json", {"diseases": [d.__dict__ for d in kb.diseases], "facts": kb.facts, "cases": kb.cases}
    )
    for seed in cfg.seeds:
        folder = ctx.dir / f"seed{seed}"
        folder.mkdir()
        base = 1000 * seed
        splits = {
            "train": make_split(kb, cfg.n_train, "A", cfg.noise, base + 1, cfg.max_intents),
            "val": make_split(kb, cfg.n_val, "A", cfg.noise, base + 2, cfg.max_intents),
            "test": make_split(kb, cfg.n_test, "B", cfg.noise, base + 3, cfg.max_intents),
            "control": make_split(kb, cfg.n_control, "B", 0.0, base + 4, max_intents=1),
        }
        splits |= {
            f"sweep_{p:g}": make_split(kb, cfg.n_sweep, "B", p, base + 5, cfg.max_intents) for p in cfg.noise_sweep
        }
        for name, queries in splits.items():
            write_queries(queries, folder / f"{name}.jsonl")
    test = read_queries(ctx.dir / f"seed{cfg.seeds[0]}" / "test.jsonl")
    return {
        "intents": len(INTENTS),
        "diseases": len(kb.diseases),
        "facts": len(kb.facts),
        "cases": len(kb.cases),
        "queries_per_seed": {s: len(splits[s]) for s in SPLITS},
        "composite_share_test": round(float(np.mean([len(q["intents"]) > 1 for q in test])), 3),
    }


@pipe.step(
    uses=(
        *KB_FIELDS,
        "encoder",
        "small_dim",
        "small_epochs",
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
    kb = kb_of(cfg)
    accelerator = make_accelerator(cfg)
    summary = {"encoder": cfg.encoder}
    if cfg.encoder == "small":
        encoder, fitted = train_small_encoder(cfg, kb, accelerator)
        save_weights(encoder, ctx.dir / "small_encoder", {"dim": cfg.small_dim})
        summary |= {"losses": [round(v, 4) for v in fitted.losses], "budget": fitted.budget.to_dict()}
    else:
        encoder = MiniLMEncoder()
    embed = Embedder(encoder.to(accelerator.device), cfg.encode_batch, str(accelerator.device))
    np.savez(ctx.dir / "kb_embeddings.npz", **{name: embed(texts) for name, texts in kb_texts(kb).items()})
    train = read_queries(ctx.upstream["data"] / f"seed{cfg.seeds[0]}" / "train.jsonl")
    clauses = [c for q in train for c in q["clauses"]]
    labels = np.array([INTENTS.index(i) for q in train for i in q["clause_intents"]])
    means = class_means(embed(clauses), labels, len(INTENTS)).numpy()
    np.save(ctx.dir / "class_means.npy", means)
    embed.save(ctx.dir / "embeddings.npz")
    summary |= {
        "params": sum(p.numel() for p in encoder.parameters()),
        "dim": int(means.shape[1]),
        "indexed": {k: len(v) for k, v in kb_texts(kb).items()},
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
    res = build_resources(cfg, ctx.upstream["model"])
    accelerator = make_accelerator(cfg)
    calibration, budgets = {}, {}
    for seed in cfg.seeds:
        splits = load_splits(ctx.upstream["data"], seed)
        _, params, curves, fitted = fit_recognisers(res, cfg, splits["train"], splits["val"], seed, accelerator)
        np.savez(
            ctx.dir / f"prototypes_seed{seed}.npz",
            prototype=params["prototype"]["prototypes"],
            raw=params["raw"]["prototypes"],
        )
        if seed == cfg.seeds[0]:
            save_sample(ctx.dir / f"sample_seed{seed}.npz", res, splits["train"], params["prototype"]["prototypes"])
        calibration[seed] = {
            "threshold": params["prototype"]["threshold"],
            "threshold_raw": params["raw"]["threshold"],
            "keyword_k": params["keyword"]["k"],
            "keywords": params["keyword"]["keywords"],
            "val_f1": {k: {str(g): round(v, 2) for g, v in c.items()} for k, c in curves.items()},
        }
        for name, b in fitted.items():
            budgets[name] = budgets.get(name, Budget()).merge(b)
        cal = calibration[seed]
        ctx.log(f"seed {seed}: threshold {cal['threshold']}, raw {cal['threshold_raw']}, keyword k {cal['keyword_k']}")
    write_json(ctx.dir / "calibration.json", calibration)
    write_json(ctx.dir / "budget.json", {k: b.to_dict() for k, b in budgets.items()})
    return {"seeds": len(cfg.seeds), "prototype_shape": [len(INTENTS), res.embed.encoder.dim]}


def save_sample(path: Path, res: Resources, train: list[dict], prototypes: np.ndarray, n: int = 400) -> None:
    """About ``n`` rewritten training clauses (every k-th, so all four benchmarks are in), their
    embeddings and labels, with the prototypes (the prototype map)."""
    from repro.medaide.training import training_clauses

    texts, labels = training_clauses(res, train, rewrite=True)
    every = max(1, len(texts) // n)
    np.savez(path, embeddings=res.embed(texts[::every]), labels=labels[::every], prototypes=prototypes)


def recognisers_for(cfg: MedaideConfig, train_dir: Path, seed: int) -> dict:
    from repro.medaide.baselines import KeywordRecogniser

    calibration = read_json(train_dir / "calibration.json")[str(seed)]
    with np.load(train_dir / f"prototypes_seed{seed}.npz", allow_pickle=False) as npz:
        return {
            "prototype": PrototypeRecogniser(npz["prototype"], cfg.temperature, calibration["threshold"]),
            "raw": PrototypeRecogniser(npz["raw"], cfg.temperature, calibration["threshold_raw"]),
            "keyword": KeywordRecogniser(calibration["keywords"]),
        }


@pipe.step(
    uses=(
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
    """Every arm on every seed's test, sweep and control splits; the claims by the kit's paired bootstrap."""
    res = build_resources(cfg, ctx.upstream["model"])
    ledger = Ledger(res)
    per_seed, per_benchmark, curves, chance = [], [], [], []
    for seed in cfg.seeds:
        splits = load_splits(ctx.upstream["data"], seed)
        sweep = load_sweep(ctx.upstream["data"], seed, cfg.noise_sweep)
        scores, pb, curve, traces = score_seed(
            res, recognisers_for(cfg, ctx.upstream["train"], seed), splits, sweep, ledger
        )
        per_seed.append(scores), per_benchmark.append(pb), curves.append(curve)
        chance.append(chance_f1(splits["train"], splits["test"], seed).mean())
        if seed == cfg.seeds[0]:
            write_traces(ctx.dir / "traces_seed0.jsonl", splits["test"], traces, res.kb)
            write_json(
                ctx.dir / "predictions_seed0.json",
                {arm: [a.intents for a in answers] for arm, answers in traces.items()},
            )
    scores = {m: {a: np.stack([s[m][a] for s in per_seed]) for a in per_seed[0][m]} for m in per_seed[0]}
    np.savez(ctx.dir / "scores.npz", **{f"{m}|{a}": v for m, d in scores.items() for a, v in d.items()})
    write_json(
        ctx.dir / "sweep.json",
        {
            "noise": list(cfg.noise_sweep),
            "intent_f1": {a: np.mean([c[a] for c in curves], 0).tolist() for a in curves[0]},
        },
    )
    budget = ledger_with_fitting(ledger.budgets, read_json(ctx.upstream["train"] / "budget.json"))
    doc = claims_document(
        paper="medaide",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "backend": "extractive" if cfg.backend == "extractive" else cfg.backend,
            "encoder": cfg.encoder,
        },
        claims=CLAIMS,
        scores=scores,
        table=results_table(scores, per_benchmark, float(np.mean(chance))),
        budget=budget,
        cannot_show=CANNOT_SHOW,
    )
    write_json(ctx.dir / "claims.json", doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


def ledger_with_fitting(evaluation: dict[str, Budget], fitting: dict[str, dict]) -> dict[str, dict]:
    """Evaluation cost per arm plus the prototype fitting it relies on (optimizer steps, forwards)."""
    uses = {"medaide": "prototype", "no_decision": "prototype", "no_rewrite": "raw"}
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


def write_traces(path: Path, queries: list[dict], traces: dict, kb: KB) -> None:
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


@pipe.step(uses=("seeds", "noise_sweep", "temperature"), upstream=("data", "model", "train", "evaluate"))
def figures(cfg: MedaideConfig, ctx: StepContext) -> dict:
    """Intent confusion, prototype map, ablation bars, noise sweep, an annotated end-to-end trace."""
    written = draw.all_figures(cfg, ctx.upstream, ctx.dir)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}


class _MiniLMOnIds(torch.nn.Module):
    def __init__(self, encoder: MiniLMEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids)


def check_models(cfg: MedaideConfig) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    """The profile's encoder and prototype head with a tiny batch (the config-rot test runs this)."""
    from repro.medaide.models import PrototypeHead

    if cfg.encoder == "minilm":
        encoder = MiniLMEncoder()
        batch = encoder.tokenize(["what dose of the drug for my kidney problem", "which clinic"])["input_ids"]
        module, dim = _MiniLMOnIds(encoder), encoder.dim
    else:
        module, dim = SmallEncoder(dim=cfg.small_dim), cfg.small_dim
        batch = torch.randint(1, module.buckets, (2, 12))
    head = PrototypeHead(torch.nn.functional.normalize(torch.randn(len(INTENTS), dim), dim=-1), cfg.temperature)
    return {
        "encoder": (module, batch),
        "prototype_head": (head, torch.nn.functional.normalize(torch.randn(2, dim), dim=-1)),
    }
