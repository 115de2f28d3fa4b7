"""VBackChecker's five steps; each notebook calls one. ``python -m repro step vbackchecker <step> --profile cpu``
runs one outside Jupyter."""

from __future__ import annotations

import collections

import numpy as np
import torch

from repro.core.claims import claims_document
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, write_json
from repro.core.train import Budget
from repro.vbackchecker import artifacts
from repro.vbackchecker import figures as draw
from repro.vbackchecker.claims import CANNOT_SHOW, CLAIMS
from repro.vbackchecker.config import HELD_OUT, VbackcheckerConfig
from repro.vbackchecker.data import draft_images, generate, load_splits, scene_tensors, write_splits
from repro.vbackchecker.evaluate import ciou, detection_scores, grounding_scores, results_table
from repro.vbackchecker.models import count_parameters
from repro.vbackchecker.training import Trained, arm_rows, build_model, split_rows, train_arm, verdicts

pipe = Pipeline("vbackchecker")
DATA_FIELDS = ("image_size", "n_train", "n_val", "n_bench", "n_refer", "per_scene", "max_objects", "noise",
               "train_operators", "data_seed")  # fmt: skip
MODEL_FIELDS = ("checker", "judge", "loss", "optim", "arms", "seeds", "device", "mixed_precision")


@pipe.step(uses=DATA_FIELDS)
def data(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Scenes, R-Instruct rows, the mini R^2-HalBench and the referring split; written in the real
    formats and read back through their loaders into one ``DatasetDict``."""
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "bench": cfg.n_bench, "refer": cfg.n_refer}
    drafts = generate(sizes, cfg.image_size, cfg.noise, cfg.max_objects, cfg.per_scene, cfg.train_operators,
                      cfg.data_seed)  # fmt: skip
    files = write_splits(drafts, ctx.dir / artifacts.FORMATS)
    tables = load_splits(files, draft_images(drafts), cfg.image_size)
    artifacts.save_tables(tables, ctx.dir)
    summary = {"scenes": len(tables["scenes"])}
    for split in ("train", "val", "bench", "refer"):
        summary[split] = dict(sorted(collections.Counter(tables[split]["kind"]).items()))
    summary["bench_levels"] = dict(sorted(collections.Counter(tables["bench"]["error_type"]).items()))
    summary["train_operators"] = sorted({op for op in tables["train"]["operator"] if op})
    ctx.log(f"{summary['scenes']} scenes; train rows {summary['train']}; bench {summary['bench_levels']}")
    return summary


@pipe.step(uses=("image_size", "checker", "judge"), upstream=("data",))
def model(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Build the checker and the similarity judge, count parameters, run one forward on real rows."""
    tables = artifacts.load_tables(ctx.upstream["data"])
    scenes = scene_tensors(tables["scenes"])
    prompts = split_rows(tables["bench"].select(range(4)), scenes, cfg.checker.max_len, with_answer=False)
    images = torch.from_numpy(scenes.images)
    summary = {}
    for arm in ("checker", "similarity"):
        net = build_model(arm, cfg.checker, cfg.judge, cfg.image_size).eval()
        seed_everything(0)
        if arm == "checker":
            x = images[torch.from_numpy(prompts.image_ids)]
            logits, masks = net(x, torch.from_numpy(prompts.encoded.inputs), torch.from_numpy(prompts.encoded.slot))
            shapes = {"logits": list(logits.shape), "mask_logits": list(masks.shape)}
        else:
            scores = net(images[torch.from_numpy(prompts.image_ids)], torch.from_numpy(prompts.encoded.text))
            shapes = {"pair_logits": list(scores.shape)}
        summary[arm] = {"parameters": count_parameters(net), "outputs": shapes}
    write_json(ctx.dir / artifacts.MODEL_CARD, summary)
    return summary


@pipe.step(uses=(*MODEL_FIELDS, "image_size", "eval_batch"), upstream=("data",))
def train(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Train every arm on every seed with the same optimizer steps; keep weights, losses and the ledger."""
    tables = artifacts.load_tables(ctx.upstream["data"])
    scenes = scene_tensors(tables["scenes"])
    images = torch.from_numpy(scenes.images)
    val = split_rows(tables["val"], scenes, cfg.checker.max_len)
    accelerator = make_accelerator(cfg)
    history: dict[str, list] = {}
    budgets: dict[str, Budget] = {}
    for seed in cfg.seeds:
        for arm in cfg.arms:
            seed_everything(seed)
            rows = arm_rows(tables["train"], scenes, arm, cfg.checker.max_len)
            trained = train_arm(arm, rows, val, images, cfg.checker, cfg.judge, cfg.loss, cfg.optim, seed,
                                accelerator, cfg.eval_batch)  # fmt: skip
            artifacts.save_trained(ctx.dir, arm, seed, trained.model, trained.threshold)
            history.setdefault(arm, []).append([round(v, 5) for v in trained.fitted.losses])
            budgets[arm] = budgets.get(arm, Budget()).merge(trained.fitted.budget)
            ctx.log(f"seed {seed} {arm}: loss {trained.fitted.losses[0]:.3f} -> {trained.fitted.losses[-1]:.3f} "
                    f"({trained.fitted.budget.wall_s:.1f} s, {len(rows.image_ids)} rows)")  # fmt: skip
    write_json(ctx.dir / artifacts.HISTORY, history)
    write_json(ctx.dir / artifacts.BUDGET, {arm: b.to_dict() for arm, b in budgets.items()})
    return {arm: {"final_loss": round(float(np.mean([h[-1] for h in runs])), 4)} for arm, runs in history.items()}


@pipe.step(uses=(*MODEL_FIELDS, "image_size", "eval_batch"), upstream=("data", "train"))
def evaluate(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Detection on the mini R^2-HalBench and grounding on the referring split for every arm and seed;
    the claims decided by the kit's rule."""
    tables = artifacts.load_tables(ctx.upstream["data"])
    scenes = scene_tensors(tables["scenes"])
    images = torch.from_numpy(scenes.images)
    bench = split_rows(tables["bench"], scenes, cfg.checker.max_len, with_answer=False)
    refer = split_rows(tables["refer"], scenes, cfg.checker.max_len, with_answer=False)
    per_seed: dict[str, dict[str, list]] = {}
    cious: dict[str, list[float]] = {}
    predictions: dict[str, np.ndarray] = {}
    for seed in cfg.seeds:
        for arm in cfg.arms:
            net = build_model(arm, cfg.checker, cfg.judge, cfg.image_size)
            net, threshold = artifacts.load_trained(ctx.upstream["train"], arm, seed, net)
            trained = Trained(net, None, threshold)
            on_bench = verdicts(arm, trained, bench, images, cfg.eval_batch)
            on_refer = verdicts(arm, trained, refer, images, cfg.eval_batch)
            metrics = detection_scores(on_bench.accept, tables["bench"]["error_type"], tables["bench"]["operator"],
                                       HELD_OUT)  # fmt: skip
            metrics |= grounding_scores(on_refer.masks, refer.masks)
            for metric, values in metrics.items():
                per_seed.setdefault(metric, {}).setdefault(arm, []).append(values)
            cious.setdefault(arm, []).append(ciou(on_refer.masks, refer.masks))
            if seed == cfg.seeds[0]:
                predictions |= {f"bench_margin__{arm}": on_bench.margin, f"refer_margin__{arm}": on_refer.margin,
                                f"refer_masks__{arm}": on_refer.masks}  # fmt: skip
    scores = {metric: {arm: np.stack(v) for arm, v in arms.items()} for metric, arms in per_seed.items()}
    for metric in [m for m in scores if m.startswith("bacc_")]:
        scores[metric]["chance"] = np.full_like(next(iter(scores[metric].values())), 50.0)
    save_scores(ctx.dir / artifacts.SCORES, scores)
    np.savez_compressed(ctx.dir / artifacts.PREDICTIONS, **predictions)
    budget = artifacts.load_budget(ctx.upstream["train"])
    budget["chance"] = Budget().to_dict()
    doc = claims_document(
        paper="vbackchecker",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "steps_per_arm": cfg.optim.epochs * cfg.optim.steps_per_epoch,
            "batch_size": cfg.optim.batch_size,
            "bench_items": len(tables["bench"]),
            "refer_items": len(tables["refer"]),
            "held_out_operators": list(HELD_OUT),
        },
        claims=measured_claims(CLAIMS, scores),
        scores=scores,
        table=results_table(scores, {arm: {"ciou": float(np.mean(v))} for arm, v in cious.items()}),
        budget=budget,
        cannot_show=CANNOT_SHOW,
    )
    write_json(ctx.dir / artifacts.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


@pipe.step(uses=(*MODEL_FIELDS, "image_size"), upstream=("data", "train", "evaluate"))
def figures(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Example verdicts with masks, per-level bars, confusion matrices and loss curves."""
    written = draw.all_figures(ctx.upstream, ctx.dir)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
