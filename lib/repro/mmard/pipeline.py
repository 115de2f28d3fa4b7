"""MMARD's five steps; each notebook calls one. ``python -m repro step mmard <step> --profile cpu``
runs one outside Jupyter (also under ``accelerate launch``). File names and loaders of the steps'
outputs are in :mod:`repro.mmard.artifacts`."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from repro.core import jobs
from repro.core.arms import Arm
from repro.core.claims import claims_document
from repro.core.jobs import Job
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.scores import save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget, FitResult
from repro.core.weights import save_weights
from repro.mmard import artifacts
from repro.mmard import figures as draw
from repro.mmard.attacks import attack_suite
from repro.mmard.claims import CANNOT_SHOW, CLAIMS, GATES
from repro.mmard.config import MmardConfig, TeacherSpec
from repro.mmard.data import load_split
from repro.mmard.evaluate import (
    arm_scores,
    gate_values,
    model_scores,
    points,
    prior_scores,
    results_table,
    soft_label_stats,
)
from repro.mmard.models import net_record, parameter_count
from repro.mmard.training import Student, hp_at, student_arms, train_net

pipe = Pipeline("mmard")
TRAIN_FIELDS = ("batch_size", "lr", "weight_decay", "hp", "image_size", "device", "mixed_precision")
ARM_FIELDS = (
    "methods",
    "main_teacher",
    "swap_teachers",
    "teacher_swap_methods",
    "control_methods",
    "control_teacher",
)
TEACHER_SEED_OFFSET = 1000  # teacher s and student s start from different random states


def students_of(cfg: MmardConfig):
    return student_arms(
        cfg.methods,
        cfg.main_teacher,
        cfg.swap_teachers,
        cfg.teacher_swap_methods,
        cfg.control_methods,
        cfg.control_teacher,
        cfg.hp.eps,
    )


@pipe.step(
    uses=("data_source", "image_size", "test_fraction", "valid_fraction", "data_seed", "train_limit", "eval_limit")
)
def data(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Load and split the data into a typed DatasetDict (train, valid, test); keep ``train_limit`` /
    ``eval_limit`` images when set (smoke)."""
    dataset = load_split(
        cfg.data_source,
        cfg.image_size,
        cfg.test_fraction,
        cfg.data_seed,
        cfg.train_limit,
        cfg.eval_limit,
        cfg.valid_fraction,
    )
    artifacts.save_split(dataset, ctx.dir)
    images, labels = (dataset["train"].with_format("numpy")[:][k] for k in ("image", "label"))
    return {
        "train": [dataset["train"].num_rows, *dataset["train"].features["image"].shape],
        "valid": [dataset["valid"].num_rows, *dataset["valid"].features["image"].shape],
        "test": [dataset["test"].num_rows, *dataset["test"].features["image"].shape],
        "classes": int(len(np.unique(labels))),
        "eps": cfg.hp.eps,
        "pixel_range": [float(images.min()), float(images.max())],
    }


@pipe.step(uses=("teachers", "teacher_epochs", "seeds", "data_seed", *TRAIN_FIELDS), upstream=("data",))
def model(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Train each teacher once per seed with its method (TRADES, beta 6, for the robust ones), so the
    claims' intervals include teacher variance; measure its clean and PGD-20 accuracy (test, and
    validation for the gates) and, per seed, how the robust teachers' soft labels differ from the
    natural teacher's on the validation images. Each (teacher, seed) is a job (``repro.core.jobs``)."""
    todo = [(teacher, seed) for teacher in cfg.teachers for seed in cfg.seeds]
    done = jobs.run(
        [Job(f"teacher {t.name} s{seed}", teacher_job, (cfg, t, seed, ctx.upstream["data"], ctx.dir), seed=seed)
         for t, seed in todo],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    summary = {}
    for teacher in cfg.teachers:
        runs = [d.value for (t, _), d in zip(todo, done) if t == teacher]
        net = artifacts.load_net(artifacts.teacher_path(ctx.dir, teacher.name, cfg.seeds[0]))
        info = summary[teacher.name] = {
            "method": teacher.method,
            "params": sum(p.numel() for p in net.parameters()),
            "clean": float(np.mean([r["clean"] for r in runs])),
            "pgd20": float(np.mean([r["pgd20"] for r in runs])),
            "per_seed": runs,
        }
        per_seed = ", ".join(f"{r['pgd20']:.1f}" for r in runs)
        ctx.log(f"teacher {teacher.name}: clean {info['clean']:.1f}, PGD-20 {info['pgd20']:.1f} (seeds: {per_seed})")
    x_valid = artifacts.load_split(ctx.upstream["data"])["x_valid"].to(make_accelerator(cfg).device)
    teacher_net = lambda name, seed: artifacts.load_net(artifacts.teacher_path(ctx.dir, name, seed)).to(x_valid.device)
    for name in cfg.swap_teachers:
        stats = [
            soft_label_stats(teacher_net(name, s), teacher_net(cfg.control_teacher, s), x_valid) for s in cfg.seeds
        ]
        summary[name]["soft_labels_vs_natural"] = {k: [st[k] for st in stats] for k in stats[0]}
        ctx.log(f"teacher {name} vs {cfg.control_teacher} soft labels (validation, per seed): {stats}")
    return summary


def teacher_job(cfg: MmardConfig, teacher: TeacherSpec, seed: int, data_dir: Path, out_dir: Path) -> dict:
    """One (teacher, seed) job of :func:`model`: train it, save it, and its clean and PGD-20 accuracy
    on the test and validation images."""
    split = artifacts.load_split(data_dir)
    accelerator = make_accelerator(cfg)
    net, fitted = train_net(
        teacher.net,
        teacher.method,
        split["x_train"],
        split["y_train"],
        hp=cfg.hp,
        seed=TEACHER_SEED_OFFSET + seed,
        epochs=cfg.teacher_epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        accelerator=accelerator,
        desc=f"teacher {teacher.name} s{seed}",
    )
    record = net_record(teacher.net, cfg.image_size, split["x_train"].shape[1])
    save_weights(net, artifacts.teacher_path(out_dir, teacher.name, seed), record)
    suite, run = attack_suite(cfg.hp.eps, seed=cfg.data_seed), {}
    for part in ("test", "valid"):
        x, y = split[f"x_{part}"].to(accelerator.device), split[f"y_{part}"].to(accelerator.device)
        seed_everything(cfg.data_seed)  # the attack's random start, independent of the training history
        prefix = "" if part == "test" else "valid_"
        run[f"{prefix}clean"] = float(points(net, x, y, None).mean())
        run[f"{prefix}pgd20"] = float(points(net, x, y, suite["pgd20"]).mean())
    return {**run, "losses": [round(v, 4) for v in fitted.losses], "budget": fitted.budget.to_dict()}


@pipe.step(
    uses=(*ARM_FIELDS, "student", "student_epochs", "slow_methods", "slow_epochs", "seeds", *TRAIN_FIELDS),
    upstream=("data", "model"),
)
def train(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Distil (or train) one student per method, teacher and seed: student s learns from teacher s.
    Each (arm, seed) is a job (``repro.core.jobs``): side by side on free cores or on a Dask cluster,
    the same student whatever runs it (``train_net`` seeds its initialisation and data order)."""
    students = students_of(cfg)
    todo = [(student, seed) for student in students for seed in cfg.seeds]
    folders = (ctx.upstream["data"], ctx.upstream["model"], ctx.dir)
    done = jobs.run(
        [Job(f"{s.arm.name} s{seed}", student_job, (cfg, s, seed, *folders), seed=seed) for s, seed in todo],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    history, budgets = {}, {}
    for student in students:
        arm = student.arm.name
        fits = [d.value for (s, _), d in zip(todo, done) if s == student]
        history[arm] = [f.losses for f in fits]
        budgets[arm] = functools.reduce(Budget.merge, (f.budget for f in fits), Budget())
        ctx.log(
            f"{arm}: final loss {np.mean([h[-1] for h in history[arm]]):.4f} "
            f"({budgets[arm].wall_s:.1f} s for {len(cfg.seeds)} seeds)"
        )
    write_json(ctx.dir / artifacts.HISTORY, history)
    write_json(ctx.dir / artifacts.BUDGET, {arm: b.to_dict() for arm, b in budgets.items()})
    channels = artifacts.load_split(ctx.upstream["data"])["x_train"].shape[1]
    params = parameter_count(cfg.student, cfg.image_size, channels)
    return {"arms": len(history), "students": len(history) * len(cfg.seeds), "student_params": params}


def student_job(
    cfg: MmardConfig, student: Student, seed: int, data_dir: Path, model_dir: Path, out_dir: Path
) -> FitResult:
    """One (arm, seed) job of :func:`train`: the student, saved; its fit (losses and budget)."""
    split = artifacts.load_split(data_dir)
    teacher = None
    if student.teacher is not None:  # student s learns from teacher s
        teacher = artifacts.load_net(artifacts.teacher_path(model_dir, student.teacher, seed))
    net, fitted = train_net(
        cfg.student,
        student.arm.method,
        split["x_train"],
        split["y_train"],
        hp=hp_at(cfg.hp, student.eps),
        seed=seed,
        epochs=cfg.epochs_of(student.arm.method),
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        accelerator=make_accelerator(cfg),
        teacher=teacher,
        desc=f"{student.arm.name} s{seed}",
    )
    save_weights(
        net,
        artifacts.student_path(out_dir, student.arm, seed),
        net_record(cfg.student, cfg.image_size, split["x_train"].shape[1]),
    )
    return fitted


@pipe.step(
    uses=(*ARM_FIELDS, "seeds", "hp", "eps_sweep", "autoattack_methods", "autoattack_subset", "device", "data_seed"),
    upstream=("data", "model", "train"),
)
def evaluate(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Attack every student (FGSM, PGD-20, CW-inf, the eps sweep; AutoAttack on the claims' arms),
    score the prior class (the trivial reference), measure the gates on the validation images and
    decide the claims by the kit's rule (``docs/design.md``). Each (arm, seed) student's attacks are a
    job (``repro.core.jobs``); :func:`repro.mmard.evaluate.model_scores` reseeds every model's."""
    todo = [(student.arm, seed) for student in students_of(cfg) for seed in cfg.seeds]
    folders = (ctx.upstream["data"], ctx.upstream["train"])
    done = jobs.run(
        [Job(f"{arm.name} s{seed}", attack_job, (cfg, arm, seed, *folders), seed=seed) for arm, seed in todo],
        threads=cfg.threads, device=cfg.device, record=ctx.dir / "jobs.json",
    )  # fmt: skip
    per_model, valid_clean = {}, {}
    for (arm, _), job in zip(todo, done):
        per_model.setdefault(arm.name, []).append(job.value[0])
        valid_clean.setdefault(arm.name, []).append(job.value[1])
    scores, curves = arm_scores(per_model)
    split = artifacts.load_split(ctx.upstream["data"])
    prior_scores(scores, split["y_train"], split["y_test"], n_seeds=len(cfg.seeds))
    save_scores(ctx.dir / artifacts.SCORES, scores)
    write_json(ctx.dir / artifacts.SWEEP, {"eps": list(cfg.eps_sweep), "pgd20": curves})
    teachers = read_json(ctx.upstream["model"] / "step.json")["summary"]
    doc = claims_document(
        paper="mmard",
        run={"profile": cfg.profile, "run_name": cfg.run_name, "seeds": list(cfg.seeds)},
        claims=CLAIMS,
        scores=scores,
        table=results_table(scores, teachers, {m: cfg.epochs_of(m) for m in cfg.methods}),
        budget=read_json(ctx.upstream["train"] / artifacts.BUDGET),
        cannot_show=CANNOT_SHOW,
        gates=GATES,
        gate_values=gate_values(teachers, valid_clean, cfg.control_teacher, CLAIMS),
    )
    write_json(ctx.dir / artifacts.CLAIMS, doc)
    return {c["id"]: c["result"]["verdict"] for c in doc["claims"]}


def attack_job(cfg: MmardConfig, arm: Arm, seed: int, data_dir: Path, train_dir: Path) -> tuple[dict, float]:
    """One (arm, seed) job of :func:`evaluate`: the student's scores under every attack (AutoAttack
    where the claims need it) on the test images, and its clean accuracy on the validation images."""
    split = artifacts.load_split(data_dir)
    device = make_accelerator(cfg).device
    net = artifacts.load_net(artifacts.student_path(train_dir, arm, seed)).to(device)
    x, y = split["x_test"].to(device), split["y_test"].to(device)
    autoattack = cfg.autoattack_subset * (arm.name in cfg.autoattack_arms)
    scores = model_scores(net, x, y, cfg.hp.eps, cfg.eps_sweep, autoattack, cfg.data_seed)
    valid_clean = float(points(net, split["x_valid"].to(device), split["y_valid"].to(device), None).mean())
    return scores, valid_clean


@pipe.step(uses=("hp", "eps_sweep", "seeds", "main_teacher"), upstream=("data", "train", "evaluate"))
def figures(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Clean vs robust scatter, robustness vs eps, adversarial examples, training curves."""
    written = draw.all_figures(
        ctx.upstream, ctx.dir, shown=Arm("mmard", cfg.main_teacher), seed=cfg.seeds[0], eps=cfg.hp.eps
    )
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
