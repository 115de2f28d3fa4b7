"""Training one network with one method: the same optimizer, schedule, data order and epochs for
every method (the budget ledger in ``claims.json`` shows what each one spent).
Introduced in ``notebooks/mmard/02_model.ipynb`` (teachers) and ``03_train.ipynb`` (students).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from repro.core.arms import Arm
from repro.core.runtime import seed_everything
from repro.core.train import FitResult, fit
from repro.mmard.config import MethodHP, NetSpec
from repro.mmard.method import METHODS, USES_TEACHER
from repro.mmard.models import build_net


def hp_at(hp: MethodHP, eps: float) -> MethodHP:
    """The same hyperparameters at another eps (step keeps its ratio to eps)."""
    ratio = hp.step / hp.eps if hp.eps else 0.25
    return replace(hp, eps=eps, step=eps * ratio)


def train_net(
    spec: NetSpec,
    method: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    hp: MethodHP,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    accelerator,
    teacher: nn.Module | None = None,
    desc: str = "",
) -> tuple[nn.Module, FitResult]:
    """Train a fresh ``spec`` network on images ``x`` (N, C, S, S) with ``method``'s loss. The seed
    fixes the initialisation and the data order, so two methods with the same seed start from the
    same network and see the same batches (a paired comparison)."""
    loss_of = METHODS[method]
    generator = seed_everything(seed)
    net = build_net(spec, image_size=x.shape[-1], channels=x.shape[1])
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=generator)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * len(loader)))
    net, optimizer, loader, scheduler = accelerator.prepare(net, optimizer, loader, scheduler)
    counted = {"student": accelerator.unwrap_model(net)}
    if teacher is not None:
        teacher = teacher.to(accelerator.device).eval().requires_grad_(False)
        counted["teacher"] = teacher

    steps = itertools.count()
    warmup_steps = round(hp.iad_begin * epochs) * len(loader)  # IAD's warm-up, in whole epochs as its code

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        xb, yb = batch
        if method == "iad":
            return loss_of(model, teacher, xb, yb, hp, introspect=next(steps) >= warmup_steps)
        return loss_of(model, teacher, xb, yb, hp)

    result = fit(
        net,
        loss_fn,
        loader,
        optimizer,
        epochs=epochs,
        accelerator=accelerator,
        scheduler=scheduler,
        counted=counted,
        desc=desc or method,
    )
    return accelerator.unwrap_model(net).eval(), result


@dataclass(frozen=True)
class Student:
    """One student to train: its arm (method, condition), the teacher it distils from (None for
    teacher-free methods) and the eps its inner maximisation uses."""

    arm: Arm
    teacher: str | None
    eps: float


def student_arms(
    methods: Sequence[str],
    main_teacher: str,
    swap_teachers: Sequence[str],
    teacher_swap_methods: Sequence[str],
    control_methods: Sequence[str],
    control_teacher: str,
    eps: float,
) -> list[Student]:
    """Every student to train: teacher-free methods once, distillation methods with the main teacher
    (and with every swap teacher for ``teacher_swap_methods``), and the control methods with the
    control teacher. The run matrix is trimmed to what the claims compare."""
    students = []
    for method in methods:
        if method not in USES_TEACHER:
            students.append(Student(Arm(method), None, eps))
            continue
        names = dict.fromkeys((main_teacher, *(swap_teachers if method in teacher_swap_methods else ())))
        students += [Student(Arm(method, teacher), teacher, eps) for teacher in names]
    students += [Student(Arm(m, control_teacher), control_teacher, eps) for m in control_methods]
    return students
