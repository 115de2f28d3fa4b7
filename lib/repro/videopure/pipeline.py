"""VideoPure's five steps; each notebook calls one. ``python -m repro step videopure <step> --profile cpu``
runs one outside Jupyter."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from repro.core import jobs, tables
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.scores import load_scores, measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.weights import save_weights
from repro.videopure import artifacts as art
from repro.videopure import figures as draw
from repro.videopure.claims import CANNOT_SHOW, CLAIMS, GATES
from repro.videopure.config import VideopureConfig
from repro.videopure.data import frame_folders, moving_digits
from repro.videopure.evaluate import (
    accuracy_scores,
    condition,
    reconstruction_check,
    results_table,
    single_frame_probe,
    validation_gates,
)
from repro.videopure.method import Purifier, to_model
from repro.videopure.models import alphas_cumprod, build_unet, ddim_sample, scheduler_config
from repro.videopure.robustness import Ledger, run_block
from repro.videopure.training import train_diffusion, train_recogniser

pipe = Pipeline("videopure")
PURIFIER_FIELDS = (
    "ddim_steps",
    "inversion_steps",
    "diffpure_steps",
    "guidance",
    "w_rec",
    "w_tc",
    "reference_frames",
    "reference_frame_elements",
    "max_shift",
)


def purifier_knobs(cfg: VideopureConfig) -> dict:
    return {name: getattr(cfg, name) for name in PURIFIER_FIELDS}


@pipe.step(uses=("data_source", "video", "test_fraction", "validation_fraction", "data_seed", "max_shift"))
def data(cfg: VideopureConfig, ctx: StepContext) -> dict:
    """Moving-digit clips (or the frame folders of the manifest): train, validation and test."""
    if cfg.data_source == "frames":
        clips = frame_folders(
            cfg.video, cfg.test_fraction, cfg.data_seed, cfg.max_shift, validation_fraction=cfg.validation_fraction
        )
    else:
        clips = moving_digits(cfg.video, cfg.test_fraction, cfg.data_seed, cfg.validation_fraction)
    found = clips["train"].features["label"].num_classes
    if found != cfg.n_classes:
        raise ValueError(f"the data has {found} classes, the profile expects {cfg.n_classes} (frame_classes)")
    tables.save(clips, ctx.dir / art.CLIPS)
    train = art.tensors(clips.with_format("torch"), "train")
    probe = single_frame_probe(train["video"].numpy(), train["label"].numpy(), cfg.data_seed)
    sizes = {part: len(clips[part]) for part in ("train", "validation", "test")}
    ctx.log(f"clips {sizes}; single-frame probe {probe}")
    return {
        **sizes,
        "clip_shape": list(train["video"].shape[1:]),
        "classes": clips["train"].features["label"].names,
        "probe": probe,
    }


@pipe.step(
    uses=(
        "recogniser",
        "surrogate",
        "unet",
        "num_train_timesteps",
        "train_t_max",
        "diffusion_steps",
        "diffusion_lr",
        "diffusion_batch_size",
        "ddim_steps",
        "inversion_steps",
        "data_seed",
        "device",
    ),
    upstream=("data",),
)
def model(cfg: VideopureConfig, ctx: StepContext) -> dict:
    """Train the recogniser, the transfer surrogate and the per-frame DDPM; check DDIM inversion."""
    clips = art.load_clips(ctx.upstream["data"])
    train, test = art.tensors(clips, "train"), art.tensors(clips, "test")
    n_classes = clips["train"].features["label"].num_classes
    accelerator = make_accelerator(cfg)
    summary: dict = {}
    for name, spec, seed in (
        (art.RECOGNISER, cfg.recogniser, cfg.data_seed),
        (art.SURROGATE, cfg.surrogate, cfg.data_seed + 1),
    ):
        net, losses, budget = train_recogniser(spec, train["video"], train["label"], n_classes, seed, accelerator)
        net = net.cpu()
        save_weights(net, ctx.dir / name, {"spec": asdict(spec), "n_classes": n_classes})
        with torch.no_grad():
            accuracy = float((net(test["video"]).argmax(1) == test["label"]).float().mean() * 100)
        summary[name] = {"test_accuracy": round(accuracy, 2), "losses": [round(v, 4) for v in losses]}
        summary[name] |= {"budget": budget.to_dict()}
        ctx.log(f"{name} ({spec.kind}): test accuracy {accuracy:.1f}%")

    sched = scheduler_config(cfg.num_train_timesteps)
    seed_everything(cfg.data_seed)
    unet = build_unet(cfg.unet)
    frames = to_model(train["video"].flatten(0, 1))
    losses, budget = train_diffusion(
        unet,
        frames,
        alphas_cumprod(sched),
        steps=cfg.diffusion_steps,
        lr=cfg.diffusion_lr,
        batch_size=cfg.diffusion_batch_size,
        t_max=cfg.train_t_max,
        seed=cfg.data_seed,
        accelerator=accelerator,
    )
    unet = unet.cpu().eval()
    unet.save_pretrained(ctx.dir / art.UNET, safe_serialization=True)
    write_json(ctx.dir / art.SCHEDULER, dict(sched))
    summary["ddpm"] = {"losses": [round(v, 4) for v in losses], "budget": budget.to_dict()}
    summary["unet_params"] = sum(p.numel() for p in unet.parameters())
    purifier = Purifier(unet, sched, cfg.ddim_steps, cfg.inversion_steps)
    summary["inversion"], recon = reconstruction_check(purifier, test["video"][:8])
    noise = torch.randn((8, 1, cfg.video.canvas, cfg.video.canvas), generator=torch.Generator().manual_seed(0))
    samples = ddim_sample(unet, sched, noise, cfg.ddim_steps)
    np.savez(ctx.dir / art.SAMPLES, clips=test["video"][:8].numpy(), samples=samples.numpy(), **recon)
    ctx.log(f"DDPM loss {losses[0]:.3f} -> {losses[-1]:.3f}; inversion check {summary['inversion']}")
    return summary


@pipe.step(
    uses=(
        *PURIFIER_FIELDS,
        "seeds",
        "rungs",
        "eps",
        "step_size",
        "attack_steps",
        "eot_samples",
        "bpda_rungs",
        "bpda_eps",
        "transfer_eps",
        "n_eval",
        "time_full_diffpure",
        "device",
    ),
    upstream=("data", "model"),
)
def train(cfg: VideopureConfig, ctx: StepContext) -> dict:
    """Adversarial clips for every attack and the purification of every ladder rung, per seed's block
    of test clips (the expensive step: the adaptive attack purifies at every iteration). Each seed's
    block is a job (``repro.core.jobs``): side by side on free cores or on a Dask cluster."""
    make_accelerator(cfg)  # threads and determinism from the profile
    n_test = art.load_clips(ctx.upstream["data"])["test"].num_rows
    if cfg.n_eval * len(cfg.seeds) > n_test:
        raise ValueError(f"{len(cfg.seeds)} seeds x n_eval {cfg.n_eval} exceed the {n_test} test clips")
    done = jobs.run(
        [Job(f"seed {seed}", seed_block, (cfg, i, seed, ctx.upstream["data"], ctx.upstream["model"]), seed=seed)
         for i, seed in enumerate(cfg.seeds)],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    per_seed, ledger, gates = [d.value[1] for d in done], {}, {}
    for seed, (measured, outcome, _) in zip(cfg.seeds, (d.value for d in done)):
        for name, value in measured.items():
            gates.setdefault(name, []).append(value)
        for name, spent in outcome.ledger.items():
            ledger.setdefault(name, Ledger()).add(spent)
        ctx.log(f"seed {seed}: " + ", ".join(f"{k} {v.wall_s:.1f}s" for k, v in outcome.ledger.items()))
    np.savez(ctx.dir / art.EXAMPLES, labels=done[0].value[2][:4], **per_seed[0].examples)
    fields = {art.PREDICTIONS: "predictions", art.WARPING: "warping", art.PASSES: "unet_passes", art.TIMING: "time_ms"}
    for key, field in fields.items():
        arms = getattr(per_seed[0], field)
        np.savez(ctx.dir / key, **{arm: np.stack([getattr(o, field)[arm] for o in per_seed]) for arm in arms})
    np.save(ctx.dir / "labels.npy", np.stack([d.value[2] for d in done]))
    write_json(ctx.dir / art.BUDGET, {name: spent.to_dict() for name, spent in ledger.items()})
    write_json(ctx.dir / art.GATES, gates)
    ctx.log("gates (validation, per seed): " + ", ".join(f"{k} {v}" for k, v in gates.items()))
    return {"arms": len(per_seed[0].predictions), "seeds": len(cfg.seeds), "clips_per_seed": cfg.n_eval}


def seed_block(cfg: VideopureConfig, i: int, seed: int, data_dir, model_dir) -> tuple:
    """One seed's job of :func:`train`: the validation gates, then every attack and rung on the seed's
    block of test clips. Returns (gate values, the block's outcome, its labels)."""
    make_accelerator(cfg)
    clips = art.load_clips(data_dir)
    test, validation = art.tensors(clips, "test"), art.tensors(clips, "validation")
    recogniser = art.load_recogniser(model_dir, art.RECOGNISER)
    surrogate = art.load_recogniser(model_dir, art.SURROGATE)
    purifier = art.load_purifier(model_dir, **purifier_knobs(cfg))
    block = slice(i * cfg.n_eval, (i + 1) * cfg.n_eval)
    seed_everything(seed)
    measured = validation_gates(
        purifier,
        recogniser,
        validation["video"],
        validation["label"],
        eps=max(cfg.eps),
        step_size=cfg.step_size,
        attack_steps=cfg.attack_steps,
        seed=seed,
    )
    outcome = run_block(
        purifier,
        recogniser,
        surrogate,
        test["video"][block],
        test["label"][block],
        test["dx"][block],
        rungs=cfg.rungs,
        eps=cfg.eps,
        bpda_rungs=cfg.bpda_rungs,
        bpda_eps=cfg.bpda_eps,
        transfer_eps=cfg.transfer_eps,
        step_size=cfg.step_size,
        attack_steps=cfg.attack_steps,
        eot_samples=cfg.eot_samples,
        time_full_diffpure=cfg.time_full_diffpure,
        seed=seed,
    )
    return measured, outcome, test["label"][block].numpy()


@pipe.step(uses=("seeds", "rungs", "eps", "bpda_eps", "transfer_eps", "n_eval"), upstream=("model", "train"))
def evaluate(cfg: VideopureConfig, ctx: StepContext) -> dict:
    """Accuracy per attack and rung, warping error, time; decide the claims."""
    train_dir = ctx.upstream["train"]
    labels = np.load(train_dir / "labels.npy", allow_pickle=False)
    scores = {
        "accuracy": accuracy_scores(art.load_arrays(train_dir / art.PREDICTIONS), labels),
        "warping_error": art.load_arrays(train_dir / art.WARPING),
        "unet_passes": art.load_arrays(train_dir / art.PASSES),
        "time_ms": art.load_arrays(train_dir / art.TIMING),
    }
    save_scores(ctx.dir / art.SCORES, scores)
    scores = load_scores(ctx.dir / art.SCORES)
    conditions = ["clean", *(condition("pgd", e) for e in cfg.eps)]
    conditions += [condition("transfer", e) for e in cfg.transfer_eps] + [condition("bpda", e) for e in cfg.bpda_eps]
    model_summary = read_json(ctx.upstream["model"] / "step.json")["summary"]
    table = results_table(scores, (*cfg.rungs, "diffpure_full"), conditions)
    surrogate = model_summary[art.SURROGATE]["test_accuracy"]
    table.append({"method": "surrogate (transfer source), clean", "acc clean": surrogate})
    doc = claims_document(
        paper="videopure",
        run={"profile": cfg.profile, "run_name": cfg.run_name, "seeds": list(cfg.seeds)},
        claims=measured_claims(CLAIMS, scores),
        scores=scores,
        table=table,
        budget=read_json(train_dir / art.BUDGET),
        cannot_show=CANNOT_SHOW,
        gates=GATES,
        gate_values=read_json(train_dir / art.GATES),
    )
    write_json(ctx.dir / art.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


@pipe.step(uses=("seeds", "rungs", "eps"), upstream=("data", "model", "train", "evaluate"))
def figures(cfg: VideopureConfig, ctx: StepContext) -> dict:
    """Clean / adversarial / purified clips, per-step votes, accuracy bars, consistency vs time."""
    written = draw.all_figures(ctx.upstream, ctx.dir)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
