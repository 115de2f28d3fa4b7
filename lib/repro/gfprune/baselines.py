"""The baselines, each reaching the same MACs and getting the same fine-tuning as ours.
Introduced in ``notebooks/gfprune/03_train.ipynb``.

* ``random``: Torch-Pruning's ``RandomImportance`` (seeded): the trivial reference of every criterion claim.
* ``magnitude``: the norm of each channel group, ``MagnitudeImportance(p=magnitude_p)``: p = 2 as
  Diff-Pruning's code (``--pruner magnitude``); p = 1 was the kit's L1 before issue 32.
* ``taylor``: one-shot first-order Taylor (``TaylorImportance(multivariable=taylor_multivariable)``:
  ``|sum w * dL/dw|`` per channel as Diff-Pruning's ``--pruner taylor``, or ``sum |w * dL/dw|``),
  gradients of the DDPM loss at uniform timesteps over ``criterion_batches`` batches.
* ``diffpruning``: Diff-Pruning (Fang et al., NeurIPS 2023) as its official ``ddpm_prune.py`` does it:
  one batch and one fixed noise; at t = 0, 1, 2, ... the gradient of the mean DDPM loss L_t is added,
  and the walk stops after the first t with L_t < ``diffpruning_threshold`` x max_{s <= t} L_s (that
  t's gradient included); the importance is ``TaylorImportance(multivariable=False)``, sum |w * dL/dw|
  per channel (the official ``--pruner diff-pruning``; ``multivariable=True`` is its ``--pruner
  taylor``). The walk runs ``WALK_CHUNK`` timesteps per forward and backward: the same gradient (a sum
  of per-t means), fewer calls. On the ``cpu`` dense model it walks about 400 timesteps.
* ``diffpruning_grid``: the kit's walk before this round, kept as a switch (a method name): the loss
  at ``diffpruning_grid`` timesteps from 0 up (one fixed noise), then gradients at the timesteps before
  the first under the threshold, fresh noise per t. It reads about 8 timesteps instead of 400.
* Either walk's backward passes only score channels (no weight moves): the ledger keeps them under
  ``diffpruning_walk``, outside the gradient evaluations that every method at a ratio shares. At the
  paper's scale the walk is ~0.4% of fine-tuning (about 400 batches against 100k steps); in the
  miniature it would be 7x the 60 fine-tuning steps, and counting it would hand every other method
  hundreds of extra fine-tuning steps.
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
from repro.gfprune.pruning import SeededRandom
from repro.gfprune.training import batches


def accumulate_gradients(unet: nn.Module, x0: torch.Tensor, abar: torch.Tensor, t: torch.Tensor | None = None) -> None:
    """Add the gradient of the mean DDPM loss on ``x0`` (at timesteps ``t``, or uniform) to ``.grad``."""
    noise_loss(unet_denoiser(unet), x0, abar, t).mean().backward()


WALK_CHUNK = 8  # timesteps per forward/backward in Diff-Pruning's walk (1.5-1.7x faster than one at a time)
DIFFPRUNING_WALKS = {"diffpruning": "official", "diffpruning_grid": "grid"}  # method -> timestep walk


def diffpruning_walk(
    unet: nn.Module, x0: torch.Tensor, abar: torch.Tensor, noise: torch.Tensor, threshold: float, max_steps: int = 1000
) -> np.ndarray:
    """Diff-Pruning's gradient accumulation (official ``ddpm_prune.py``): for t = 0, 1, 2, ... add the
    gradient of the mean loss L_t on ``x0`` with the fixed ``noise`` to ``.grad``; stop after the first t
    with L_t < ``threshold`` x max_{s <= t} L_s (its gradient included), or after ``max_steps``
    timesteps (the official ``range(1000)``) or T. Returns every L_t walked. ``WALK_CHUNK`` timesteps
    share one forward and backward; the later ones of the last chunk get no gradient."""
    n, walked, peak = len(x0), [], 0.0
    end = min(max_steps, len(abar))
    for start in range(0, end, WALK_CHUNK):
        t = torch.arange(start, min(start + WALK_CHUNK, end))
        per_t = (
            noise_loss(
                unet_denoiser(unet),
                x0.repeat(len(t), 1, 1, 1),
                abar,
                t.repeat_interleave(n),
                noise.repeat(len(t), 1, 1, 1),
            )
            .view(len(t), n)
            .mean(1)
        )
        stopped = False
        for loss in per_t.tolist():
            walked.append(loss)
            peak = max(peak, loss)
            stopped = loss < threshold * peak
            if stopped:
                break
        per_t[: len(walked) - start].sum().backward()
        if stopped:
            break
    return np.array(walked)


def diffpruning_timesteps(
    unet: nn.Module, x0: torch.Tensor, abar: torch.Tensor, grid: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The kit's earlier walk (``diffpruning_grid``): the loss L_t on one batch at ``grid`` timesteps
    from 0 up; keep t from 0 until the first L_t < threshold * max_{s <= t} L_s. Returns (kept t, all L_t)."""
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


def diffpruning_gradients(
    walk: str, unet: nn.Module, x0: torch.Tensor, abar: torch.Tensor, settings: OneShot, seed: int
) -> dict:
    """Accumulate Diff-Pruning's gradients on ``unet`` with the ``walk`` ("official" or "grid");
    returns what the walk read (timesteps, losses, backward samples)."""
    if walk == "official":
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
        losses = diffpruning_walk(unet, x0, abar, noise, settings.diffpruning_threshold, settings.diffpruning_max_steps)
        return {
            "timesteps_walked": len(losses),
            "loss_by_t": losses.round(5).tolist(),
            "backward": len(losses) * len(x0),
        }
    kept, losses = diffpruning_timesteps(unet, x0, abar, settings.diffpruning_grid, settings.diffpruning_threshold)
    for t in kept:
        accumulate_gradients(unet, x0, abar, torch.full((len(x0),), int(t)))
    return {"timesteps": kept.tolist(), "loss_by_t": losses.round(5).tolist(), "backward": len(kept) * len(x0)}


def criterion(
    method: str, unet: nn.Module, x: torch.Tensor, abar: torch.Tensor, settings: OneShot, seed: int, budget: Budget
) -> tuple[Callable, dict]:
    """``(importance_for(model), info)``: the method's importance for ``unet`` or a copy of it
    (gradient-based criteria copy the gradients they measured on ``unet`` into the copy). For
    Diff-Pruning, ``info`` keeps what its walk read and every channel's score on ``unet``
    (``channel_scores``: how much the two walks agree)."""
    info: dict = {}
    if method == "random":
        return (lambda _m: SeededRandom(seed)), info
    if method == "magnitude":
        return (lambda _m: tp.importance.MagnitudeImportance(p=settings.magnitude_p)), info
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    stream = batches(x, settings.batch_size, generator)
    unet.zero_grad(set_to_none=True)
    multivariable = settings.taylor_multivariable
    if method == "taylor":
        for _ in range(settings.criterion_batches):
            accumulate_gradients(unet, next(stream), abar)
        budget.forward_samples["unet_backward"] = (
            budget.forward_samples.get("unet_backward", 0) + settings.criterion_batches * settings.batch_size
        )
    elif method in DIFFPRUNING_WALKS:
        info = diffpruning_gradients(DIFFPRUNING_WALKS[method], unet, next(stream), abar, settings, seed)
        budget.forward_samples["diffpruning_walk"] = info.pop("backward")  # scoring only: outside the shared budget
        multivariable = False  # the official --pruner diff-pruning
    else:
        raise ValueError(f"no one-shot criterion {method!r}")
    grads = {n: p.grad.detach().clone() for n, p in unet.named_parameters() if p.grad is not None}

    def taylor_for(model: nn.Module):
        for n, p in model.named_parameters():
            p.grad = grads.get(n)
        return tp.importance.TaylorImportance(multivariable=multivariable)

    if method in DIFFPRUNING_WALKS:
        from repro.gfprune.method import prunable_groups

        importance = taylor_for(unet)
        info["channel_scores"] = np.concatenate([importance(g).numpy() for g in prunable_groups(unet)])
    return taylor_for, info


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
