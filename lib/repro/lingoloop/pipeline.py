"""LingoLoop's five steps; each notebook calls one. ``python -m repro step lingoloop <step> --profile cpu``
runs one outside Jupyter. File names and loaders of the steps' outputs: :mod:`repro.lingoloop.artifacts`."""

from __future__ import annotations

import numpy as np
import torch

from repro.core import jobs
from repro.core.arms import Arm
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import make_accelerator
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget
from repro.lingoloop import artifacts
from repro.lingoloop import figures as draw
from repro.lingoloop.attack import attack
from repro.lingoloop.claims import CANNOT_SHOW, CLAIMS, GATES, READY_ENDING
from repro.lingoloop.config import LingoloopConfig, spec_of, sweep_arm
from repro.lingoloop.data import POS_TAGS, Vocab, eos_table, make_scenes, pos_weights
from repro.lingoloop.evaluate import (
    loop_period_where_both_loop,
    output_metrics,
    probe_metrics,
    results_table,
    timed_generation,
)
from repro.lingoloop.method import victim_eos_table
from repro.lingoloop.models import ending_match, exact_match, save_victim
from repro.lingoloop.training import train_victim
from repro.lingoloop.vlm import VLM, checked_model_folder, load_vlm

pipe = Pipeline("lingoloop")
VICTIM_FIELDS = ("victim", "victim_path", "victim_manifest", "epochs", "batch_size", "lr", "seeds", "device")
CLEAN = Arm("clean")
POS_TABLE_SCENES = 256  # training scenes the victim's own p(EOS) table is averaged over


def attack_arms(cfg: LingoloopConfig) -> list[Arm]:
    """Every attacked arm: the methods, then the lambda_rep sweep (0 is lps_only, 1 is lingoloop)."""
    return [*(Arm(m) for m in cfg.methods), *(sweep_arm(v) for v in cfg.lambda_sweep)]


def open_victim(cfg: LingoloopConfig, model_dir, seed: int) -> VLM:
    """The victim of one seed (or the local HF model named by ``victim_path``), through the same
    path-based loader any HF VLM goes through."""
    from repro.core.data import data_root, load_manifest

    path = data_root() / cfg.victim_path if cfg.victim_path else artifacts.victim_dir(model_dir, seed)
    if cfg.victim_manifest:
        path, unverified = checked_model_folder(load_manifest(cfg.victim_manifest))
        if unverified:
            print(f"[lingoloop] {cfg.victim_manifest}: {len(unverified)} files have no pinned sha256 (unverified)")
    vlm = load_vlm(path)
    vlm.model.to(make_accelerator(cfg).device)
    return vlm


def pos_table_document(table: np.ndarray, pos_of_id: np.ndarray, words) -> dict:
    weights = pos_weights(table)
    return {
        "tags": list(POS_TAGS),
        "p_eos": table.round(4).tolist(),
        "weight": weights.round(4).tolist(),
        "token_weight": weights[pos_of_id].round(6).tolist(),
        "words": list(words),
    }


@pipe.step(uses=("data_source", "n_train", "n_eval", "n_val", "noise", "data_seed", "victim"))
def data(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Scenes and captions (train and attacked sets), and the EOS frequency per POS of the captions."""
    if cfg.data_source != "scenes":
        raise NotImplementedError(
            "data_source='coco' (paper profile) needs COCO val2017 and a POS tagger: see "
            "repro.lingoloop.data.coco_eval_set and docs/papers/lingoloop.md"
        )
    size = cfg.victim.image_size
    train = make_scenes(cfg.n_train, cfg.data_seed, size, cfg.noise)
    evaluation = make_scenes(cfg.n_eval, cfg.data_seed + 10_000, size, cfg.noise)
    validation = make_scenes(cfg.n_val, cfg.data_seed + 20_000, size, cfg.noise)  # drawn like eval, not from it
    artifacts.save_scenes(ctx.dir, {"train": train, "val": validation, "eval": evaluation})
    vocab = Vocab.build()
    pos_of_id = vocab.pos_of_ids()
    table = eos_table(train.tokens, pos_of_id)
    write_json(ctx.dir / artifacts.REFERENCE_POS_TABLE, pos_table_document(table, pos_of_id, vocab.words))
    lengths = (train.tokens != 0).sum(1)
    eval_lengths = (evaluation.tokens != 0).sum(1)
    return {
        "train": list(train.images.shape),
        "eval": list(evaluation.images.shape),
        "val": list(validation.images.shape),
        "vocab": len(vocab.words),
        "caption_tokens": [int(lengths.min()), round(float(lengths.mean()), 2), int(lengths.max())],
        "eval_caption_tokens": [int(eval_lengths.min()), round(float(eval_lengths.mean()), 2), int(eval_lengths.max())],
        "p_eos": {t: round(float(p), 3) for t, p in zip(POS_TAGS, table) if p > 0},
    }


@pipe.step(uses=("n_eval", "n_val", *VICTIM_FIELDS, "hp"), upstream=("data",))
def model(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Train one victim per seed (saved with save_pretrained), caption the clean attack set, measure
    the victim's own mean p(EOS) per POS (the attack's weights) and its readiness: the share of
    validation captions ending on the right part of speech (a victim below
    :data:`repro.lingoloop.claims.READY_ENDING` did not learn to read the strip and is not pooled).
    Each seed's victim is a job (``repro.core.jobs``): the victims train side by side on free cores."""
    done = jobs.run(
        [Job(f"victim s{seed}", fit_victim, (cfg, ctx.upstream["data"], ctx.dir, seed), seed=seed)
         for seed in cfg.seeds],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    summary = {f"seed{seed}": job.value for seed, job in zip(cfg.seeds, done)}
    victims = {}
    for seed, info in zip(cfg.seeds, summary.values()):
        victims[str(seed)] = {"val_ending_match": info["val_ending_match"], "ready": info["ready"]}
        ctx.log(
            f"victim seed {seed}: exact-match captions {info['exact_match']:.2f}, right ending POS "
            f"{info['ending_match']:.2f} (validation {info['val_ending_match']:.2f}: "
            f"{'ready' if info['ready'] else 'NOT ready, not pooled'}), "
            f"mean clean length {info['clean_tokens']}"
        )
    write_json(ctx.dir / artifacts.VICTIMS, victims)
    return summary


def fit_victim(cfg: LingoloopConfig, data_dir, model_dir, seed: int) -> dict:
    """One seed's job of :func:`model`: its victim trained and saved (unless ``victim_path`` names
    one), its own p(EOS) table written, its clean captions and readiness measured; its summary."""
    scenes = artifacts.load_scenes(data_dir, "train")
    fitted = None
    if not cfg.victim_path:
        net, processor, fitted = train_victim(
            cfg.victim, scenes, seed=seed, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
            accelerator=make_accelerator(cfg),
        )  # fmt: skip
        save_victim(net, processor, artifacts.victim_dir(model_dir, seed))
    vlm = open_victim(cfg, model_dir, seed)
    vocab = Vocab.build()
    pos_of_id = vocab.pos_of_ids()
    n = min(POS_TABLE_SCENES, len(scenes))
    table = victim_eos_table(
        vlm, torch.from_numpy(scenes.images[:n]), torch.from_numpy(scenes.tokens[:n]), pos_of_id, len(POS_TAGS)
    )
    write_json(artifacts.victim_pos_table(model_dir, seed), pos_table_document(table, pos_of_id, vocab.words))

    def captions(split: str) -> tuple[list[str], torch.Tensor, tuple[str, ...]]:
        references = artifacts.load_scenes(data_dir, split)
        tokens = vlm.generate(torch.from_numpy(references.images).to(vlm.device), cfg.hp.max_new_tokens,
                              cfg.hp.repetition_penalty)  # fmt: skip
        return [vocab.decode(row) for row in tokens.cpu()], tokens, references.captions

    generated, tokens, references = captions("eval")
    val_generated, _, val_references = captions("val")
    ready = ending_match(val_generated, val_references)
    return {
        "val_ending_match": round(ready, 4),
        "ready": ready >= READY_ENDING,
        "params": vlm.parameters_count(),
        "losses": [round(v, 4) for v in fitted.losses] if fitted else [],
        "exact_match": exact_match(generated, references),
        "ending_match": ending_match(generated, references),
        "clean_tokens": round(float(vlm.lengths(tokens).float().mean()), 2),
        "victim_p_eos": {t: round(float(p), 4) for t, p in zip(POS_TAGS, table) if p > 0},
        "examples": generated[:3],
    }


@pipe.step(uses=("hp", "methods", "lambda_sweep", "optimizer", "n_eval", *VICTIM_FIELDS), upstream=("data", "model"))
def train(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Run every attack on the same images for every victim; keep the adversarial images, the
    lengths after every regeneration, the loss curves and the budget ledger. Each (victim, attack)
    is a job (``repro.core.jobs``), seeded by the victim's seed whatever runs it."""
    pooled = artifacts.pooled_seeds(ctx.upstream["model"])  # a victim that did not learn is not attacked
    todo = [(seed, arm) for seed in pooled for arm in attack_arms(cfg)]
    done = jobs.run(
        [Job(f"{arm} s{seed}", attack_arm, (cfg, ctx.upstream["data"], ctx.upstream["model"], seed, arm), seed=seed)
         for seed, arm in todo],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    history: dict = {}
    budgets: dict[str, Budget] = {}
    adversarial: dict[int, dict[Arm, np.ndarray]] = {}
    for (seed, arm), job in zip(todo, done):
        images, run, budget = job.value
        adversarial.setdefault(seed, {})[arm] = images
        history.setdefault(arm.name, []).append(run)
        budgets[arm.name] = budgets.get(arm.name, Budget()).merge(budget)
        ctx.log(f"seed {seed} {arm}: tokens {np.mean(run['lengths'][-1]):.1f} ({budget.wall_s:.1f} s)")
    for seed, images in adversarial.items():
        artifacts.save_adversarial(ctx.dir, seed, images)
    write_json(ctx.dir / artifacts.HISTORY, history)
    write_json(ctx.dir / artifacts.BUDGET, {arm: b.to_dict() for arm, b in budgets.items()})
    return {
        "arms": len(history),
        "attacks": len(todo),
        "steps_per_attack": cfg.hp.steps,
        "victims": pooled,
    }


def attack_arm(cfg: LingoloopConfig, data_dir, model_dir, seed: int, arm: Arm) -> tuple[np.ndarray, dict, Budget]:
    """One (victim, attack) job of :func:`train`: the adversarial images, the run's history entry
    (lengths at every regeneration, loss curves) and its budget."""
    vlm = open_victim(cfg, model_dir, seed)
    images = artifacts.eval_images(data_dir, vlm.device)
    weights = artifacts.token_weights(model_dir, seed)
    result = attack(vlm, images, spec_of(arm, cfg.optimizer), cfg.hp, weights, seed=seed)
    run = {
        "checkpoints": result.checkpoints,
        "lengths": result.lengths.tolist(),
        "loss": [round(v, 6) for v in result.losses],
        "parts": {k: [float(f"{x:.6g}") for x in v] for k, v in result.parts.items()},
    }
    return result.images.cpu().numpy(), run, result.budget


def arm_metrics(cfg: LingoloopConfig, vlm: VLM, x: torch.Tensor, run: dict | None) -> dict:
    """Every per-image metric of one arm on one victim but latency (``run``: the arm's attack
    history; None for clean)."""
    hp = cfg.hp
    m = output_metrics(vlm, x, hp.max_new_tokens, hp.repetition_penalty)
    if run is None:  # clean: no attack steps; never reaches the cap (censored like an attack that does not)
        m |= {"tokens_at_probe": m["tokens"], "steps_to_cap": np.full_like(m["tokens"], hp.steps + hp.regen_every)}
    else:
        lengths = np.array(run["lengths"])
        m |= probe_metrics(run["checkpoints"], lengths, cfg.probe_step, hp.max_new_tokens, hp.regen_every)
    return m


@pipe.step(
    uses=(
        "hp",
        "probe_step",
        "latency_arms",
        "latency_repeats",
        "methods",
        "lambda_sweep",
        "optimizer",
        *VICTIM_FIELDS,
    ),
    upstream=("data", "model", "train"),
)
def evaluate(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Generate under every attack: tokens, cap share, repetition, loops, hidden norms, latency and
    energy; decide the claims by the kit's rule (``docs/design.md``)."""
    hp = cfg.hp
    history = read_json(ctx.upstream["train"] / artifacts.HISTORY)
    per_seed: dict[str, dict[str, list[np.ndarray]]] = {}
    outputs: dict[str, list] = {}
    energy_sources: set[str] = set()
    victims = read_json(ctx.upstream["model"] / artifacts.VICTIMS)
    pooled = artifacts.pooled_seeds(ctx.upstream["model"])
    for i, seed in enumerate(pooled):
        vlm = open_victim(cfg, ctx.upstream["model"], seed)
        images = {CLEAN: artifacts.eval_images(ctx.upstream["data"], vlm.device)}
        for arm, adv in artifacts.load_adversarial(ctx.upstream["train"], seed, attack_arms(cfg)).items():
            images[arm] = torch.from_numpy(adv).to(vlm.device)
        metrics = {}
        for arm, x in images.items():
            m = metrics[arm.name] = arm_metrics(cfg, vlm, x, None if arm == CLEAN else history[arm.name][i])
            outputs.setdefault(arm.name, []).append(m.pop("outputs")[:4])
        timed, sources = timed_generation(
            vlm,
            {a.name: x for a, x in images.items() if a.name in cfg.latency_arms},
            hp.max_new_tokens,
            hp.repetition_penalty,
            cfg.latency_repeats,
        )
        energy_sources |= set(sources)
        clean_norm = metrics[CLEAN.name]["hidden_raw"]
        for arm, m in metrics.items():
            m["hidden_norm"] = 100 * m.pop("hidden_raw") / clean_norm
            m |= timed.get(arm, {})
            for metric, values in m.items():
                per_seed.setdefault(metric, {}).setdefault(arm, []).append(np.asarray(values, dtype=float))
    scores = {metric: {arm: np.stack(v) for arm, v in arms.items()} for metric, arms in per_seed.items()}
    table = results_table(scores, hp.max_new_tokens)
    scores["at_cap"]["majority"] = np.full_like(scores["at_cap"]["clean"], 50.0)
    periods = scores.pop("loop_period")  # NaN where an output does not loop: not a per-image score
    for claim in CLAIMS:
        if claim.metric == "loop_period_both":
            both = loop_period_where_both_loop(periods, claim.a, claim.b[0])
            if both is not None:
                scores.setdefault("loop_period_both", {}).update(both)
    save_scores(ctx.dir / artifacts.SCORES, scores)
    vocab = Vocab.build()
    texts = {arm: [[vocab.decode(row) for row in rows] for rows in runs] for arm, runs in outputs.items()}
    write_json(ctx.dir / artifacts.OUTPUTS, texts)
    budget = read_json(ctx.upstream["train"] / artifacts.BUDGET)
    budget["clean"] = Budget(forward_samples={"teacher_forced": 0, "generate": 0}).to_dict()
    doc = claims_document(
        paper="lingoloop",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": pooled,
            "victims": victims,
            "excluded_victims": [int(s) for s in victims if int(s) not in pooled],
            "steps": hp.steps,
            "eps": hp.eps,
            "max_new_tokens": hp.max_new_tokens,
            "probe_step": cfg.probe_step,
            "latency_repeats": cfg.latency_repeats,
            "energy_source": sorted(energy_sources),
            "optimizer": cfg.optimizer,
            "lps_mode_in_claims": "loss",
            "lambda_scaling_in_claims": "consistent",
        },
        claims=measured_claims(CLAIMS, scores),
        scores=scores,
        table=table,
        budget=budget,
        cannot_show=CANNOT_SHOW,
        gates=GATES,
        gate_values={"victims_ready": [sum(v["ready"] for v in victims.values())]},
    )
    write_json(ctx.dir / artifacts.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


@pipe.step(uses=("hp", "probe_step", "seeds", "methods", "lambda_sweep"), upstream=("data", "train", "evaluate"))
def figures(cfg: LingoloopConfig, ctx: StepContext) -> dict:
    """Token-length histograms, tokens vs attack step, hidden norm vs repetition, loss curves, examples."""
    written = draw.all_figures(ctx.upstream, ctx.dir, cfg.hp.max_new_tokens)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
