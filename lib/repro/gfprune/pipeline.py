"""gfprune's five steps; each notebook calls one. ``python -m repro step gfprune <step> --profile cpu``
runs one outside Jupyter."""

from __future__ import annotations

import copy

import numpy as np
import torch

from repro.core import jobs
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget
from repro.core.weights import save_weights
from repro.gfprune import artifacts as files
from repro.gfprune import figures as draw
from repro.gfprune import pruning
from repro.gfprune.baselines import iterative_taylor_prune, one_shot_prune
from repro.gfprune.claims import CANNOT_SHOW, CLAIMS, GATES
from repro.gfprune.config import GfpruneConfig, arm_seeds, arms
from repro.gfprune.data import load_pipeline, load_split, pipeline_folder
from repro.gfprune.evaluate import (
    feature_stats,
    frechet_distance,
    frechet_pseudovalues,
    latency_pairs,
    results_table,
    ssim_diffpruning,
    ssim_per_image,
)
from repro.gfprune.method import FLOW_METHODS, gradient_flow_prune, mask_summary, planted_control, split_half_spearman
from repro.gfprune.models import (
    alphas_cumprod,
    build_unet,
    ddim_sample,
    features,
    scheduler_config,
)
from repro.gfprune.training import ValidationSet, finetune, pretrain, train_classifier

pipe = Pipeline("gfprune")
# the control's arms (methods) -> the criterion each ranks the planted model with
PLANTED_CRITERIA = {"random": "random", "magnitude": "magnitude", "gfprune": "gradient_norm",
                    "gfprune_abs": "gradient_norm_abs"}  # fmt: skip
PRUNE_FIELDS = (
    "methods",
    "prune_stages",
    "stage_steps",
    "mask_lr",
    "mask_decay",
    "norm_stats",
    "criterion_batches",
    "criterion_micro_batch",
    "diffpruning_threshold",
    "diffpruning_grid",
    "diffpruning_max_steps",
    "magnitude_p",
    "taylor_multivariable",
    "global_pruning",
    "macs_tolerance",
)
FINETUNE_FIELDS = ("finetune_steps", "finetune_lr", "finetune_warmup", "eval_every", "val_examples", "batch_size")


@pipe.step(uses=("data_source", "unet", "test_fraction", "data_seed", "train_limit"))
def data(cfg: GfpruneConfig, ctx: StepContext) -> dict:
    """Digits at the UNet's resolution (or CIFAR-10), scaled to [-1, 1]."""
    dataset = load_split(cfg.data_source, cfg.unet.sample_size, cfg.test_fraction, cfg.data_seed, cfg.train_limit)
    files.save_split(dataset, ctx.dir)
    train = dataset["train"].with_format("numpy")[:]
    return {
        "train": [dataset["train"].num_rows, *dataset["train"].features["image"].shape],
        "test": [dataset["test"].num_rows, *dataset["test"].features["image"].shape],
        "classes": int(len(np.unique(train["label"]))),
        "pixel_range": [float(train["image"].min()), float(train["image"].max())],
    }


@pipe.step(
    uses=(
        "pretrained",
        "unet",
        "num_train_timesteps",
        "pretrain_steps",
        "pretrain_lr",
        "pretrain_batch_size",
        "pretrain_warmup",
        "classifier_epochs",
        "macs_target",
        "global_pruning",
        "ratio_search_steps",
        "n_samples",
        "ddim_steps",
        "data_seed",
        "device",
        "control_ratio",
        "val_examples",
    ),
    upstream=("data",),
)
def model(cfg: GfpruneConfig, ctx: StepContext) -> dict:
    """Pretrain the DDPM (or load a local pipeline), train the feature classifier, draw the dense
    model's reference samples from fixed noise, and find the pruning ratio that meets the MACs target."""
    split = files.load_split(ctx.upstream["data"])
    accelerator = make_accelerator(cfg)
    seed_everything(cfg.data_seed)
    summary: dict = {}
    if cfg.pretrained:
        unet, sched = load_pipeline(pipeline_folder(cfg.pretrained))
        summary["pretrained"] = cfg.pretrained
    else:
        unet, sched = build_unet(cfg.unet), scheduler_config(cfg.num_train_timesteps)
        abar = alphas_cumprod(sched)
        val = ValidationSet.make(split["x_test"], cfg.val_examples, len(abar), cfg.data_seed)
        losses, budget, curve = pretrain(
            unet,
            split["x_train"],
            abar,
            steps=cfg.pretrain_steps,
            lr=cfg.pretrain_lr,
            batch_size=cfg.pretrain_batch_size,
            warmup=cfg.pretrain_warmup,
            seed=cfg.data_seed,
            accelerator=accelerator,
            val=val,
        )
        summary |= {
            "pretrain_losses": [round(v, 5) for v in losses],
            "pretrain_val_loss": curve,  # (steps, mean validation loss): where more training stops helping
            "pretrain_budget": budget.to_dict(),
        }
    unet = unet.cpu().eval()
    unet.save_pretrained(ctx.dir / files.UNET, safe_serialization=True)
    write_json(ctx.dir / files.SCHEDULER, dict(sched))

    classifier, closs = train_classifier(
        split["x_train"], split["y_train"], cfg.classifier_epochs, cfg.data_seed, accelerator
    )
    classifier = classifier.cpu()
    save_weights(classifier, ctx.dir / files.CLASSIFIER, {"channels": int(split["x_train"].shape[1])})
    with torch.no_grad():
        accuracy = float((classifier(split["x_test"]).argmax(1) == split["y_test"]).float().mean() * 100)
    mu_r, cov_r = feature_stats(features(classifier, split["x_train"]))

    noise = torch.randn(
        (cfg.n_samples, *split["x_train"].shape[1:]), generator=torch.Generator().manual_seed(cfg.data_seed)
    )
    samples = ddim_sample(unet.to(accelerator.device), sched, noise, cfg.ddim_steps).cpu()
    unet = unet.cpu()
    np.savez(
        ctx.dir / files.REFERENCE, mu=mu_r.numpy(), cov=cov_r.numpy(), noise=noise.numpy(), samples=samples.numpy()
    )

    dense_macs, dense_params = pruning.macs_params(unet)
    magnitude = lambda _m: pruning.tp.importance.MagnitudeImportance(p=1)  # noqa: E731 (local: any criterion)
    ratio, fraction = pruning.ratio_for_macs(
        unet, magnitude, cfg.macs_target, cfg.global_pruning, cfg.ratio_search_steps
    )
    control = copy.deepcopy(unet)
    pruning.prune(control, magnitude(control), cfg.control_ratio, cfg.global_pruning)
    summary |= {
        "classifier_accuracy": round(accuracy, 2),
        "classifier_losses": [round(v, 4) for v in closs],
        "params": dense_params,
        "macs": dense_macs,
        "ratio": round(ratio, 5),
        "macs_fraction": round(fraction, 4),
        "control_macs_fraction": round(pruning.macs_params(control)[0] / dense_macs, 4),
        "frechet_dense": round(frechet_distance(features(classifier, samples), mu_r, cov_r), 4),
        "frechet_real_test": round(frechet_distance(features(classifier, split["x_test"]), mu_r, cov_r), 4),
    }
    ctx.log(f"dense: {dense_params} params, {dense_macs / 1e6:.1f} MMACs; ratio {ratio:.3f} -> {fraction:.3f} MACs")
    return summary


@pipe.step(
    uses=(
        *PRUNE_FIELDS,
        *FINETUNE_FIELDS,
        "seeds",
        "table_only_methods",
        "control_ratio",
        "control_methods",
        "drift_methods",
        "planted_criteria",
        "macs_target",
        "device",
    ),
    upstream=("data", "model"),
)
def train(cfg: GfpruneConfig, ctx: StepContext) -> dict:
    """Prune with every method at the same MACs, then fine-tune each pruned model alike. Each (arm,
    seed) is a job (``repro.core.jobs``), and so is each seed's control K1 and criterion reliability:
    side by side on free cores, with the same results whatever runs them (each job seeds itself).
    Every method at a ratio ends at the same total gradient evaluations, pruning included: a method
    whose pruning spends fewer fine-tunes longer (its pruning cost is known before it runs, and checked
    against what it spent)."""
    model_summary = read_json(ctx.upstream["model"] / "step.json")["summary"]
    inputs = (ctx.upstream["data"], ctx.upstream["model"])
    mark: dict[str | None, int] = {}
    for arm in arms(cfg):
        mark[arm.condition] = max(mark.get(arm.condition, 0), planned_gradient_evaluations(cfg, arm.method))
    todo, work = [], []
    for arm in arms(cfg):
        ratio = float(arm.condition) if arm.condition is not None else model_summary["ratio"]
        steps = cfg.finetune_steps + -(-(mark[arm.condition] - planned_gradient_evaluations(cfg, arm.method))
                                       // cfg.batch_size)  # fmt: skip
        for seed in arm_seeds(cfg, arm):
            todo.append((arm, seed))
            work.append(Job(f"{arm.name} s{seed}", prune_and_finetune,
                            (cfg, arm, ratio, steps, seed, *inputs, ctx.dir), seed=seed))  # fmt: skip
    checks = [Job(f"criteria s{seed}", criterion_checks, (cfg, seed, *inputs), seed=seed) for seed in cfg.seeds]
    done = jobs.run(work + checks, threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json")
    runs = {key: job.value for key, job in zip(todo, done)}
    ledger, curves, trajectories, info = {}, {}, {}, {}
    for arm in arms(cfg):
        seeds = arm_seeds(cfg, arm)
        results = [runs[arm, seed] for seed in seeds]
        spent, own = results[-1]["spent"], planned_gradient_evaluations(cfg, arm.method)
        spent_by_seed = [gradient_evaluations(r["spent"]) for r in results]
        assert spent_by_seed == [own] * len(seeds), f"{arm.name}: planned {own}, pruning spent {spent_by_seed}"
        budget = Budget()
        for r in results:
            budget = budget.merge(r["spent"]).merge(r["tuned"])
            if r["info"]:
                info.setdefault(arm.name, []).append(r["info"])
            if r["trajectory"] is not None:
                trajectories.setdefault(arm.name, []).append(r["trajectory"])
        curves[arm.name] = np.stack([r["val"] for r in results])  # (seeds, checkpoints, val examples)
        curves[files.steps_key(arm.name)] = np.array(results[-1]["steps"])
        fractions = [r["macs_fraction"] for r in results]
        ledger[arm.name] = budget.to_dict() | {
            "prune_optimizer_steps": spent.optimizer_steps,
            "prune_gradient_evaluations": own,
            "finetune_steps": int(results[-1]["steps"][-1]),
            "gradient_evaluations": gradient_evaluations(budget),
            "ratio": round(results[-1]["ratio"], 5),
            "macs_fraction": round(float(np.mean(fractions)), 4),
            "params": results[-1]["params"],
            "seeds": len(seeds),
        }
        start, end = results[-1]["val"][0].mean(), np.mean([r["val"][-1].mean() for r in results])
        ctx.log(
            f"{arm.name}: MACs {np.mean(fractions):.3f} of dense, {ledger[arm.name]['finetune_steps']} fine-tuning "
            f"steps, val loss {start:.4f} -> {end:.4f} ({budget.wall_s:.1f} s of jobs)"
        )
    per_seed = [job.value for job in done[len(work) :]]
    write_json(ctx.dir / files.PLANTED, {m: [c["planted"][m] for c in per_seed] for m in cfg.planted_criteria})
    reliability = criterion_reliability(cfg, [c["spearman"] for c in per_seed], info)
    ctx.log(f"criterion reliability per seed: {reliability}")
    write_json(ctx.dir / files.RELIABILITY, reliability)
    write_json(ctx.dir / files.INFO, info)
    targets = [ledger[m]["macs_fraction"] for m in cfg.methods]
    assert max(targets) - min(targets) <= cfg.macs_tolerance * cfg.macs_target, f"methods differ in MACs: {targets}"
    np.savez(ctx.dir / files.CURVES, **curves)
    write_json(ctx.dir / files.BUDGET, ledger)
    write_json(ctx.dir / files.TRAJECTORIES, trajectories)
    within = abs(np.mean(targets) - cfg.macs_target) <= cfg.macs_tolerance * cfg.macs_target
    return {
        "arms": len(ledger),
        "models": len(todo),
        "macs_fraction": round(float(np.mean(targets)), 4),
        "macs_within_tolerance": bool(within),
    }


def planned_gradient_evaluations(cfg: GfpruneConfig, method: str) -> int:
    """Samples through a backward pass (gradients and Hessian-vector products) that ``method``'s pruning
    spends, known before it runs (the train step checks it against the ledger): ours one gradient and
    one HVP per criterion batch and a gradient per soft-phase step, every stage; iterative Taylor a
    gradient per criterion batch and per fine-tuning step, every stage; one-shot Taylor its criterion
    batches. Magnitude, random and Diff-Pruning's walks (kept apart: ``diffpruning_walk``) spend none."""
    s = cfg.schedule
    per_stage = {
        "gfprune": 2 * s.criterion_batches + s.stage_steps,
        "gfprune_abs": 2 * s.criterion_batches + s.stage_steps,
        "flow_magnitude": s.stage_steps,
        "iterative_taylor": s.criterion_batches + s.stage_steps,
    }
    if method in per_stage:
        return s.stages * per_stage[method] * s.batch_size
    return cfg.criterion_batches * cfg.batch_size if method == "taylor" else 0


def _inputs(data_dir, model_dir) -> tuple[dict[str, torch.Tensor], torch.nn.Module, torch.Tensor]:
    """What a job reads: the split (on CPU), the dense UNet (on CPU) and the noise schedule's alpha-bar."""
    dense, sched = files.load_dense(model_dir)
    return files.load_split(data_dir), dense, alphas_cumprod(sched)


def prune_and_finetune(cfg: GfpruneConfig, arm, ratio: float, steps: int, seed: int, data_dir, model_dir, out) -> dict:
    """One (arm, seed) job of :func:`train`: prune a copy of the dense model with the arm's method at
    ``ratio``, fine-tune it ``steps`` steps, save it; what the ledger, curves and table need."""
    split, dense, abar = _inputs(data_dir, model_dir)
    accelerator = make_accelerator(cfg)
    x = split["x_train"].to(accelerator.device)
    val = ValidationSet.make(split["x_test"], cfg.val_examples, len(abar), cfg.data_seed)
    dense_config, dense_macs = dict(dense.config), pruning.macs_params(dense)[0]
    unet = dense.to(accelerator.device).train()
    seed_everything(seed)
    extra, trajectory = {}, None
    if arm.method in FLOW_METHODS:
        flow = gradient_flow_prune(unet, x, abar, cfg.schedule, ratio, seed, mask_lr=cfg.mask_lr,
                                   mask_decay=cfg.mask_decay, global_pruning=cfg.global_pruning,
                                   criterion=FLOW_METHODS[arm.method], norm_stats=cfg.norm_stats)  # fmt: skip
        history, spent, trajectory = flow.history, flow.budget, flow.trajectory
        extra = {"removal_gap": round(flow.removal_gap, 5), "residual_mask": flow.residual_mask,
                 "final_masks": mask_summary(flow.trajectory)}  # fmt: skip
    elif arm.method == "iterative_taylor":
        history, spent, _ = iterative_taylor_prune(unet, x, abar, cfg.schedule, ratio, seed, cfg.global_pruning)
    else:
        history, spent, extra = one_shot_prune(arm.method, unet, x, abar, cfg.one_shot, ratio, seed)
    fraction = pruning.macs_params(unet)[0] / dense_macs
    tuned = finetune(unet, x, abar, val.to(accelerator.device), steps=steps, lr=cfg.finetune_lr,
                     warmup=cfg.finetune_warmup, batch_size=cfg.batch_size, eval_every=cfg.eval_every, seed=seed,
                     accelerator=accelerator)  # fmt: skip
    unet = unet.cpu().eval()
    pruning.save_pruned(unet, dense_config, history, files.pruned_model(out, arm, seed))
    return {
        "spent": spent,
        "tuned": tuned.budget,
        "val": np.stack(tuned.val),
        "steps": tuned.steps,
        "macs_fraction": fraction,
        "ratio": ratio,
        "params": sum(p.numel() for p in unet.parameters()),
        "info": extra,
        "trajectory": trajectory,
    }


def criterion_checks(cfg: GfpruneConfig, seed: int, data_dir, model_dir) -> dict:
    """One seed's job of :func:`train` beside the pruning runs: the control K1 (dead channels planted in
    the dense model; which each criterion picks) and the split-half Spearman of our channel scores
    under both readings (two independent draws of ``criterion_batches`` batches on the dense model,
    seeds 1000 + 2s and 1000 + 2s + 1, apart from every pruning run's draws): the gates
    ``criterion_reliable(_abs)``."""
    split, dense, abar = _inputs(data_dir, model_dir)
    x = split["x_train"]
    criteria = tuple(PLANTED_CRITERIA[m] for m in cfg.planted_criteria)
    draw = (cfg.batch_size, cfg.criterion_batches)
    found = planted_control(criteria, dense, x, abar, cfg.control_ratio, *draw, seed, cfg.criterion_micro_batch)
    readings = ("gradient_norm", "gradient_norm_abs")
    spearman = split_half_spearman(readings, dense, x, abar, *draw, 1000 + 2 * seed, cfg.criterion_micro_batch)
    return {"planted": {m: found[PLANTED_CRITERIA[m]].tolist() for m in cfg.planted_criteria}, "spearman": spearman}


@pipe.step(
    uses=(
        "seeds",
        "methods",
        "table_only_methods",
        "control_methods",
        "drift_methods",
        "control_ratio",
        "n_samples",
        "ddim_steps",
        "latency_methods",
        "latency_repeats",
        "latency_batch",
        "data_seed",
        "device",
    ),
    upstream=("data", "model", "train"),
)
def evaluate(cfg: GfpruneConfig, ctx: StepContext) -> dict:
    """Sample every pruned model from the shared noise; Frechet distance, SSIM, convergence and
    latency as per-example scores; decide the claims."""
    model_dir, train_dir = ctx.upstream["model"], ctx.upstream["train"]
    device = make_accelerator(cfg).device
    dense, sched = files.load_dense(model_dir)
    dense, classifier = dense.to(device), files.load_classifier(model_dir).to(device)
    ref = files.load_reference(model_dir)
    mu_r, cov_r, noise, reference = ref["mu"], ref["cov"], ref["noise"], ref["samples"]
    ledger = read_json(train_dir / files.BUDGET)
    model_summary = read_json(model_dir / "step.json")["summary"]
    metrics = ("frechet_jackknife", "ssim", "val_loss_at_budget", "speedup")
    scores: dict[str, dict[str, np.ndarray]] = {m: {} for m in metrics}
    columns, grids = {}, {"dense": reference[:8].numpy()}
    curves = files.load_curves(train_dir)
    info = read_json(train_dir / files.INFO)
    for spec in arms(cfg):
        arm = spec.name
        pseudo, ssim, ssim_dp, fds, speedups, ms = [], [], [], [], [], []
        seeds = arm_seeds(cfg, spec)
        for seed in seeds:
            unet = pruning.load_pruned(files.pruned_model(train_dir, spec, seed)).to(device)
            samples = ddim_sample(unet, sched, noise, cfg.ddim_steps).cpu()
            feats = features(classifier, samples)
            pseudo.append(frechet_pseudovalues(feats, mu_r, cov_r))
            fds.append(frechet_distance(feats, mu_r, cov_r))
            ssim.append(ssim_per_image(samples, reference))
            ssim_dp.append(ssim_diffpruning(samples, reference))
            if seed == seeds[0]:
                grids[arm] = samples[:8].numpy()
            if arm in cfg.latency_methods:
                batch = noise[: cfg.latency_batch].to(device)
                t_dense, t_pruned = latency_pairs(dense, unet, sched, batch, cfg.ddim_steps, cfg.latency_repeats)
                speedups.append(t_dense / t_pruned)
                ms.append(1000 * t_pruned.mean())
        scores["frechet_jackknife"][arm], scores["ssim"][arm] = np.stack(pseudo), np.stack(ssim)
        final = curves[arm][1][:, -1, :]  # every method at the same total gradient evaluations
        scores["val_loss_at_budget"][arm] = final
        columns[arm] = {
            "macs_fraction": [ledger[arm]["macs_fraction"]],
            "params": [ledger[arm]["params"]],
            "frechet_plugin": fds,
            "ssim": [s.mean() for s in ssim],
            "ssim_diffpruning": [s.mean() for s in ssim_dp],
            "val_loss_at_budget": final.mean(axis=1),
            "gradient_evaluations": [ledger[arm]["gradient_evaluations"] / len(seeds)],
            "finetune_steps": [ledger[arm]["finetune_steps"]],
        }
        if arm in info and "removal_gap" in info[arm][0]:
            columns[arm]["removal_gap"] = [r["removal_gap"] for r in info[arm]]
        if speedups:
            scores["speedup"][arm] = np.stack(speedups)
            scores["speedup"][f"{arm}:macs"] = np.full_like(scores["speedup"][arm], 1 / ledger[arm]["macs_fraction"])
            columns[arm] |= {"speedup": [s.mean() for s in speedups], "ms_per_batch": ms}
    reference_rows = [
        {
            "method": "dense (pretrained, oracle)",
            "macs_fraction": 1.0,
            "params": model_summary["params"],
            "frechet_plugin": model_summary["frechet_dense"],
            "ssim": 1.0,
        },
        {"method": "real test digits (floor)", "frechet_plugin": model_summary["frechet_real_test"]},
    ]
    planted = read_json(train_dir / files.PLANTED)
    scores["planted_removed"] = {m: np.array(v, dtype=float) for m, v in planted.items()}
    for m, found in scores["planted_removed"].items():
        reference_rows.append({"method": f"planted dead channels found: {m}", "planted_found": round(found.mean(), 2)})
    save_scores(ctx.dir / files.SCORES, scores)
    np.savez(ctx.dir / files.GRIDS, **grids)
    reliability = read_json(train_dir / files.RELIABILITY)
    spearman = reliability["criterion_split_half_spearman"]
    if "diffpruning_walks_spearman" in reliability:
        walks = reliability["diffpruning_walks_spearman"]
        reference_rows.append(
            {
                "method": "Diff-Pruning channel scores, official walk vs grid (Spearman)",
                "spearman": round(float(np.mean(walks)), 4),
            }
        )
    doc = claims_document(
        paper="gfprune",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "criterion_split_half_spearman": spearman,
            "diffpruning_walks_spearman": reliability.get("diffpruning_walks_spearman"),
        },
        claims=measured_claims(CLAIMS, scores),
        scores=scores,
        table=results_table(columns, reference_rows),
        budget=ledger,
        cannot_show=CANNOT_SHOW,
        gates=GATES,
        gate_values={
            "dense_learned": [model_summary["frechet_dense"] / model_summary["frechet_real_test"]],
            "classifier_reads_digits": [model_summary["classifier_accuracy"]],
            "criterion_reliable": spearman["gradient_norm"],
            "criterion_reliable_abs": spearman["gradient_norm_abs"],
        },
    )
    write_json(ctx.dir / files.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


@pipe.step(uses=("seeds", "eval_every", "stage_steps"), upstream=("model", "train", "evaluate"))
def figures(cfg: GfpruneConfig, ctx: StepContext) -> dict:
    """Sample grids from the same noise, Frechet distance vs MACs, fine-tuning loss vs gradient
    evaluations, and the soft masks' decay."""
    written = draw.all_figures(cfg, ctx.upstream, ctx.dir)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}


def criterion_reliability(cfg: GfpruneConfig, per_seed: list[dict], info: dict) -> dict:
    """The split-half Spearman per seed and reading (from :func:`criterion_checks`), and how far
    Diff-Pruning's two timestep walks agree (Spearman of their channel scores on the dense model, on
    the seeds both ran; the scores are dropped from ``info`` here)."""
    from scipy.stats import spearmanr

    readings = ("gradient_norm", "gradient_norm_abs")
    out: dict = {
        "criterion_split_half_spearman": {c: [round(r[c], 4) for r in per_seed] for c in readings},
        "criterion_batches": cfg.criterion_batches,
    }
    walks = [[run.pop("channel_scores") for run in info.get(m, [])] for m in ("diffpruning", "diffpruning_grid")]
    if all(walks):
        out["diffpruning_walks_spearman"] = [round(float(spearmanr(a, b).statistic), 4) for a, b in zip(*walks)]
    return out


def gradient_evaluations(budget: Budget) -> int:
    """Samples that went through a backward pass (plain gradients and Hessian-vector products)."""
    return budget.forward_samples.get("unet_backward", 0) + budget.forward_samples.get("unet_hvp", 0)
