"""MMARD's five steps; each notebook calls one. ``python -m repro step mmard <step> --profile cpu``
runs one outside Jupyter (also under ``accelerate launch``). File names and loaders of the steps'
outputs are in :mod:`repro.mmard.artifacts`."""

from __future__ import annotations

import numpy as np

from repro.core.arms import Arm
from repro.core.claims import claims_document
from repro.core.runtime import make_accelerator, seed_everything
from repro.core.scores import save_scores
from repro.core.steps import Pipeline, StepContext, read_json, write_json
from repro.core.train import Budget
from repro.core.weights import save_weights
from repro.mmard import artifacts
from repro.mmard import figures as draw
from repro.mmard.attacks import attack_suite
from repro.mmard.claims import CANNOT_SHOW, CLAIMS, GATES
from repro.mmard.config import MmardConfig
from repro.mmard.data import load_split
from repro.mmard.evaluate import gate_values, points, prior_scores, results_table, score_arms, soft_label_stats
from repro.mmard.models import net_record, parameter_count
from repro.mmard.training import hp_at, student_arms, train_net

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
    natural teacher's on the validation images."""
    split = artifacts.load_split(ctx.upstream["data"])
    accelerator = make_accelerator(cfg)
    suite = attack_suite(cfg.hp.eps, seed=cfg.data_seed)
    device = accelerator.device
    parts = {part: (split[f"x_{part}"].to(device), split[f"y_{part}"].to(device)) for part in ("test", "valid")}
    record_of = {t.name: net_record(t.net, cfg.image_size, split["x_train"].shape[1]) for t in cfg.teachers}
    summary, nets = {}, {}
    for teacher in cfg.teachers:
        runs = []
        for seed in cfg.seeds:
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
            save_weights(net, artifacts.teacher_path(ctx.dir, teacher.name, seed), record_of[teacher.name])
            nets[teacher.name, seed] = net
            run = {}
            for part, (x, y) in parts.items():
                seed_everything(cfg.data_seed)  # the attack's random start, independent of the training history
                prefix = "" if part == "test" else "valid_"
                run[f"{prefix}clean"] = float(points(net, x, y, None).mean())
                run[f"{prefix}pgd20"] = float(points(net, x, y, suite["pgd20"]).mean())
            runs.append({**run, "losses": [round(v, 4) for v in fitted.losses], "budget": fitted.budget.to_dict()})
        info = summary[teacher.name] = {
            "method": teacher.method,
            "params": sum(p.numel() for p in net.parameters()),
            "clean": float(np.mean([r["clean"] for r in runs])),
            "pgd20": float(np.mean([r["pgd20"] for r in runs])),
            "per_seed": runs,
        }
        per_seed = ", ".join(f"{r['pgd20']:.1f}" for r in runs)
        ctx.log(f"teacher {teacher.name}: clean {info['clean']:.1f}, PGD-20 {info['pgd20']:.1f} (seeds: {per_seed})")
    x_valid = parts["valid"][0]
    for name in cfg.swap_teachers:
        stats = [soft_label_stats(nets[name, s], nets[cfg.control_teacher, s], x_valid) for s in cfg.seeds]
        summary[name]["soft_labels_vs_natural"] = {k: [st[k] for st in stats] for k in stats[0]}
        ctx.log(f"teacher {name} vs {cfg.control_teacher} soft labels (validation, per seed): {stats}")
    return summary


@pipe.step(
    uses=(*ARM_FIELDS, "student", "student_epochs", "slow_methods", "slow_epochs", "seeds", *TRAIN_FIELDS),
    upstream=("data", "model"),
)
def train(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Distil (or train) one student per method, teacher and seed: student s learns from teacher s."""
    split = artifacts.load_split(ctx.upstream["data"])
    accelerator = make_accelerator(cfg)
    record = net_record(cfg.student, cfg.image_size, split["x_train"].shape[1])
    history, budgets = {}, {}
    for student in students_of(cfg):
        arm = student.arm.name
        budgets[arm], history[arm] = Budget(), []
        for seed in cfg.seeds:
            teacher = None
            if student.teacher is not None:  # student s learns from teacher s
                teacher = artifacts.load_net(artifacts.teacher_path(ctx.upstream["model"], student.teacher, seed))
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
                accelerator=accelerator,
                teacher=teacher,
                desc=f"{arm} s{seed}",
            )
            save_weights(net, artifacts.student_path(ctx.dir, student.arm, seed), record)
            history[arm].append(fitted.losses)
            budgets[arm] = budgets[arm].merge(fitted.budget)
        ctx.log(
            f"{arm}: final loss {np.mean([h[-1] for h in history[arm]]):.4f} "
            f"({budgets[arm].wall_s:.1f} s for {len(cfg.seeds)} seeds)"
        )
    write_json(ctx.dir / artifacts.HISTORY, history)
    write_json(ctx.dir / artifacts.BUDGET, {arm: b.to_dict() for arm, b in budgets.items()})
    params = parameter_count(cfg.student, cfg.image_size, split["x_train"].shape[1])
    return {"arms": len(history), "students": len(history) * len(cfg.seeds), "student_params": params}


@pipe.step(
    uses=(*ARM_FIELDS, "seeds", "hp", "eps_sweep", "autoattack_methods", "autoattack_subset", "device", "data_seed"),
    upstream=("data", "model", "train"),
)
def evaluate(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Attack every student (FGSM, PGD-20, CW-inf, the eps sweep; AutoAttack on the claims' arms),
    score the prior class (the trivial reference), measure the gates on the validation images and
    decide the claims by the kit's rule (``docs/design.md``)."""
    split = artifacts.load_split(ctx.upstream["data"])
    device = make_accelerator(cfg).device
    x, y = split["x_test"].to(device), split["y_test"].to(device)
    students = {
        s.arm.name: [
            artifacts.load_net(artifacts.student_path(ctx.upstream["train"], s.arm, seed)).to(device)
            for seed in cfg.seeds
        ]
        for s in students_of(cfg)
    }
    scores, curves = score_arms(
        students,
        x,
        y,
        eps=cfg.hp.eps,
        eps_sweep=cfg.eps_sweep,
        autoattack_arms=cfg.autoattack_arms,
        autoattack_subset=cfg.autoattack_subset,
        seed=cfg.data_seed,
    )
    prior_scores(scores, split["y_train"], y, n_seeds=len(cfg.seeds))
    save_scores(ctx.dir / artifacts.SCORES, scores)
    write_json(ctx.dir / artifacts.SWEEP, {"eps": list(cfg.eps_sweep), "pgd20": curves})
    teachers = read_json(ctx.upstream["model"] / "step.json")["summary"]
    x_valid, y_valid = split["x_valid"].to(device), split["y_valid"].to(device)
    valid_clean = {
        arm: [float(points(m, x_valid, y_valid, None).mean()) for m in models] for arm, models in students.items()
    }
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


@pipe.step(uses=("hp", "eps_sweep", "seeds", "main_teacher"), upstream=("data", "train", "evaluate"))
def figures(cfg: MmardConfig, ctx: StepContext) -> dict:
    """Clean vs robust scatter, robustness vs eps, adversarial examples, training curves."""
    written = draw.all_figures(
        ctx.upstream, ctx.dir, shown=Arm("mmard", cfg.main_teacher), seed=cfg.seeds[0], eps=cfg.hp.eps
    )
    return {"figures": sorted(p.name for p in written if p.suffix == ".png")}
