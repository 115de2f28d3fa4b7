"""Invert4TVG's five steps; each notebook calls one. ``python -m repro step invert4tvg <step> --profile cpu``
runs one outside Jupyter."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from repro.core import jobs, tables
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import make_accelerator
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.weights import save_weights
from repro.invert4tvg import artifacts as art
from repro.invert4tvg import figures as draw
from repro.invert4tvg.arms import ARMS, TASKS, plan
from repro.invert4tvg.baselines import prior_segment, supervised_warmup
from repro.invert4tvg.claims import CANNOT_SHOW, CLAIMS, GATES
from repro.invert4tvg.config import Invert4tvgConfig
from repro.invert4tvg.data import write_charades_sta, write_timezero_json
from repro.invert4tvg.evaluate import (
    constant_scores,
    evaluate_policy,
    example_predictions,
    noise_scores,
    results_table,
    verb_probe,
)
from repro.invert4tvg.method import grpo_train
from repro.invert4tvg.models import build_policy, check_models  # noqa: F401  (check_models: the config tests)
from repro.invert4tvg.rewards import text_vectors
from repro.invert4tvg.sets import build_sets, task_bank, videos_summary
from repro.invert4tvg.tasks import TaskBank

pipe = Pipeline("invert4tvg")
DATA_FIELDS = ("data_source", "n_train", "n_eval", "video", "eval_noise", "data_seed", "policy")
MODEL_FIELDS = ("policy", "tasks", "sft", "seeds", "device", "mixed_precision")


@pipe.step(uses=DATA_FIELDS)
def data(cfg: Invert4tvgConfig, ctx: StepContext) -> dict:
    """Verb-contrast and object-contrast (control) videos, the vocabulary, the cosine reward's word
    vectors, and the eval split written as Charades-STA lines and as TimeZero JSON."""
    sets, vocab = build_sets(cfg)
    for contrast, splits in sets.items():
        tables.save(splits, ctx.dir / art.CONTRAST_DIR[contrast])
    write_json(ctx.dir / "vocab.json", {"words": list(vocab.words)})
    np.save(ctx.dir / "word_vectors.npy", text_vectors(vocab))
    annotations = art.annotations_of(sets["verb"]["eval"])
    write_charades_sta(ctx.dir / "charades_sta_eval.txt", annotations)
    write_timezero_json(ctx.dir / "timezero_eval.json", annotations)
    return videos_summary(sets, vocab)


@pipe.step(uses=(*DATA_FIELDS, *MODEL_FIELDS), upstream=("data",))
def model(cfg: Invert4tvgConfig, ctx: StepContext) -> dict:
    """The warm-up per seed (supervised, all four tasks, on the training videos of ``sft.contrasts``);
    it is the ``sft`` arm and the start (and KL reference) of every GRPO arm of that seed. Each seed
    is a job (``repro.core.jobs``): side by side on free cores, the same weights whatever runs them."""
    done = jobs.run(
        [Job(f"warm-up s{seed}", warm_up, (cfg, seed, ctx.upstream["data"], ctx.dir), seed=seed) for seed in cfg.seeds],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    summary = {}
    for seed, job in zip(cfg.seeds, done):
        fitted, summary["params"] = job.value
        summary[f"seed{seed}"] = {"loss": round(fitted.losses[-1], 4), "budget": fitted.budget.to_dict()}
        ctx.log(f"warm-up seed {seed}: loss {fitted.losses[-1]:.3f} ({fitted.budget.wall_s:.1f} s)")
    return summary


def warm_up(cfg: Invert4tvgConfig, seed: int, data_dir: Path, out_dir: Path) -> tuple:
    """One seed's job of :func:`model`: the warm-up, saved as ``warmup_seed<s>``; (fit result, parameters)."""
    vocab = art.load_vocab(data_dir)
    bank = TaskBank.concat([task_bank(data_dir, c, "train", vocab, cfg) for c in cfg.sft.contrasts])
    accelerator = make_accelerator(cfg)
    policy = build_policy(cfg.policy, vocab, cfg.video.frames, cfg.video.feature_dim)
    fitted = supervised_warmup(
        policy,
        bank,
        steps=cfg.sft.steps,
        batch_size=cfg.sft.batch_size,
        lr=cfg.sft.lr,
        sep=vocab.index["<sep>"],
        pad=vocab.index["<pad>"],
        seed=seed,
        accelerator=accelerator,
        task_weights=cfg.sft.task_weights,
        schedule=cfg.sft.schedule,
        final_lr=cfg.sft.final_lr,
    )
    net = accelerator.unwrap_model(policy)
    save_weights(net, art.warmup_path(out_dir, seed), art.policy_config(cfg.policy, *bank.frames.shape[1:]))
    return fitted, sum(p.numel() for p in net.parameters())


@pipe.step(uses=(*DATA_FIELDS, *MODEL_FIELDS, "grpo", "arms"), upstream=("data", "model"))
def train(cfg: Invert4tvgConfig, ctx: StepContext) -> dict:
    """GRPO for every arm and seed from that seed's warm-up, with the same number of updates, prompts
    and samples per arm; keeps the weights, the reward curves and the budget ledger."""
    todo = [(name, seed) for seed in cfg.seeds for name in cfg.arms]
    done = jobs.run(
        [Job(f"{name} s{seed}", grpo_arm, (cfg, name, seed, ctx.upstream["data"], ctx.upstream["model"], ctx.dir),
             seed=seed) for name, seed in todo],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    history, budgets = {}, {}
    for (name, seed), job in zip(todo, done):
        result = job.value
        history.setdefault(name, []).append(result.history)
        ledger = budgets.setdefault(name, {"budget": None, "prompts_by_task": dict.fromkeys(TASKS, 0)})
        ledger["budget"] = result.budget if ledger["budget"] is None else ledger["budget"].merge(result.budget)
        for task, n in result.prompts_by_task.items():
            ledger["prompts_by_task"][task] += n
        tvg = np.nanmean(result.history["reward_tvg"][-10:])
        ctx.log(f"seed {seed} {name}: last TVG reward {tvg:.3f} ({result.budget.wall_s:.1f} s)")
    write_json(ctx.dir / "history.json", history)
    write_json(
        ctx.dir / "budget.json",
        {name: v["budget"].to_dict() | {"prompts_by_task": v["prompts_by_task"]} for name, v in budgets.items()},
    )
    return {"arms": len(cfg.arms), "runs": len(cfg.arms) * len(cfg.seeds), "updates_per_run": cfg.grpo.steps}


def grpo_arm(cfg: Invert4tvgConfig, name: str, seed: int, data_dir: Path, model_dir: Path, out_dir: Path):
    """One (arm, seed) job of :func:`train`: GRPO from the seed's warm-up, saved as ``<arm>_seed<s>``."""
    vocab = art.load_vocab(data_dir)
    arm_plan = plan(ARMS[name], cfg.grpo.p_inversion)
    bank = task_bank(data_dir, arm_plan.contrast, "train", vocab, cfg)
    accelerator = make_accelerator(cfg)
    warm = art.load_policy(art.warmup_path(model_dir, seed), vocab)
    policy = copy.deepcopy(warm).train()
    result = grpo_train(
        policy,
        warm,
        bank,
        arm_plan,
        cfg.grpo,
        vocab,
        art.load_vectors(data_dir),
        seed=seed,
        accelerator=accelerator,
        forms=cfg.tasks,
    )
    net = accelerator.unwrap_model(policy)
    config = art.policy_config(cfg.policy, cfg.video.frames, cfg.video.feature_dim)
    save_weights(net, art.arm_path(out_dir, arm_plan.arm, seed), config)
    return result


@pipe.step(uses=(*DATA_FIELDS, *MODEL_FIELDS, "grpo", "arms"), upstream=("data", "model", "train"))
def evaluate(cfg: Invert4tvgConfig, ctx: StepContext) -> dict:
    """R1@{0.3,0.5,0.7}, mIoU, the verb probe and Action Recognition for every arm and seed (the
    warm-up as ``sft`` on both data sets), the noise sweep, and the claims by the kit's rule."""
    vocab = art.load_vocab(ctx.upstream["data"])
    banks = {c: task_bank(ctx.upstream["data"], c, "eval", vocab, cfg) for c in ("verb", "object")}
    dirs = (ctx.upstream["data"], ctx.upstream["model"], ctx.upstream["train"])
    done = jobs.run(
        [Job(f"seed {seed}", evaluate_seed, (cfg, seed, *dirs), seed=seed) for seed in cfg.seeds],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    per_seed: dict[str, dict[str, list]] = {}
    gate_values = {"warmup_verb_probe": [], "warmup_object_probe": []}
    for seed, job in zip(cfg.seeds, done):
        measured, gates = job.value
        for metric, arms in measured.items():
            for name, values in arms.items():
                per_seed.setdefault(metric, {}).setdefault(name, []).append(values)
        for gate, value in gates.items():
            gate_values[gate].append(value)
        ctx.log(f"seed {seed}: evaluated {len(measured['R1@0.7'])} policies")
    predictions = {name: example_predictions(policy, banks[contrast], vocab)
                   for name, policy, contrast in policies_of(cfg, cfg.seeds[0], vocab, *dirs[1:])}  # fmt: skip
    for name, values in trivial_scores(cfg, ctx.upstream["data"], vocab, banks).items():
        for metric, v in values.items():
            per_seed[metric][name] = [v] * len(cfg.seeds)  # a constant answer: the same on every seed
    scores = {m: {a: np.stack(v) for a, v in arms.items()} for m, arms in per_seed.items()}
    scores = {m: {a: v for a, v in arms.items() if not np.isnan(v).any()} for m, arms in scores.items()}
    save_scores(ctx.dir / "scores.npz", scores)
    write_json(art.predictions_file(ctx.dir), predictions)
    budget = read_json(ctx.upstream["train"] / "budget.json")
    model_meta = read_json(ctx.upstream["model"] / "step.json")["summary"]
    budget["sft"] = {
        "optimizer_steps": cfg.sft.steps * len(cfg.seeds),
        "forward_samples": {},
        "wall_s": sum(v["budget"]["wall_s"] for k, v in model_meta.items() if k.startswith("seed")),
    }
    doc = claims_document(
        paper="invert4tvg",
        run={"profile": cfg.profile, "run_name": cfg.run_name, "seeds": list(cfg.seeds), "n_eval": cfg.n_eval},
        claims=measured_claims(CLAIMS, scores),
        scores=scores,
        table=results_table(scores, banks["verb"]),
        budget=budget,
        cannot_show=CANNOT_SHOW,
        gates=GATES,
        gate_values=gate_values,
    )
    write_json(ctx.dir / "claims.json", doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


def policies_of(cfg: Invert4tvgConfig, seed: int, vocab, model_dir: Path, train_dir: Path):
    """(name, policy, contrast) of every evaluated policy of a seed: the warm-up on both sets, then the arms."""
    warm = art.load_policy(art.warmup_path(model_dir, seed), vocab)
    yield "sft", warm, "verb"
    yield "sft@objects", warm, "object"
    for name in cfg.arms:
        arm_plan = plan(ARMS[name], cfg.grpo.p_inversion)
        yield name, art.load_policy(art.arm_path(train_dir, arm_plan.arm, seed), vocab), arm_plan.contrast


def evaluate_seed(cfg: Invert4tvgConfig, seed: int, data_dir: Path, model_dir: Path, train_dir: Path) -> tuple:
    """One seed's job of :func:`evaluate`: per-example scores of every policy ({metric: {name: array}})
    on the test splits, and the gates, measured on the validation split (never the test one)."""
    vocab = art.load_vocab(data_dir)
    banks = {c: task_bank(data_dir, c, "eval", vocab, cfg) for c in ("verb", "object")}
    noisy = {n: task_bank(data_dir, "verb", art.noise_split(n), vocab, cfg) for n in cfg.eval_noise}
    val = {c: task_bank(data_dir, c, "val", vocab, cfg) for c in ("verb", "object")}
    measured: dict[str, dict[str, np.ndarray]] = {}
    for name, policy, contrast in policies_of(cfg, seed, vocab, model_dir, train_dir):
        scores = evaluate_policy(policy, banks[contrast], vocab)
        if contrast == "verb":
            scores |= noise_scores(policy, noisy, vocab)
        for metric, values in scores.items():
            measured.setdefault(metric, {})[name] = values
        if name == "sft":  # does this seed's warm-up read the query?
            gates = {f"warmup_{c}_probe": float(np.mean(verb_probe(policy, val[c], vocab))) for c in ("verb", "object")}
    return measured, gates


def trivial_scores(cfg: Invert4tvgConfig, data_dir, vocab, banks) -> dict[str, dict[str, np.ndarray]]:
    """The trivial references of the R1 claims on each eval set: the whole video as one answer, and
    the training set's mean target (``prior_segment``); the warm-up (``sft``) is scored as an arm."""
    out = {}
    for contrast, suffix in (("verb", ""), ("object", "@objects")):
        train = task_bank(data_dir, contrast, "train", vocab, cfg)
        out[f"whole_video{suffix}"] = constant_scores((0, cfg.video.frames), banks[contrast])
        out[f"prior_segment{suffix}"] = constant_scores(prior_segment(train), banks[contrast])
    return out


@pipe.step(uses=(*DATA_FIELDS, *MODEL_FIELDS, "grpo", "arms"), upstream=("data", "train", "evaluate"))
def figures(cfg: Invert4tvgConfig, ctx: StepContext) -> dict:
    """Reward curves, R1@m bars, the inversion-share sweep, the noise sweep, and predicted vs true
    segments on timelines."""
    paths = draw.all_figures(ctx.upstream["data"], ctx.upstream["train"], ctx.upstream["evaluate"], ctx.dir, cfg)
    return {"figures": sorted(p.name for p in paths if p.suffix == ".png")}
