"""MODS's five steps; each notebook calls one. ``python -m repro step mods <step> --profile cpu``
runs one outside Jupyter (also under ``accelerate launch``)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from repro.core import jobs
from repro.core.arms import Arm
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import configure, make_accelerator
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget, FitResult
from repro.core.weights import save_weights
from repro.mods import artifacts
from repro.mods import data as mdata
from repro.mods import figures as draw
from repro.mods.artifacts import load_model, load_set, model_file
from repro.mods.claims import CANNOT_SHOW, CLAIMS, GATES
from repro.mods.config import CONTROL, ModsConfig
from repro.mods.evaluate import (
    CHANCE_SELECTOR,
    MODALITY_NAMES,
    example_scores,
    gate_values,
    linear_probe,
    mmsa_metrics,
    results_table,
    selector_hits,
    trivial_probe,
    trivial_scores,
)
from repro.mods.method import arm_spec, build_model, uses_nce
from repro.mods.training import INPUTS, dims_of, predict, train_arm

pipe = Pipeline("mods")
DATA_FIELDS = (
    "data_source", "mmsa_file", "n_train", "n_valid", "n_test", "text_len", "av_len", "text_dim", "audio_dim",
    "vision_dim", "noise", "redundancy", "signal_fraction", "distractor_corr", "noise_sweep", "data_seed",
)  # fmt: skip
MODEL_FIELDS = ("model", "text_len")  # text_len: GDC's default number of nodes
TRAIN_FIELDS = ("arms", "control_arms", "epochs", "batch_size", "lr", "weight_decay", "alpha", "seeds", "threads",
                "device", "mixed_precision", *MODEL_FIELDS)  # fmt: skip


def main_set(cfg: ModsConfig) -> str:
    return artifacts.main_set(cfg.data_source)


def runs(cfg: ModsConfig) -> list[tuple[Arm, str]]:
    """(arm, data set) for every model to train: each arm on the main set, and the control arms
    (condition ``language``) on the language-always set (synthetic data only). The run matrix is
    what the claims compare."""
    todo = [(Arm(method), main_set(cfg)) for method in cfg.arms]
    if cfg.data_source == "synthetic":
        todo += [(Arm(method, CONTROL), CONTROL) for method in cfg.control_arms]
    return todo


@pipe.step(uses=DATA_FIELDS)
def data(cfg: ModsConfig, ctx: StepContext) -> dict:
    """Generate the varying and language-always sets (and the noise-swept test sets) in the MMSA
    schema, or read a real MMSA pickle after its sha256 matched; write model-ready tensors."""
    if cfg.data_source == "synthetic":
        spec, sizes = mdata.SynthSpec.from_config(cfg), {"train": cfg.n_train, "valid": cfg.n_valid, "test": cfg.n_test}
        raw = {name: mdata.synthetic_dataset(spec, sizes, cfg.data_seed, language_always=name == CONTROL)
               for name in ("varying", CONTROL)}  # fmt: skip
        raw[artifacts.SWEEP] = mdata.noise_sweep(spec, cfg.n_test, cfg.noise_sweep, cfg.data_seed)
        for name, mmsa in raw.items():
            mdata.save_pickle(mmsa, ctx.dir / f"{name}.pkl")
        sets = {name: mdata.to_dataset(mmsa, name) for name, mmsa in raw.items()}
    else:
        rel = f"{cfg.data_source.upper()}/Processed/{cfg.mmsa_file}"
        sets = {"real": mdata.load_mmsa(cfg.data_source, rel)}
    summary = {}
    for name, dataset in sets.items():
        artifacts.save_set(dataset, ctx.dir, name)
        if name == artifacts.SWEEP:
            continue
        for split in mdata.SPLITS:
            rows = dataset[split]
            summary[f"{name}/{split}"] = {k: [rows.num_rows, *rows.features[k].shape] for k in mdata.MODALITIES}
    return summary


@pipe.step(uses=(*MODEL_FIELDS, "arms"), upstream=("data",))
def model(cfg: ModsConfig, ctx: StepContext) -> dict:
    """Build every arm on a tiny batch: parameter counts and the shapes through GDC, MSelector, PCCA."""
    configure(cfg)
    train = load_set(ctx.upstream["data"], main_set(cfg), "train")
    batch = {k: v[:4] for k, v in train.items() if k in INPUTS}
    base = cfg.model_for(dims_of(train))
    summary = {"spec": asdict(base), "params": {}}
    for arm in cfg.arms:
        net = build_model(arm_spec(base, arm)).eval()
        with torch.no_grad():
            pred = net(batch)
        assert pred.shape == (4,) and torch.isfinite(pred).all(), f"{arm}: bad output {pred.shape}"
        summary["params"][arm] = sum(p.numel() for p in net.parameters())
    return summary


@pipe.step(uses=TRAIN_FIELDS, upstream=("data",))
def train(cfg: ModsConfig, ctx: StepContext) -> dict:
    """Train every arm with every seed (same init seed, data order, epochs and optimizer), each
    (arm, seed) a job (``repro.core.jobs``): side by side on free cores or on a Dask cluster, with
    the same models whatever runs them."""
    todo = [(arm, name, seed) for arm, name in runs(cfg) for seed in cfg.seeds]
    done = jobs.run(
        [Job(f"{arm.name} s{seed}", train_one, (cfg, arm, name, seed, ctx.upstream["data"], ctx.dir), seed=seed)
         for arm, name, seed in todo],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    history, budgets = {}, {}
    for (arm, _, _), job in zip(todo, done):
        history.setdefault(arm.name, []).append(job.value.losses)
        budgets[arm.name] = budgets.get(arm.name, Budget()).merge(job.value.budget)
    for key in history:
        ctx.log(f"{key}: final loss {np.mean([h[-1] for h in history[key]]):.4f} ({budgets[key].wall_s:.1f} s)")
    write_json(ctx.dir / "history.json", history)
    write_json(ctx.dir / "budget.json", {k: b.to_dict() for k, b in budgets.items()})
    return {"models": len(history) * len(cfg.seeds), "arms": list(history)}


def train_one(cfg: ModsConfig, arm: Arm, name: str, seed: int, data_dir, out_dir) -> FitResult:
    """One (arm, seed) job of :func:`train`: train on data set ``name`` and save the weights in ``out_dir``."""
    accelerator = make_accelerator(cfg)
    data = load_set(data_dir, name, "train")
    spec = arm_spec(cfg.model_for(dims_of(data)), arm.method)
    net, fitted = train_arm(
        spec,
        data,
        alpha=cfg.alpha if uses_nce(arm.method) else 0.0,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        seed=seed,
        accelerator=accelerator,
        desc=f"{arm.name} s{seed}",
    )
    save_weights(net, out_dir / model_file(arm, seed), asdict(spec))
    return fitted


@pipe.step(uses=(*TRAIN_FIELDS, "noise_sweep", "data_seed"), upstream=("data", "train"))
def evaluate(cfg: ModsConfig, ctx: StepContext) -> dict:
    """MMSA metrics per arm and seed, per-example scores, the selector against the known dominant
    modality and the probes, the noise sweep, the trivial references on the same utterances, the
    gates on the validation split; claims by the kit's rule."""
    configure(cfg)  # the profile's thread count (inference only: no Accelerator needed)
    data_dir, train_dir = ctx.upstream["data"], ctx.upstream["train"]
    tests = {name: load_set(data_dir, name, "test") for _, name in runs(cfg)}
    valids = {name: load_set(data_dir, name, "valid") for _, name in runs(cfg)}
    constant = {name: load_set(data_dir, name, "train")["label"].mean().item() for name in valids}
    gap = {}  # arm -> per seed: the constant predictor's validation MAE minus the model's (the gates)
    has_sweep = artifacts.has_set(data_dir, artifacts.SWEEP)  # the generator's only
    sweep = {
        artifacts.sweep_split(s): load_set(data_dir, artifacts.SWEEP, artifacts.sweep_split(s)) for s in cfg.noise_sweep
    } if has_sweep else {}  # fmt: skip
    scores: dict[str, dict[str, list]] = {}
    per_seed, curves, weights = {}, {}, {}
    for arm, name in runs(cfg):
        key = arm.name
        per_seed[key], curve, gap[key] = [], [], []
        valid_truth = valids[name]["label"].numpy()
        for seed in cfg.seeds:
            net = load_model(train_dir / model_file(arm, seed))
            valid_mae = np.abs(predict(net, valids[name]).pred.numpy() - valid_truth).mean()
            gap[key].append(float(np.abs(constant[name] - valid_truth).mean() - valid_mae))
            out, truth = predict(net, tests[name]), tests[name]["label"].numpy()
            metrics = mmsa_metrics(out.pred.numpy(), truth)
            for metric, values in example_scores(out.pred.numpy(), truth).items():
                scores.setdefault(metric, {}).setdefault(key, []).append(values)
            dominant = tests[name]["dominant"].numpy()
            if out.primary is not None and (dominant >= 0).all():
                hits = selector_hits(out.primary.numpy(), dominant)
                scores.setdefault("selector", {}).setdefault(key, []).append(hits)
                metrics["selector_acc"] = float(hits.mean())
                if seed == cfg.seeds[0] and out.weights is not None:
                    weights[key] = {"weights": out.weights.numpy(), "dominant": dominant}
            if sweep and name == main_set(cfg):
                errors = [np.abs(predict(net, s).pred.numpy() - s["label"].numpy()) for s in sweep.values()]
                scores.setdefault("mae_sweep", {}).setdefault(key, []).append(np.mean(errors, axis=0))
                curve.append([float(e.mean()) for e in errors])
            per_seed[key].append(metrics)
        if curve:
            curves[key] = np.mean(curve, axis=0).tolist()
    scores = {m: {k: np.stack(v) for k, v in arms.items()} for m, arms in scores.items()}
    extra = reference_rows(cfg, data_dir, scores, [s["label"].numpy() for s in sweep.values()])
    probe = extra.get(PROBE_ROW, {}).get("selector_acc")
    for key in set(per_seed) & set(cfg.arms):  # the main set's arms: the probe is read on its test set
        for m in per_seed[key]:
            if probe and "selector_acc" in m:
                m["selector_over_probe"] = m["selector_acc"] / probe  # the probe is the ceiling
    save_scores(ctx.dir / "scores.npz", scores)
    np.savez(ctx.dir / "selector_weights.npz", **{f"{k}|{f}": v for k, d in weights.items() for f, v in d.items()})
    write_json(ctx.dir / "sweep.json", {"noise": list(cfg.noise_sweep), "mae": curves})
    claims = measured_claims(CLAIMS, scores)  # real data: no known dominant modality, no control set
    measured = {c.id for c in claims}
    gates = [g for g in GATES if measured & set(g.covers)]  # a gate over claims left out is left out too
    doc = claims_document(
        paper="mods",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "data": cfg.data_source,
            "selector_acc_per_seed": {
                arm: [round(float(v), 2) for v in s.mean(axis=1)]
                for arm, s in scores.get("selector", {}).items()
                if arm in per_seed
            },
            "valid_mae_gap_per_seed": {arm: [round(v, 4) for v in g] for arm, g in gap.items()},
        },
        claims=claims,
        scores=scores,
        table=results_table(per_seed, extra),
        budget=read_json(train_dir / "budget.json"),
        cannot_show=CANNOT_SHOW,
        gates=gates,
        gate_values=gate_values(gates, claims, gap),
    )
    write_json(ctx.dir / "claims.json", doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


PROBE_ROW = "selector: linear probe (ceiling: trained on the dominant label)"


def reference_rows(cfg: ModsConfig, data_dir, scores: dict, sweep_labels: list) -> dict[str, dict[str, float]]:
    """Reference rows: constant predictions (the training mean and median: the trivial references,
    added to ``scores`` as arms on the same seeds x utterances), the selector at chance, each
    constant modality choice, the trivial probe and the linear probe (the ceiling: it is trained
    on the dominant label); chance and the probes are added to ``scores`` too."""
    name = main_set(cfg)
    train, test = load_set(data_dir, name, "train"), load_set(data_dir, name, "test")
    truth, labels = test["label"].numpy(), train["label"].numpy()
    n_seeds = len(cfg.seeds)
    test_np = {k: v.numpy() for k, v in test.items()}
    for metric, arms in trivial_scores(labels, test_np, sweep_labels, n_seeds).items():
        if metric in scores:
            scores[metric].update(arms)
    rows = {
        "constant (train mean)": mmsa_metrics(np.full_like(truth, labels.mean()), truth),
        "constant (train median)": mmsa_metrics(np.full_like(truth, np.median(labels)), truth),
    }
    if "selector" in scores:
        train_np = {k: v.numpy() for k, v in train.items()}
        probe = trivial_probe(train_np, test_np)
        linear = linear_probe(train_np, test_np)
        scores["selector"]["chance"] = np.full((n_seeds, len(truth)), CHANCE_SELECTOR)
        scores["selector"]["trivial_probe"] = np.tile(probe, (n_seeds, 1))
        scores["selector"]["linear_probe"] = np.tile(linear, (n_seeds, 1))
        rows["selector: chance"] = {"selector_acc": CHANCE_SELECTOR}
        for modality in MODALITY_NAMES:
            rows[f"selector: always {modality}"] = {
                "selector_acc": float(scores["selector"][f"always_{modality}"].mean())
            }
        rows["selector: trivial probe (norm, variance, length)"] = {"selector_acc": float(probe.mean())}
        rows[PROBE_ROW] = {"selector_acc": float(linear.mean())}
    return rows


@pipe.step(uses=("seeds", "noise_sweep", "arms"), upstream=("data", "train", "evaluate"))
def figures(cfg: ModsConfig, ctx: StepContext) -> dict:
    """Metric bars with seed spread, selector weights vs the true dominant modality, GDC's routing on
    one utterance, MAE across the noise sweep, training curves."""
    configure(cfg)
    written = draw.all_figures(ctx.upstream, ctx.dir, seed=cfg.seeds[0], data_source=cfg.data_source,
                               routing="mods" in cfg.arms)  # fmt: skip
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
