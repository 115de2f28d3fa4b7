"""VBackChecker's steps; each notebook calls one (``pretrain`` runs as ``train``'s upstream, from
``03_train``). ``python -m repro step vbackchecker <step> --profile cpu`` runs one outside Jupyter."""

from __future__ import annotations

import collections
import time

import numpy as np
import torch

from repro.core import jobs
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, write_json
from repro.core.train import Budget
from repro.vbackchecker import artifacts
from repro.vbackchecker import figures as draw
from repro.vbackchecker.baselines import fit_text_prior, plant_leak, text_prior_accept
from repro.vbackchecker.claims import CANNOT_SHOW, CLAIMS, GATES
from repro.vbackchecker.config import HELD_OUT, VbackcheckerConfig
from repro.vbackchecker.data import (
    draft_images,
    generate,
    load_released,
    load_splits,
    scene_tensors,
    write_splits,  # fmt: skip
)
from repro.vbackchecker.evaluate import (
    TRIVIAL,
    ciou,
    detection_scores,
    grounding_scores,
    results_table,
    trivial_verdicts,  # fmt: skip
)
from repro.vbackchecker.models import Checker, count_parameters
from repro.vbackchecker.recipes import RECIPES
from repro.vbackchecker.text import Vocab
from repro.vbackchecker.training import (
    Trained,
    arm_rows,
    build_model,
    pretrain_grounder,
    split_rows,
    train_arm,
    verdicts,  # fmt: skip
)

pipe = Pipeline("vbackchecker")
DATA_FIELDS = ("data_source", "image_size", "n_train", "n_val", "n_bench", "n_refer", "per_scene", "max_objects",
               "noise", "train_operators", "data_seed")  # fmt: skip
MODEL_FIELDS = ("checker", "judge", "loss", "optim", "arms", "seeds", "device", "mixed_precision")


@pipe.step(uses=DATA_FIELDS)
def data(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Scenes, R-Instruct rows, the mini R^2-HalBench and the referring split; written in the real
    formats and read back through their loaders into one ``DatasetDict`` (``data_source="released"``:
    the released files through their manifests)."""
    if cfg.data_source == "released":
        tables = load_released(cfg.image_size)
    else:
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


@pipe.step(uses=("pretrain", "checker", "loss", "image_size", "seeds", "device", "mixed_precision"),
           upstream=("data",))  # fmt: skip
def pretrain(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """The grounders the checker arms fine-tune from: referring expressions of the training scenes, the
    checker's network and objective, one checkpoint per seed (each seed's grounder is its own draw; a
    job each, as in ``train``); ``pretrain.steps`` = 0: none."""
    if cfg.pretrain.steps == 0:
        return {"steps": 0}
    done = jobs.run(
        [Job(f"pretrain s{seed}", pretrain_one, (cfg, seed, ctx.upstream["data"], ctx.dir), seed=seed)
         for seed in cfg.seeds],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    budget = Budget()
    for seed, job in zip(cfg.seeds, done):
        losses, fitted_budget, n_rows = job.value
        budget = budget.merge(fitted_budget)
        ctx.log(f"pretrain s{seed}: loss {losses[0]:.3f} -> {losses[-1]:.3f} ({fitted_budget.wall_s:.1f} s, "
                f"{n_rows} rows)")  # fmt: skip
    write_json(ctx.dir / artifacts.BUDGET, {"pretrain": budget.to_dict()})
    return {"steps": cfg.pretrain.steps, "phrase_steps": cfg.pretrain.phrase_steps, "seeds": list(cfg.seeds),
            "wall_s": round(budget.wall_s, 1)}  # fmt: skip


def pretrain_one(cfg: VbackcheckerConfig, seed: int, data_dir, out_dir) -> tuple:
    """One seed's job of :func:`pretrain`: its grounder written to ``out_dir``. Returns its losses, its
    budget and the rows of its last stage."""
    tables = artifacts.load_tables(data_dir)
    scenes = scene_tensors(tables["scenes"])
    model, fitted, n_rows = pretrain_grounder(tables["train"], scenes, tables["scenes"]["objects"], cfg.checker,
                                              cfg.loss, cfg.pretrain, seed, make_accelerator(cfg))  # fmt: skip
    artifacts.save_pretrained(out_dir, seed, model)
    return [round(v, 5) for v in fitted.losses], fitted.budget, n_rows


@pipe.step(uses=(*MODEL_FIELDS, "image_size", "eval_batch"), upstream=("data", "pretrain"))
def train(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Train every arm on every seed with the same optimizer steps (the checker arms from the pretrained
    grounder), each (arm, seed) a job (``repro.core.jobs``: side by side on free cores, with the same
    weights whatever runs them); keep weights, losses and the ledger."""
    todo = [(arm, seed) for seed in cfg.seeds for arm in cfg.arms]
    done = jobs.run(
        [Job(f"{arm} s{seed}", train_one, (cfg, arm, seed, ctx.upstream["data"], ctx.upstream["pretrain"], ctx.dir),
             seed=seed) for arm, seed in todo],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    history: dict[str, list] = {}
    budgets: dict[str, Budget] = {}
    for (arm, seed), job in zip(todo, done):
        losses, budget, n_rows = job.value
        history.setdefault(arm, []).append(losses)
        budgets[arm] = budgets.get(arm, Budget()).merge(budget)
        ctx.log(f"seed {seed} {arm}: loss {losses[0]:.3f} -> {losses[-1]:.3f} ({budget.wall_s:.1f} s, {n_rows} rows)")
    write_json(ctx.dir / artifacts.HISTORY, history)
    ledger = {arm: b.to_dict() for arm, b in budgets.items()}
    if cfg.pretrain.steps:  # the checkpoints' cost, one per seed, shared by the seed's checker arms
        ledger |= artifacts.load_budget(ctx.upstream["pretrain"])
    write_json(ctx.dir / artifacts.BUDGET, ledger)
    return {arm: {"final_loss": round(float(np.mean([h[-1] for h in runs])), 4)} for arm, runs in history.items()}


def train_one(cfg: VbackcheckerConfig, arm: str, seed: int, data_dir, pretrain_dir, out_dir) -> tuple:
    """One (arm, seed) job of :func:`train`: the arm's rows, its training from the pretrained grounder,
    its weights written to ``out_dir``. Returns its per-epoch losses, its budget and its row count."""
    tables = artifacts.load_tables(data_dir)
    scenes = scene_tensors(tables["scenes"])
    val = split_rows(tables["val"], scenes, cfg.checker.max_len)
    val = val.subset(np.asarray(tables["val"]["kind"]) != "easy")  # drawn like the benchmark: no unrelated rows
    init = artifacts.load_pretrained(pretrain_dir, seed, Checker(cfg.checker, len(Vocab.build().words), cfg.image_size))
    rows = arm_rows(tables["train"], scenes, arm, cfg.checker.max_len)
    trained = train_arm(arm, rows, val, torch.from_numpy(scenes.images), cfg.checker, cfg.judge, cfg.loss, cfg.optim,
                        seed, make_accelerator(cfg), cfg.eval_batch, init)  # fmt: skip
    artifacts.save_trained(out_dir, arm, seed, trained.model, trained.threshold)
    return [round(v, 5) for v in trained.fitted.losses], trained.fitted.budget, len(rows.image_ids)


@pipe.step(uses=(*MODEL_FIELDS, "image_size", "eval_batch"), upstream=("data", "train"))
def evaluate(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Detection on the mini R^2-HalBench and grounding on the referring split for every arm, trivial
    reference and seed; the gates on the validation split; the claims decided by the kit's rule."""
    tables = artifacts.load_tables(ctx.upstream["data"])
    scenes = scene_tensors(tables["scenes"])
    images = torch.from_numpy(scenes.images)
    splits = {name: split_rows(tables[name], scenes, cfg.checker.max_len, with_answer=False)
              for name in ("bench", "refer", "val")}  # fmt: skip
    per_seed: dict[str, dict[str, list]] = {}
    cious: dict[str, list[float]] = {}
    predictions: dict[str, np.ndarray] = {}
    gates: dict[str, list[float]] = {}

    def record(arm: str, bench_accept: np.ndarray, refer: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """One seed's per-item scores of ``arm`` (and its grounding scores when it grounds)."""
        metrics = detection_scores(bench_accept, tables["bench"]["error_type"], tables["bench"]["operator"], HELD_OUT)
        if refer is not None:
            metrics |= grounding_scores(*refer, splits["refer"].masks)
            cious.setdefault(arm, []).append(ciou(refer[1], splits["refer"].masks))
        for metric, values in metrics.items():
            per_seed.setdefault(metric, {}).setdefault(arm, []).append(values)

    for seed in cfg.seeds:
        for arm in cfg.arms:
            net = build_model(arm, cfg.checker, cfg.judge, cfg.image_size)
            net, threshold = artifacts.load_trained(ctx.upstream["train"], arm, seed, net)
            trained = Trained(net, None, threshold)
            out = {name: verdicts(arm, trained, rows, images, cfg.eval_batch) for name, rows in splits.items()}
            record(arm, out["bench"].accept, (out["refer"].accept, out["refer"].masks))
            if arm in ("checker", "grounder"):
                for name, value in gate_values(arm, out["val"], tables["val"], splits["val"]).items():
                    gates.setdefault(name, []).append(value)
            if seed == cfg.seeds[0]:
                predictions |= {f"bench_margin__{arm}": out["bench"].margin,
                                f"refer_margin__{arm}": out["refer"].margin,
                                f"refer_masks__{arm}": out["refer"].masks}  # fmt: skip
        for name in TRIVIAL:
            bench, refer = (trivial_verdicts(name, len(rows.image_ids), every_object(rows, scenes))
                            for rows in (splits["bench"], splits["refer"]))  # fmt: skip
            record(name, bench[0], refer)
        started = time.perf_counter()
        prior_accept, leak_bacc = text_prior(tables, seed)
        record("text_prior", prior_accept)
        gates.setdefault("text_prior_reads_a_leak", []).append(leak_bacc)
        prior_s = time.perf_counter() - started
    scores = {metric: {arm: np.stack(v) for arm, v in arms.items()} for metric, arms in per_seed.items()}
    for metric in scores:  # a coin-flip judge's expected score per item
        if metric.startswith("bacc_") or metric == "pos_minus_neg":
            scores[metric]["chance"] = np.full_like(
                scores[metric]["always_accept"], 0.0 if metric == "pos_minus_neg" else 50.0
            )
    save_scores(ctx.dir / artifacts.SCORES, scores)
    np.savez_compressed(ctx.dir / artifacts.PREDICTIONS, **predictions)
    budget = artifacts.load_budget(ctx.upstream["train"])
    budget |= {name: Budget().to_dict() for name in ("chance", *TRIVIAL)}
    budget["text_prior"] = Budget(wall_s=prior_s * len(cfg.seeds)).to_dict()
    val_positives = splits["val"].subset(splits["val"].grounded)
    floor = grounding_scores(np.ones(len(val_positives.image_ids), bool), every_object(val_positives, scenes),
                             val_positives.masks)["target_iou"].mean()  # fmt: skip
    doc = claims_document(
        paper="vbackchecker",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "pretrain_steps": cfg.pretrain.steps,
            "steps_per_arm": cfg.optim.epochs * cfg.optim.steps_per_epoch,
            "batch_size": cfg.optim.batch_size,
            "bench_items": len(tables["bench"]),
            "refer_items": len(tables["refer"]),
            "held_out_operators": list(HELD_OUT),
            "val_every_object_target_iou": round(float(floor), 2),
        },
        claims=measured_claims(CLAIMS, scores),
        scores=scores,
        table=results_table(scores, {arm: {"ciou": float(np.mean(v))} for arm, v in cious.items()}),
        budget=budget,
        cannot_show=CANNOT_SHOW,
        gates=[g for g in GATES if g.name in gates],
        gate_values=gates,
    )
    write_json(ctx.dir / artifacts.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


def every_object(rows, scenes) -> np.ndarray:
    """The union of every object of each row's scene ``(n, H, W)`` (the mask_all reference)."""
    return scenes.masks[rows.image_ids].any(1)


def gate_values(arm: str, out, table, rows) -> dict[str, float]:
    """One seed's gate measurement of ``arm`` on the validation split (rows encoded as prompts)."""
    if arm == "grounder":
        grounded = rows.grounded
        iou = grounding_scores(out.accept[grounded], out.masks[grounded], rows.masks[grounded])["target_iou"]
        return {"grounder_target_iou": float(iou.mean())}
    kinds, types = np.asarray(table["kind"]), np.asarray(table["error_type"])
    keep = (kinds == "positive") | ((kinds == "hard") & (types == "object"))
    scores = detection_scores(out.accept[keep], types[keep], np.asarray(table["operator"])[keep], HELD_OUT)
    return {"checker_object_bacc": float(scores["bacc_object"].mean())}


def text_prior(tables, seed: int) -> tuple[np.ndarray, float]:
    """The text prior's verdicts on the benchmark, and its gate: the balanced accuracy it reaches on the
    validation rows when a word is planted in half the hallucinated training and validation rows."""
    from sklearn.metrics import balanced_accuracy_score

    def rows(split):
        keep = np.isin(np.asarray(tables[split]["kind"]), RECIPES["checker"].kinds)
        return np.asarray(tables[split]["sentence"], object)[keep], np.asarray(tables[split]["no_target"])[keep]

    (train_text, train_bad), (val_text, val_bad) = rows("train"), rows("val")
    prior = fit_text_prior(train_text, train_bad, seed)
    rng = np.random.default_rng(seed)
    leaky = fit_text_prior(plant_leak(train_text, train_bad, rng), train_bad, seed)
    planted = plant_leak(val_text, val_bad, rng)
    leak_bacc = 100.0 * balanced_accuracy_score(val_bad, ~text_prior_accept(leaky, planted))
    return text_prior_accept(prior, tables["bench"]["sentence"]), float(leak_bacc)


@pipe.step(uses=(*MODEL_FIELDS, "image_size"), upstream=("data", "train", "evaluate"))
def figures(cfg: VbackcheckerConfig, ctx: StepContext) -> dict:
    """Example verdicts with masks, per-level bars, confusion matrices and loss curves."""
    written = draw.all_figures(ctx.upstream, ctx.dir)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
