"""dFLMoE's five steps; each notebook calls one. ``python -m repro step dflmoe <step> --profile cpu``
runs one outside Jupyter; ``torchrun ... -m repro.dflmoe.distributed`` runs dFLMoE with one process
per client (see :mod:`repro.dflmoe.distributed`)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from repro.core import jobs
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import configure
from repro.core.scores import measured_claims, save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.dflmoe import artifacts as files
from repro.dflmoe import figures as draw
from repro.dflmoe.claims import CANNOT_SHOW, CLAIMS, GATES, PRIOR
from repro.dflmoe.config import DflmoeConfig
from repro.dflmoe.data import save_task
from repro.dflmoe.evaluate import budget_ledger, gate_values, prior_scores, results_table, scores
from repro.dflmoe.federation import simulate
from repro.dflmoe.method import make_method
from repro.dflmoe.models import client_specs, count_params, init_params, tensor_bytes
from repro.dflmoe.runs import aliases, arms, build_tasks, faults, main_task

pipe = Pipeline("dflmoe")
DATA_FIELDS = (
    "seeds", "data_source", "n_clients", "alphas", "iid_alpha", "min_client_size", "test_fraction", "feature_shift",
    "image_size", "data_seed", "breast_cancer_methods", "control_methods",
)  # fmt: skip
MODEL_FIELDS = ("model",)
TRAIN_FIELDS = (
    "seeds", "rounds", "local_epochs", "batch_size", "lr", "moe_alpha", "prox_mu", "proto_lambda", "fedrep_form",
    "fedproto_form", "graph", "methods", "hetero_methods", "fault_methods", "fault_alpha", "drop_rate", "lost_client",
    "lost_round", "server_down_start", "server_down_rounds", "eval_every", *MODEL_FIELDS,
)  # fmt: skip


@pipe.step(uses=DATA_FIELDS)
def data(cfg: DflmoeConfig, ctx: StepContext) -> dict:
    """Partition the data over clients: Dirichlet label skew (digits), feature skew (breast cancer)."""
    summary = {}
    for seed in cfg.seeds:
        for name, task in build_tasks(cfg, seed).items():
            path = files.task_file(ctx.dir, name, seed)
            path.parent.mkdir(exist_ok=True)
            save_task(task, path)
    for name, task in files.load_tasks(ctx.dir, cfg.seeds[0]).items():  # the first seed's partitions
        summary[name] = {
            "clients": len(task.clients),
            "classes": task.n_classes,
            "features": task.in_dim,
            "train": task.sizes("train").tolist(),
            "test": task.sizes("test").tolist(),
            "classes_per_client": (task.label_counts() > 0).sum(1).tolist(),
        }
    return summary


@pipe.step(uses=(*MODEL_FIELDS, "n_clients", "data_seed"), upstream=("data",))
def model(cfg: DflmoeConfig, ctx: StepContext) -> dict:
    """Every client's body, head and MoE on the main partition: parameter counts and message sizes."""
    task = files.load_tasks(ctx.upstream["data"], cfg.seeds[0])[main_task(cfg)]
    summary = {}
    for setting, hetero in (("homogeneous", False), ("heterogeneous", True)):
        clients = []
        for i, spec in enumerate(client_specs(cfg.n_clients, cfg.model.hidden, hetero, task.image_shape is not None)):
            _, p = init_params(spec, task.in_dim, cfg.model.feature_dim, task.n_classes, task.image_shape, i,
                               cfg.n_clients, cfg.model.attn_dim)  # fmt: skip
            clients.append({"body": spec.label, **{k: count_params(p, k) for k in ("body", "head", "moe")}})
        summary[setting] = clients
    dims = cfg.model
    _, p = init_params(client_specs(1, dims.hidden, False, True)[0], task.in_dim, dims.feature_dim, task.n_classes,
                       task.image_shape, 0)  # fmt: skip
    head, whole = tensor_bytes({k: v for k, v in p.items() if k.startswith("head")}), tensor_bytes(p)
    n = cfg.n_clients
    proto = task.n_classes * (cfg.model.feature_dim + 1) * 4
    summary["message_bytes"] = {"head": head, "body": whole - head, "model": whole, "prototypes": proto}
    # bytes per fault-free round on the all-to-all graph (the train step counts them from what is sent)
    summary["bytes_per_round"] = {
        "dflmoe": head * n * (n - 1),
        "dpsgd": whole * n * (n - 1),
        "fedavg": 2 * whole * n,
        "fedper/fedrep": 2 * (whole - head) * n,
        "lg_fedavg": 2 * head * n,
        "fedproto": proto * n + task.n_classes * cfg.model.feature_dim * 4 * n,
        "local": 0,
    }
    write_json(ctx.dir / files.MODELS, summary)
    return summary


@pipe.step(uses=TRAIN_FIELDS, upstream=("data",))
def train(cfg: DflmoeConfig, ctx: StepContext) -> dict:
    """Simulate every arm of the run matrix for every seed (same rounds, epochs, optimiser, data order),
    each (arm, seed) a job (``repro.core.jobs``): side by side on free cores or on a Dask cluster, with
    the same federations whatever runs them (each simulation seeds its own generators)."""
    configure(cfg)
    todo = [(arm, seed) for arm in arms(cfg) for seed in cfg.seeds]
    done = jobs.run(
        [Job(f"{arm.name} s{seed}", simulate_arm, (cfg, arm, seed, ctx.upstream["data"]), seed=seed)
         for arm, seed in todo],
        threads=cfg.threads, device="cpu", record=ctx.dir / "jobs.json",
    )  # fmt: skip
    runs: dict[str, dict[str, list[dict]]] = {}
    for (arm, _), job in zip(todo, done):
        runs.setdefault(arm.metric, {}).setdefault(arm.name, []).append(job.value)
    for arm in arms(cfg):
        results = runs[arm.metric][arm.name]
        acc = np.mean([r["client_acc"] for r in results])
        wall = sum(d.wall_s for (a, _), d in zip(todo, done) if a == arm)
        ctx.log(f"{arm.metric:>14} {arm.name:<22} mean client acc {acc:5.1f}  ({wall:.0f} s of jobs)")
    for (metric, alias), source in aliases(cfg).items():
        runs[metric][alias] = runs[metric][source]
    write_json(ctx.dir / files.RUNS, runs)
    return {"arms": sum(len(v) for v in runs.values()), "runs": sum(len(v) for v in runs.values()) * len(cfg.seeds)}


def simulate_arm(cfg: DflmoeConfig, arm, seed: int, data_dir) -> dict:
    """One (arm, seed) job of :func:`train`: the federation on that seed's partition of the arm's task."""
    task = files.load_tasks(data_dir, seed)[arm.metric]
    specs = client_specs(len(task.clients), cfg.model.hidden, arm.hetero, task.image_shape is not None)
    method = make_method(arm.method, len(task.clients), moe_alpha=cfg.moe_alpha, prox_mu=cfg.prox_mu,
                         proto_lambda=cfg.proto_lambda, fedrep_form=cfg.fedrep_form,
                         fedproto_form=cfg.fedproto_form)  # fmt: skip
    dims = cfg.model
    run = simulate(task, method, cfg.schedule, seed, specs, faults(cfg, arm.fault, arm.method), arm.graph,
                   feature_dim=dims.feature_dim, attn_dim=dims.attn_dim, transform=dims.transform,
                   rank=dims.rank)  # fmt: skip
    return asdict(run)


@pipe.step(uses=TRAIN_FIELDS, upstream=("data", "train"))
def evaluate(cfg: DflmoeConfig, ctx: StepContext) -> dict:
    """Per-example scores, the results table and the budget ledger; the claims by the kit's rule."""
    runs = read_json(ctx.upstream["train"] / files.RUNS)
    prior = prior_scores([files.load_tasks(ctx.upstream["data"], seed) for seed in cfg.seeds])
    measured = scores(runs)
    for metric, acc in prior.items():
        if metric in measured:
            measured[metric][PRIOR] = acc
    save_scores(ctx.dir / files.SCORES, measured)
    claims = measured_claims(CLAIMS, measured)
    doc = claims_document(
        paper="dflmoe",
        run={
            "profile": cfg.profile,
            "run_name": cfg.run_name,
            "seeds": list(cfg.seeds),
            "skipped_claims": [c.id for c in CLAIMS if c not in claims],
            "transform": cfg.model.transform,
            "fedrep_form": cfg.fedrep_form,
            "fedproto_form": cfg.fedproto_form,
        },  # fmt: skip
        claims=claims,
        scores=measured,
        table=results_table(runs, prior),
        budget=budget_ledger(runs),
        cannot_show=CANNOT_SHOW,
        gates=GATES,
        gate_values=gate_values(runs, main_task(cfg)),
    )
    write_json(ctx.dir / files.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


@pipe.step(uses=TRAIN_FIELDS, upstream=("data", "train", "evaluate"))
def figures(cfg: DflmoeConfig, ctx: StepContext) -> dict:
    """Label heatmap, accuracy vs round, per-client bars, gate weights, fault curves."""
    written = draw.all_figures(
        ctx.upstream,
        ctx.dir,
        matrix=arms(cfg),
        main=main_task(cfg),
        same_run={arm for (_, arm) in aliases(cfg)},  # a serverless method's outage arm is its fault-free run
        graph=cfg.graph,
        drop_rate=cfg.drop_rate,
        seed=cfg.seeds[0],  # the first seed's partitions
    )
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
