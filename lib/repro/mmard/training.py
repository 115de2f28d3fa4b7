"""Training one network with one method: the same optimizer, schedule, data order and epochs for
every method (the budget ledger in ``claims.json`` shows what each one spent).
Introduced in ``notebooks/mmard/02_model.ipynb`` (teachers) and ``03_train.ipynb`` (students).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from repro.core.runtime import seed_everything
from repro.core.train import FitResult, fit
from repro.mmard.config import MmardConfig
from repro.mmard.method import METHODS, MethodHP
from repro.mmard.models import NetSpec, build_net


def hp_at(hp: MethodHP, eps: float) -> MethodHP:
    """The same hyperparameters at another eps (step keeps its ratio to eps)."""
    ratio = hp.step / hp.eps if hp.eps else 0.25
    return replace(hp, eps=eps, step=eps * ratio)


def train_net(
    cfg: MmardConfig,
    spec: NetSpec,
    method: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seed: int,
    epochs: int,
    accelerator,
    teacher: nn.Module | None = None,
    hp: MethodHP | None = None,
    desc: str = "",
) -> tuple[nn.Module, FitResult]:
    """Train a fresh ``spec`` network with ``method``'s loss. The seed fixes the initialisation and the
    data order, so two methods with the same seed start from the same network and see the same
    batches (a paired comparison)."""
    hp = hp or cfg.hp
    loss_of = METHODS[method]
    generator = seed_everything(seed)
    net = build_net(spec)
    loader = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True, generator=generator)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * len(loader)))
    net, optimizer, loader, scheduler = accelerator.prepare(net, optimizer, loader, scheduler)
    counted = {"student": accelerator.unwrap_model(net)}
    if teacher is not None:
        teacher = teacher.to(accelerator.device).eval().requires_grad_(False)
        counted["teacher"] = teacher

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        xb, yb = batch
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
