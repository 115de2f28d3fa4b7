"""The baselines, each reaching the same MACs and getting the same fine-tuning as ours.
Introduced in ``notebooks/gfprune/03_train.ipynb``.

* ``random``: Torch-Pruning's ``RandomImportance`` (seeded): the trivial reference of every criterion claim.
* ``magnitude``: the norm of each channel group, ``MagnitudeImportance(p=magnitude_p)``: p = 2 as
  Diff-Pruning's code (``--pruner magnitude``); p = 1 was the kit's L1 before issue 32.
* ``taylor``: one-shot first-order Taylor (``TaylorImportance(multivariable=taylor_multivariable)``:
  ``|sum w * dL/dw|`` per channel as Diff-Pruning's code, or ``sum |w * dL/dw|``), gradients of the
  DDPM loss at uniform timesteps over ``criterion_batches`` batches.
* ``diffpruning``: Diff-Pruning (Fang et al., NeurIPS 2023): the same Taylor importance, with the
  gradients accumulated over timesteps from t = 0 upward until the loss falls below
  ``diffpruning_threshold`` x its maximum (the informative, early steps), one batch per timestep.
  Difference from the official code, listed not matched: it walks every t = 0, 1, 2, ... with one
  fixed noise and stops at the first t under the threshold; the kit probes a ``diffpruning_grid``
  of timesteps (fresh noise per t for the gradients) and keeps those before the first under it, so
  its gradient evaluations stay within the shared budget (the official walk can take hundreds of
  backward passes on a 1000-step schedule).
* ``iterative_taylor``: hard iterative pruning: ``prune_stages`` Taylor prunes of ``ratio/K`` each
  (Torch-Pruning's ``iterative_steps``), ``stage_steps`` fine-tuning steps after each: the same
  schedule and optimizer steps as ours, with hard removal and a first-order criterion.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from repro.core.train import Budget, count_forwards
from repro.gfprune import pruning
from repro.gfprune.config import OneShot, Schedule
from repro.gfprune.models import noise_loss, unet_denoiser
from repro.gfprune.training import batches


def accumulate_gradients(unet: nn.Module, x0: torch.Tensor, abar: torch.Tensor, t: torch.Tensor | None = None) -> None:
    """Add the gradient of the mean DDPM loss on ``x0`` (at timesteps ``t``, or uniform) to ``.grad``."""
    noise_loss(unet_denoiser(unet), x0, abar, t).mean().backward()


def diffpruning_timesteps(
    unet: nn.Module, x0: torch.Tensor, abar: torch.Tensor, grid: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Diff-Pruning's timestep selection: the loss L_t on one batch at ``grid`` timesteps from 0 up;
    keep t from 0 until the first L_t < threshold * max_{s <= t} L_s. Returns (kept t, all L_t)."""
    steps = torch.linspace(0, len(abar) - 1, grid).long()
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        losses = np.array(
            [float(noise_loss(unet_denoiser(unet), x0, abar, t.repeat(len(x0)), noise).mean()) for t in steps]
        )
    running_max = np.maximum.accumulate(losses)
    below = np.nonzero(losses < threshold * running_max)[0]
    stop = int(below[0]) if len(below) else grid
    return steps[: max(stop, 1)].numpy(), losses


def criterion(
    method: str, unet: nn.Module, x: torch.Tensor, abar: torch.Tensor, settings: OneShot, seed: int, budget: Budget
) -> tuple[Callable, dict]:
    """``(importance_for(model), info)``: the method's importance for ``unet`` or a copy of it
    (gradient-based criteria copy the gradients they measured on ``unet`` into the copy)."""
    info: dict = {}
    if method == "random":
        return (lambda _m: SeededRandom(seed)), info
    if method == "magnitude":
        return (lambda _m: tp.importance.MagnitudeImportance(p=settings.magnitude_p)), info
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    stream = batches(x, settings.batch_size, generator)
    unet.zero_grad(set_to_none=True)
    if method == "taylor":
        for _ in range(settings.criterion_batches):
            accumulate_gradients(unet, next(stream), abar)
        budget.forward_samples["unet_backward"] = (
            budget.forward_samples.get("unet_backward", 0) + settings.criterion_batches * settings.batch_size
        )
    elif method == "diffpruning":
        x0 = next(stream)
        kept, losses = diffpruning_timesteps(unet, x0, abar, settings.diffpruning_grid, settings.diffpruning_threshold)
        for t in kept:
            accumulate_gradients(unet, x0, abar, torch.full((len(x0),), int(t)))
        budget.forward_samples["unet_backward"] = budget.forward_samples.get("unet_backward", 0) + len(kept) * len(x0)
        info = {"timesteps": kept.tolist(), "loss_by_t": losses.round(5).tolist()}
    else:
        raise ValueError(f"no one-shot criterion {method!r}")
    grads = {n: p.grad.detach().clone() for n, p in unet.named_parameters() if p.grad is not None}

    def taylor_for(model: nn.Module):
        for n, p in model.named_parameters():
            p.grad = grads.get(n)
        return tp.importance.TaylorImportance(multivariable=settings.taylor_multivariable)

    return taylor_for, info


class SeededRandom(tp.importance.RandomImportance):
    """Random channel ranking that is the same on every call with the same seed (the ratio search
    prunes copies of the model and must see the ranking the final prune sees)."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)
        self.seed = seed

    def __call__(self, group, **kwargs):
        return torch.rand(len(group.items[0].idxs), generator=self.generator)


def one_shot_prune(
    method: str, unet: nn.Module, x: torch.Tensor, abar: torch.Tensor, settings: OneShot, ratio: float, seed: int
) -> tuple[list, Budget, dict]:
    """Prune ``unet`` in place with a one-shot criterion at ``ratio``."""
    started = time.perf_counter()
    budget = Budget(forward_samples={"unet": 0, "unet_backward": 0})
    with count_forwards({"unet": unet}, budget):
        importance_for, info = criterion(method, unet, x, abar, settings, seed, budget)
        pruner = pruning.prune(unet, importance_for(unet), ratio, settings.global_pruning)
    unet.zero_grad(set_to_none=True)
    budget.wall_s = time.perf_counter() - started
    return pruner.pruning_history(), budget, info


def iterative_taylor_prune(
    unet: nn.Module,
    x: torch.Tensor,
    abar: torch.Tensor,
    schedule: Schedule,
    ratio: float,
    seed: int,
    global_pruning: bool = False,
) -> tuple[list, Budget, dict]:
    """Hard iterative Taylor pruning with fine-tuning between the prunes (same schedule as ours)."""
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    stream = batches(x, schedule.batch_size, generator)
    budget = Budget(forward_samples={"unet": 0, "unet_backward": 0})
    pruner = pruning.make_pruner(unet, tp.importance.TaylorImportance(), ratio, global_pruning, schedule.stages)
    losses = []
    with count_forwards({"unet": unet}, budget):
        for _ in range(schedule.stages):
            unet.zero_grad(set_to_none=True)
            for _ in range(schedule.criterion_batches):
                accumulate_gradients(unet, next(stream), abar)
            pruner.step()
            pruning.sync_resamplers(unet)
            optimizer = torch.optim.Adam(unet.parameters(), lr=schedule.lr)  # shapes changed
            for _ in range(schedule.stage_steps):
                loss = noise_loss(unet_denoiser(unet), next(stream), abar).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            budget.optimizer_steps += schedule.stage_steps
            spent = schedule.criterion_batches + schedule.stage_steps
            budget.forward_samples["unet_backward"] += spent * schedule.batch_size
    unet.zero_grad(set_to_none=True)
    budget.wall_s = time.perf_counter() - started
    return pruner.pruning_history(), budget, {"stage_losses": [round(v, 5) for v in losses]}
