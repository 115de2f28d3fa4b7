"""Training loops shared by every method: pretraining the DDPM, the digit classifier, and the
fine-tuning every pruned model gets (the same steps, batches and optimizer per seed), with the
validation loss that draws the convergence curves. Introduced in ``02_model`` and ``03_train``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from repro.core.train import Budget, fit
from repro.gfprune.models import DigitClassifier, classifier_loss, noise_loss, unet_denoiser


def sampled_loader(x: torch.Tensor, batch_size: int, steps: int, generator: torch.Generator, *extra) -> DataLoader:
    """``steps`` batches drawn with replacement in an order fixed by ``generator``."""
    sampler = RandomSampler(range(len(x)), replacement=True, num_samples=steps * batch_size, generator=generator)
    return DataLoader(TensorDataset(x.cpu(), *extra), batch_size=batch_size, sampler=sampler, drop_last=True)


def batches(x: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """An endless stream of random batches (the iterative methods' inner loops), on ``x``'s device."""
    while True:
        yield x[torch.randint(0, len(x), (batch_size,), generator=generator).to(x.device)]


def ddpm_objective(abar: torch.Tensor):
    """``loss_fn(model, batch)`` for :func:`repro.core.train.fit`: the mean DDPM loss of a batch."""
    return lambda model, batch: noise_loss(unet_denoiser(model), batch[0], abar).mean()


def diffusion_fit(
    unet: nn.Module,
    x: torch.Tensor,
    abar: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer,
    accelerator,
    scheduler=None,
    desc: str = "ddpm",
) -> tuple[list[float], Budget]:
    """``steps`` steps of the DDPM loss through the kit's :func:`repro.core.train.fit`, with an
    optimizer (and learning-rate scheduler) that the caller keeps across calls."""
    loader = sampled_loader(x, batch_size, steps, generator)
    model, opt, loader = accelerator.prepare(unet, optimizer, loader)
    result = fit(
        model,
        ddpm_objective(abar),
        loader,
        opt,
        epochs=1,
        accelerator=accelerator,
        scheduler=scheduler,
        counted={"unet": accelerator.unwrap_model(model)},
        desc=desc,
    )
    result.budget.forward_samples["unet_backward"] = steps * batch_size
    return result.losses, result.budget


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first ``warmup`` fraction of ``steps``, then a cosine decay to 0
    (``warmup < 0``: a constant rate, the schedule of the runs before issue 16's convergence study)."""
    if warmup < 0:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _s: 1.0)
    ramp = max(1, round(warmup * steps))

    def factor(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - ramp) / max(1, steps - ramp))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def pretrain(
    unet: nn.Module,
    x: torch.Tensor,
    abar: torch.Tensor,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    warmup: float,
    seed: int,
    accelerator,
    val: ValidationSet | None = None,
    points: int = 10,
) -> tuple[list[float], Budget, list[tuple[int, float]]]:
    """Pretrain the dense DDPM: ``steps`` Adam steps at peak rate ``lr`` (:func:`warmup_cosine`),
    one optimizer throughout, in ``points`` chunks; after each, the mean validation loss on ``val``
    (the curve that shows where more training stops helping)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = warmup_cosine(optimizer, steps, warmup)
    chunk = max(1, -(-steps // points))
    losses, budget, curve = [], Budget(), []
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        chunk_losses, spent = diffusion_fit(
            unet,
            x,
            abar,
            steps=n,
            batch_size=batch_size,
            generator=generator,
            optimizer=optimizer,
            scheduler=scheduler,
            accelerator=accelerator,
        )
        losses += chunk_losses
        budget = budget.merge(spent)
        if val is not None:
            curve.append((start + n, round(float(val.losses(unet, abar).mean()), 5)))
    return losses, budget, curve


def train_classifier(
    x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, accelerator
) -> tuple[DigitClassifier, list[float]]:
    generator = torch.manual_seed(seed)
    net = DigitClassifier(channels=x.shape[1])
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True, generator=generator)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    model, optimizer, loader = accelerator.prepare(net, optimizer, loader)
    result = fit(model, classifier_loss, loader, optimizer, epochs=epochs, accelerator=accelerator, desc="classifier")
    return accelerator.unwrap_model(model).eval(), result.losses


@dataclass
class ValidationSet:
    """Fixed (x0, t, noise) triples: the per-example DDPM loss on them is the convergence metric."""

    x0: torch.Tensor
    t: torch.Tensor
    noise: torch.Tensor

    @classmethod
    def make(cls, x: torch.Tensor, n: int, num_timesteps: int, seed: int) -> ValidationSet:
        g = torch.Generator().manual_seed(seed)
        x0 = x[:n]
        return cls(x0, torch.randint(0, num_timesteps, (len(x0),), generator=g), torch.randn(x0.shape, generator=g))

    def to(self, device) -> ValidationSet:
        return ValidationSet(self.x0.to(device), self.t.to(device), self.noise.to(device))

    @torch.no_grad()
    def losses(self, unet: nn.Module, abar: torch.Tensor) -> np.ndarray:
        unet.eval()
        chunks = zip(self.x0.split(512), self.t.split(512), self.noise.split(512))
        out = torch.cat([noise_loss(unet_denoiser(unet), x0, abar, t, noise) for x0, t, noise in chunks])
        unet.train()
        return out.cpu().numpy()


@dataclass
class FineTune:
    """Per-example validation losses at every checkpoint (row 0: right after pruning), the step at
    which each was taken, and the fine-tuning budget."""

    val: list[np.ndarray] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)


def finetune(
    unet: nn.Module,
    x: torch.Tensor,
    abar: torch.Tensor,
    val: ValidationSet,
    *,
    steps: int,
    lr: float,
    warmup: float,
    batch_size: int,
    eval_every: int,
    seed: int,
    accelerator,
) -> FineTune:
    """The fine-tuning every method gets: ``steps`` Adam steps on the batches fixed by ``seed``, the
    rate warmed up over the first ``warmup`` fraction to ``lr`` and decayed to 0 (:func:`warmup_cosine`;
    ``warmup < 0``: constant ``lr``), the validation loss every ``eval_every`` steps. The train step
    gives a method more steps when its pruning spent fewer gradient evaluations, so that every method
    ends at the same total budget.

    Annealed by default, as pretraining is: at a constant rate the model ends wherever the last noisy
    steps left it, and fine-tuning an unpruned dense model (the 0% drift arm) at a constant 1e-3 made it
    worse (plug-in Frechet distance 33 -> 75), a drift that every method then carried."""
    generator = torch.Generator().manual_seed(10_000 + seed)
    torch.manual_seed(10_000 + seed)  # the loss's timesteps and noise
    out = FineTune(val=[val.losses(unet, abar)], steps=[0])
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    scheduler = warmup_cosine(optimizer, steps, warmup)
    checkpoints = list(range(eval_every, steps + 1, eval_every))
    if not checkpoints or checkpoints[-1] != steps:
        checkpoints.append(steps)  # a last, shorter chunk: the budget need not be a multiple of eval_every
    previous = 0
    for done in checkpoints:
        chunk, previous = done - previous, done
        losses, spent = diffusion_fit(
            unet,
            x,
            abar,
            steps=chunk,
            batch_size=batch_size,
            generator=generator,
            optimizer=optimizer,
            scheduler=scheduler,
            accelerator=accelerator,
            desc="finetune",
        )
        out.budget = out.budget.merge(spent)
        out.train_loss += losses
        out.val.append(val.losses(unet, abar))
        out.steps.append(done)
    return out
