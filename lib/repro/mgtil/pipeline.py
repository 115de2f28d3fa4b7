"""MGTIL's five steps; each notebook calls one. ``python -m repro step mgtil <step> --profile cpu``
runs one outside Jupyter."""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from repro.core import jobs, tables
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget
from repro.core.weights import save_weights
from repro.mgtil import artifacts as art
from repro.mgtil import figures as draw
from repro.mgtil import world
from repro.mgtil.claims import CANNOT_SHOW, CLAIMS, GATES, on_stream
from repro.mgtil.config import LossSpec, MgtilConfig
from repro.mgtil.continual import CONTROL_STREAM, StreamResult, run_stream, stream_arms, stream_tasks
from repro.mgtil.data import build_world, images, released_world
from repro.mgtil.evaluate import (
    example_scores,
    gate_values,
    mtil_metrics,
    prior_correct,
    reference_scores,
    reference_summary,
    results_table,
)
from repro.mgtil.models import build_clip, build_tokenizer, predict, tokenize
from repro.mgtil.pretrain import embed_corpus, pretrain, show_retrieval
from repro.mgtil.retrieval import Corpus
from repro.mgtil.tuning import tune

pipe = Pipeline("mgtil")
ARM_FIELDS = ("orders", "methods", "second_order_methods", "control_methods")


def example_query(orders: tuple[str, ...]) -> str:
    """The query the model step shows retrieval for: the main order's fine-grained task's last prompt."""
    tasks = [world.TASKS[t] for t in world.ORDERS[orders[0]]]
    return next((t for t in tasks if t.fine), tasks[0]).prompts()[-1]


@pipe.step(uses=("data_source", "world", "clip", "orders", "control_methods", "data_seed"))
def data(cfg: MgtilConfig, ctx: StepContext) -> dict:
    """The caption database and every task's train/val/test split (shifted; unshifted for the
    control), or the released files through their manifests (the ``paper`` profile)."""
    sizes = dict(n_train=cfg.world.n_train, n_val=cfg.world.n_val, n_test=cfg.world.n_test)
    common = dict(tasks=world.tasks_of(cfg.orders), image_size=cfg.clip.image_size, seed=cfg.data_seed)
    if cfg.data_source == "released":
        ds = released_world(**common, **sizes, database_size=cfg.world.database_size)
    else:
        ds = build_world(
            **common,
            **sizes,
            database_size=cfg.world.database_size,
            attribute_rate=cfg.world.attribute_rate,
            shift=cfg.world.shift,
            control_shift=bool(cfg.control_methods),
        )
    tables.save(ds, ctx.dir / art.WORLD)
    tasks = {
        t: {"domain": world.TASKS[t].domain, "classes": list(world.TASKS[t].classes), "fine": world.TASKS[t].fine}
        for t in world.tasks_of(cfg.orders)
    }
    write_json(ctx.dir / art.TASKS, {"tasks": tasks, "orders": {o: list(world.ORDERS[o]) for o in cfg.orders}})
    return {
        "splits": {name: len(split) for name, split in ds.items()},
        "image": [3, cfg.clip.image_size, cfg.clip.image_size],
    }


@pipe.step(
    uses=("data_source", "clip", "pretrain_epochs", "pretrain_lr", "data_seed", "device", "mixed_precision"),
    upstream=("data",),
)
def model(cfg: MgtilConfig, ctx: StepContext) -> dict:
    """Tokenizer, tiny CLIP pretrained on the database, zero-shot accuracy per task, the database
    embedded at two depths (the retrieval corpus) and one retrieval shown."""
    ds = art.load_world(ctx.upstream["data"])
    tasks = art.read_tasks(ctx.upstream["data"])["tasks"]
    captions = list(ds["database"]["caption"])
    # the domain queries' words: the procedural world's four domains, or the released stream's
    domains = world.DOMAINS if cfg.data_source == "procedural" else dict.fromkeys(t["domain"] for t in tasks.values())
    tok = build_tokenizer(world.vocabulary(captions, domains), cfg.clip.max_words)
    (ctx.dir / art.TOKENIZER).write_text(tok.to_str())
    seed_everything(cfg.data_seed)
    clip = build_clip(cfg.clip, tok.get_vocab_size())
    db_images, db_tokens = torch.from_numpy(images(ds["database"])), tokenize(tok, captions)
    accelerator = make_accelerator(cfg)
    fitted = pretrain(
        clip,
        db_images,
        db_tokens,
        epochs=cfg.pretrain_epochs,
        lr=cfg.pretrain_lr,
        batch_size=128,
        seed=cfg.data_seed,
        accelerator=accelerator,
    )
    clip = accelerator.unwrap_model(clip).cpu().eval()
    save_weights(clip, ctx.dir / art.CLIP, {"spec": asdict(cfg.clip), "vocab_size": tok.get_vocab_size()})
    emb = embed_corpus(clip, db_images, db_tokens, cfg.clip.mid_layer)
    np.savez(ctx.dir / art.CORPUS, **emb)
    zero_shot = {}
    for task in tasks:
        for stream, split in (("shifted", f"{task}_test"), ("noshift", f"noshift_{task}_test")):
            if split in ds:
                x, y = torch.from_numpy(images(ds[split])), torch.tensor(ds[split]["label"])
                acc = (predict(clip, x, *tokenize(tok, world.TASKS[task].prompts())) == y).float().mean()
                zero_shot.setdefault(task, {})[stream] = round(100 * float(acc), 2)
    write_json(ctx.dir / art.ZERO_SHOT, zero_shot)
    corpus = Corpus(
        *(emb[k] for k in ("img_final", "img_mid", "txt_final", "txt_mid")), captions, cfg.retrieval.ivf_threshold
    )
    write_json(
        ctx.dir / art.RETRIEVAL_EXAMPLE,
        show_retrieval(clip, tok, corpus, example_query(cfg.orders), cfg.clip.mid_layer, cfg.retrieval),
    )
    ctx.log(f"pretrained: loss {fitted.losses[0]:.3f} -> {fitted.losses[-1]:.3f}; zero-shot {zero_shot}")
    return {
        "params": sum(p.numel() for p in clip.parameters()),
        "vocab": tok.get_vocab_size(),
        "losses": [round(v, 4) for v in fitted.losses],
        "zero_shot": zero_shot,
        "budget": fitted.budget.to_dict(),
    }


@pipe.step(
    uses=(
        "seeds",
        "world",
        "retrieval",
        "loss",
        "steps_per_task",
        "batch_size",
        "ref_batch",
        "lr",
        "clip",
        *ARM_FIELDS,
        "tuning_grid",
        "pilot_seeds",
        "device",
        "mixed_precision",
    ),
    upstream=("data", "model"),
)
def train(cfg: MgtilConfig, ctx: StepContext) -> dict:
    """The weights of every method tuned alike on validation (:mod:`repro.mgtil.tuning`), then every
    (method, stream) arm through its task order, for every seed: accuracy matrices (test and
    validation), losses, reference sets and the budget ledger."""
    arms = stream_arms(cfg.methods, cfg.orders, cfg.second_order_methods, cfg.control_methods)
    folders = (ctx.upstream["data"], ctx.upstream["model"])

    def run_all(todo, record: str) -> list[StreamResult]:
        """(method, spec, seed, stream) runs as jobs (``repro.core.jobs``): side by side on free cores
        or on a Dask cluster, each the same whatever runs it (``run_stream`` seeds its own generators)."""
        done = jobs.run(
            [Job(f"{m} {c} s{seed}", stream_job, (cfg, m, spec, seed, c, *folders), seed=seed)
             for m, spec, seed, c in todo],
            threads=cfg.threads, device=cfg.device, record=ctx.dir / record,
        )  # fmt: skip
        return [d.value for d in done]

    def run_pilots(todo) -> list[StreamResult]:  # on the main order, like the runs they tune
        return run_all([(m, spec, seed, cfg.orders[0]) for m, spec, seed in todo], art.TUNING_JOBS)

    specs, pilots = tune(cfg.methods, cfg.loss, cfg.tuning_grid, cfg.pilot_seeds, run_pilots)
    write_json(
        ctx.dir / art.TUNING,
        {
            "criterion": "(Avg + Last) / 2 on the validation split, order I",
            "grid": list(cfg.tuning_grid),
            "pilot_seeds": list(cfg.pilot_seeds),
            "pilots": pilots,
            "weights": {m: asdict(spec) for m, spec in specs.items()},
        },
    )
    ctx.log("tuned on validation: " + ", ".join(f"{m} {p['weight']}={p['chosen']:g}" for m, p in pilots.items()))
    matrices, val_matrices, in_domain, history, references, budgets = {}, {}, {}, {}, {}, {}
    done = iter(run_all([(a.method, specs[a.method], s, a.condition) for a in arms for s in cfg.seeds], art.JOBS))
    for arm in arms:
        runs = [next(done) for _ in cfg.seeds]
        matrices[arm.name] = np.stack([r.correct for r in runs])
        val_matrices[arm.name] = np.stack([r.val_correct for r in runs])
        if runs[0].in_domain:
            in_domain[arm.name] = np.stack([np.stack(r.in_domain) for r in runs])
        history[arm.name] = [r.losses for r in runs]
        references[arm.name] = [r.references for r in runs]
        budgets[arm.name] = functools.reduce(Budget.merge, (r.budget for r in runs), Budget())
        metrics = mtil_metrics(100 * matrices[arm.name].mean(axis=(0, 3)))
        ctx.log(
            f"{arm.name}: "
            + ", ".join(f"{k} {v:.1f}" for k, v in metrics.items())
            + f" ({budgets[arm.name].wall_s:.1f} s)"
        )
    np.savez(ctx.dir / art.MATRICES, **matrices)
    np.savez(ctx.dir / art.VAL_MATRICES, **val_matrices)
    np.savez(ctx.dir / art.IN_DOMAIN, **in_domain)
    write_json(ctx.dir / art.HISTORY, history)
    write_json(ctx.dir / art.REFERENCES, references)
    write_json(ctx.dir / art.BUDGET, {arm: b.to_dict() for arm, b in budgets.items()})
    return {
        "arms": [a.name for a in arms],
        "runs": len(arms) * len(cfg.seeds),
        "pilot_runs": sum(len(p["grid"]) for p in pilots.values()) * len(cfg.pilot_seeds),
        "tuned": {m: {p["weight"]: p["chosen"]} for m, p in pilots.items()},
    }


def stream_job(
    cfg: MgtilConfig, method: str, spec: LossSpec, seed: int, condition: str, data_dir: Path, model_dir: Path
) -> StreamResult:
    """One (method, seed) run of :func:`train` (a pilot or an evaluation run) through ``condition``'s
    task order, from the pretrained CLIP the model step wrote."""
    shifted = condition != CONTROL_STREAM
    stream = art.load_stream(data_dir, model_dir, world.tasks_of(cfg.orders), shifted, cfg.retrieval.ivf_threshold)
    return run_stream(
        method,
        stream_tasks(condition),
        stream,
        art.load_clip(model_dir),
        loss=spec,
        retrieval=cfg.retrieval,
        mid_layer=cfg.clip.mid_layer,
        steps=cfg.steps_per_task,
        batch_size=cfg.batch_size,
        ref_batch=cfg.ref_batch,
        lr=cfg.lr,
        seed=seed,
        accelerator=make_accelerator(cfg),
    )


@pipe.step(uses=("seeds", *ARM_FIELDS), upstream=("data", "model", "train"))
def evaluate(cfg: MgtilConfig, ctx: StepContext) -> dict:
    """Transfer / Avg / Last / BWT per arm, per-example scores, and the claims decided by the kit's rule."""
    tasks = art.read_tasks(ctx.upstream["data"])["tasks"]
    matrices = art.load_matrices(ctx.upstream["train"])
    main = stream_tasks(cfg.orders[0])
    # the trivial reference: every test image given its task's majority training class (the prior)
    matrices["prior"] = prior_correct(art.load_world(ctx.upstream["data"]), main, matrices, cfg.orders[0])
    scores: dict[str, dict[str, np.ndarray]] = {}
    summary = {}
    arms = [a.name for a in stream_arms(cfg.methods, cfg.orders, cfg.second_order_methods, cfg.control_methods)]
    for name in [*arms, "prior"]:
        order = main if name == "prior" else stream_tasks(name.split("@")[1])
        correct = matrices[name]
        for metric, values in example_scores(correct, [tasks[t]["fine"] for t in order]).items():
            scores.setdefault(metric, {})[name] = values
        mean = 100 * correct.mean(axis=(0, 3))
        summary[name] = {"tasks": list(order), "matrix": mean.round(2).tolist(), **mtil_metrics(mean)}
    in_domain = art.load_matrices(ctx.upstream["train"], art.IN_DOMAIN)
    if in_domain:
        scores["ref_domain"] = reference_scores(in_domain)
    save_scores(ctx.dir / art.SCORES, scores)
    write_json(ctx.dir / art.METRICS, summary)
    chance = 100 * float(np.mean([1 / len(tasks[t]["classes"]) for t in main]))
    val = art.load_matrices(ctx.upstream["train"], art.VAL_MATRICES)
    tuning = read_json(ctx.upstream["train"] / art.TUNING)
    claims = measured_claims(on_stream(CLAIMS, cfg.orders[0]), scores)
    doc = claims_document(
        paper="mgtil",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "tuning": {k: tuning[k] for k in ("criterion", "grid", "pilot_seeds", "pilots")},
            "references": reference_summary(read_json(ctx.upstream["train"] / art.REFERENCES)),
        },
        claims=claims,
        scores=scores,
        table=results_table(scores, round(chance, 2)),
        budget=read_json(ctx.upstream["train"] / art.BUDGET),
        cannot_show=CANNOT_SHOW,
        gates=GATES,
        gate_values=gate_values(val, [len(tasks[t]["classes"]) for t in main], cfg.orders[0]),
    )
    write_json(ctx.dir / art.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


@pipe.step(uses=("seeds", *ARM_FIELDS), upstream=("data", "model", "train", "evaluate"))
def figures(cfg: MgtilConfig, ctx: StepContext) -> dict:
    """Accuracy-matrix heatmaps, per-task curves across steps, reference sets, retrieval examples."""
    written = draw.all_figures(ctx.upstream, ctx.dir, cfg.orders[0])
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
