"""MMARD's five steps; each notebook calls one. ``python -m repro step mmard <step> --profile cpu``
runs one outside Jupyter (also under ``accelerate launch``)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from repro.core.claims import claims_document
from repro.core.images import load_saved_split, save_split
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget
from repro.core.weights import load_config, load_weights, save_weights
from repro.mmard import figures as draw
from repro.mmard.attacks import attack_suite
from repro.mmard.claims import CANNOT_SHOW, CLAIMS
from repro.mmard.config import MmardConfig
from repro.mmard.data import load_split
from repro.mmard.evaluate import points, results_table, score_arms
from repro.mmard.method import USES_TEACHER
from repro.mmard.models import NetSpec, build_net, student_spec, teacher_spec
from repro.mmard.training import hp_at, train_net

pipe = Pipeline("mmard")
TRAIN_FIELDS = ("batch_size", "lr", "weight_decay", "hp", "image_size", "device", "mixed_precision")


def arm_file(arm: str) -> str:
    return arm.replace("/", "__").replace("@", "_at_")


def student_arms(cfg: MmardConfig) -> list[tuple[str, str, str | None, float]]:
    """(arm, method, teacher, eps) for every student to train: teacher-free methods once, distillation
    methods with the main teacher (and with every teacher for ``teacher_swap_methods``), and the
    eps = 0 controls with the main teacher. The run matrix is trimmed to what the claims compare."""
    arms = []
    for method in cfg.methods:
        if method not in USES_TEACHER:
            teachers = (None,)
        elif method in cfg.teacher_swap_methods:
            teachers = cfg.teachers
        else:
            teachers = (cfg.main_teacher,)
        arms += [(method if t is None else f"{method}/{t}", method, t, cfg.hp.eps) for t in teachers]
    arms += [(f"{m}/{cfg.main_teacher}@eps0", m, cfg.main_teacher, 0.0) for m in cfg.control_methods]
    return arms


def load_net(path) -> torch.nn.Module:
    return load_weights(build_net(NetSpec(**load_config(path))), path).eval()


@pipe.step(uses=("data_source", "image_size", "test_fraction", "data_seed", "train_limit", "eval_limit"))
def data(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Load and split the data; keep ``train_limit`` / ``eval_limit`` images when set (smoke)."""
    split = load_split(cfg.data_source, cfg.image_size, cfg.test_fraction, cfg.data_seed)
    if cfg.train_limit:
        split["x_train"], split["y_train"] = split["x_train"][: cfg.train_limit], split["y_train"][: cfg.train_limit]
    if cfg.eval_limit:
        split["x_test"], split["y_test"] = split["x_test"][: cfg.eval_limit], split["y_test"][: cfg.eval_limit]
    save_split(split, ctx.dir / "split.npz")
    return {
        "train": list(split["x_train"].shape),
        "test": list(split["x_test"].shape),
        "classes": int(len(np.unique(split["y_train"]))),
        "eps": cfg.hp.eps,
        "pixel_range": [float(split["x_train"].min()), float(split["x_train"].max())],
    }


@pipe.step(uses=("teachers", "teacher_epochs", "data_seed", *TRAIN_FIELDS), upstream=("data",))
def model(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Train each teacher with TRADES (beta 6) and measure its clean and PGD-20 accuracy."""
    split = load_saved_split(ctx.upstream["data"] / "split.npz")
    accelerator = make_accelerator(cfg)
    suite = attack_suite(cfg.hp.eps, seed=cfg.data_seed)
    x_te, y_te = split["x_test"].to(accelerator.device), split["y_test"].to(accelerator.device)
    summary = {}
    for size in cfg.teachers:
        spec = teacher_spec(size, cfg.image_size)
        net, fitted = train_net(
            cfg,
            spec,
            "trades",
            split["x_train"],
            split["y_train"],
            seed=cfg.data_seed,
            epochs=cfg.teacher_epochs,
            accelerator=accelerator,
            desc=f"teacher {size}",
        )
        save_weights(net, ctx.dir / f"teacher_{size}", asdict(spec))
        seed_everything(cfg.data_seed)  # the attack's random start, independent of the training history
        summary[size] = {
            "params": sum(p.numel() for p in net.parameters()),
            "losses": [round(v, 4) for v in fitted.losses],
            "clean": float(points(net, x_te, y_te, None).mean()),
            "pgd20": float(points(net, x_te, y_te, suite["pgd20"]).mean()),
            "budget": fitted.budget.to_dict(),
        }
        ctx.log(f"teacher {size}: clean {summary[size]['clean']:.1f}, PGD-20 {summary[size]['pgd20']:.1f}")
    return summary


@pipe.step(
    uses=(
        "methods",
        "teachers",
        "main_teacher",
        "teacher_swap_methods",
        "student_epochs",
        "seeds",
        "control_methods",
        *TRAIN_FIELDS,
    ),
    upstream=("data", "model"),
)
def train(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Distil (or train) one student per method, teacher and seed; controls at eps = 0."""
    split = load_saved_split(ctx.upstream["data"] / "split.npz")
    accelerator = make_accelerator(cfg)
    teachers = {size: load_net(ctx.upstream["model"] / f"teacher_{size}") for size in cfg.teachers}
    spec = student_spec(cfg.image_size)
    history, budgets = {}, {}
    for arm, method, teacher, eps in student_arms(cfg):
        budgets[arm], history[arm] = Budget(), []
        for seed in cfg.seeds:
            net, fitted = train_net(
                cfg,
                spec,
                method,
                split["x_train"],
                split["y_train"],
                seed=seed,
                epochs=cfg.student_epochs,
                accelerator=accelerator,
                teacher=teachers.get(teacher),
                hp=hp_at(cfg.hp, eps),
                desc=f"{arm} s{seed}",
            )
            save_weights(net, ctx.dir / "students" / f"{arm_file(arm)}_seed{seed}", asdict(spec))
            history[arm].append(fitted.losses)
            budgets[arm] = budgets[arm].merge(fitted.budget)
        ctx.log(
            f"{arm}: final loss {np.mean([h[-1] for h in history[arm]]):.4f} "
            f"({budgets[arm].wall_s:.1f} s for {len(cfg.seeds)} seeds)"
        )
    write_json(ctx.dir / "history.json", history)
    write_json(ctx.dir / "budget.json", {arm: b.to_dict() for arm, b in budgets.items()})
    return {
        "arms": len(history),
        "students": len(history) * len(cfg.seeds),
        "student_params": sum(p.numel() for p in build_net(spec).parameters()),
    }


@pipe.step(
    uses=("seeds", "hp", "eps_sweep", "autoattack_methods", "main_teacher", "autoattack_subset", "device", "data_seed"),
    upstream=("data", "model", "train"),
)
def evaluate(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Attack every student (FGSM, PGD-20, CW-inf, the eps sweep; AutoAttack on the claims' arms) and
    decide the claims by the kit's paired-bootstrap rule."""
    split = load_saved_split(ctx.upstream["data"] / "split.npz")
    device = make_accelerator(cfg).device
    x, y = split["x_test"].to(device), split["y_test"].to(device)
    arms = [arm for arm, *_ in student_arms(cfg)]
    students = {
        arm: [load_net(ctx.upstream["train"] / "students" / f"{arm_file(arm)}_seed{s}").to(device) for s in cfg.seeds]
        for arm in arms
    }
    scores, curves = score_arms(cfg, students, x, y)
    np.savez(ctx.dir / "scores.npz", **{f"{metric}|{arm}": v for metric, d in scores.items() for arm, v in d.items()})
    write_json(ctx.dir / "sweep.json", {"eps": list(cfg.eps_sweep), "pgd20": curves})
    teachers = {
        size: {k: v[k] for k in ("clean", "pgd20")}
        for size, v in read_json(ctx.upstream["model"] / "step.json")["summary"].items()
    }
    doc = claims_document(
        paper="mmard",
        run={"profile": cfg.profile, "run_name": cfg.run_name, "seeds": list(cfg.seeds)},
        claims=CLAIMS,
        scores=scores,
        table=results_table(scores, teachers),
        budget=read_json(ctx.upstream["train"] / "budget.json"),
        cannot_show=CANNOT_SHOW,
    )
    write_json(ctx.dir / "claims.json", doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


@pipe.step(uses=("hp", "eps_sweep", "seeds"), upstream=("data", "train", "evaluate"))
def figures(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Clean vs robust scatter, robustness vs eps, adversarial examples, training curves."""
    written = draw.all_figures(cfg, ctx.upstream, ctx.dir)
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}


def check_models(cfg: MmardConfig) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    """Every network a profile builds, with a tiny input batch (the config-rot test runs this for
    ``gpu`` and ``paper`` on CPU)."""
    channels = 3 if cfg.data_source == "cifar10" else 1
    batch = torch.rand(2, channels, cfg.image_size, cfg.image_size)
    specs = {f"teacher_{t}": teacher_spec(t, cfg.image_size, channels) for t in cfg.teachers}
    specs["student"] = student_spec(cfg.image_size, channels)
    return {name: (build_net(spec), batch) for name, spec in specs.items()}
