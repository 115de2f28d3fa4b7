"""The attack loop every gradient attack shares (LingoLoop, its ablations and the baselines), and the
registry of their losses. Introduced in ``notebooks/lingoloop/03_train.ipynb``.

Every attack is run on a batch of images with one forward/backward per step for the whole batch;
each image's loss, ``lambda_t`` and momentum are its own, so the batch equals attacking the images
one by one. The optimiser (paper): PGD on the image in the L_inf ball, momentum 0.9 on
L1-normalised gradients (MI-FGSM) for LingoLoop; plain sign steps for Verbose Images and the
EOS-only baseline, as in their papers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from repro.core.train import Budget
from repro.lingoloop.baselines import eos_loss, random_noise, verbose_loss, verbose_uncertainty_loss
from repro.lingoloop.config import AttackHP, AttackSpec
from repro.lingoloop.method import lingoloop_loss

LOSSES = {
    "lingoloop": lingoloop_loss,
    "eos": eos_loss,
    "verbose": verbose_loss,
    "verbose_uncertainty": verbose_uncertainty_loss,
}
SAMPLED_TARGETS = 3  # Verbose Images' official code takes the longest of 3 sampled captions


def initial_delta(x0: torch.Tensor, start: str, eps: float, seed: int) -> torch.Tensor:
    """The first perturbation: zero, or (Verbose Images' ``randn`` start) a standard Gaussian clipped
    into the eps ball and the image box (the official code takes its first step from the unclipped
    draw)."""
    if start == "zero":
        return torch.zeros_like(x0)
    if start != "randn":
        raise ValueError(f"start must be 'zero' or 'randn', not {start!r}")
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed)).to(x0)
    return (x0 + noise.clamp(-eps, eps)).clamp(0, 1) - x0


def keep_longest(best: torch.Tensor, best_len: torch.Tensor, delta: torch.Tensor, length: torch.Tensor):
    """Per image, copy ``delta`` into ``best`` where its greedy caption is longer than the best so far
    (in place); returns the updated best lengths."""
    longer = length > best_len
    best[longer] = delta[longer]
    return torch.where(longer, length, best_len)


@dataclass
class AttackResult:
    """Adversarial images, generated lengths after each regeneration (``checkpoints`` steps; the last
    is the final image), the mean loss per step, and the budget."""

    images: torch.Tensor
    checkpoints: list[int]
    lengths: torch.Tensor  # (n_checkpoints, B)
    losses: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)


def check_images(images: torch.Tensor) -> None:
    """The attack's input contract: float (B, 3, H, W) in [0, 1] (not normalised, not uint8)."""
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a (B, 3, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    if not images.is_floating_point() or images.min() < 0 or images.max() > 1:
        raise ValueError("images must be floats in [0, 1] (the attack's eps is in pixel units of that range)")


def attack(
    vlm,
    images: torch.Tensor,
    spec: AttackSpec,
    hp: AttackHP,
    token_weight: torch.Tensor | None = None,
    seed: int = 0,
) -> AttackResult:
    """Attack ``images`` (B, 3, H, W) in [0, 1] against ``vlm`` (:class:`repro.lingoloop.vlm.VLM`).

    Steps ``t = 1..steps``; before steps 1, 11, 21, ... the target is regenerated from the current
    image and its greedy lengths are recorded (tokens vs step: the below-saturation comparison), and
    once more after the last step. ``spec.target`` picks the target (the greedy caption, or the
    longest of 3 sampled ones), ``spec.start`` the first perturbation (zero, or Gaussian clipped into
    the ball) and ``spec.keep`` the image returned (the final iterate, or per image the one whose
    greedy caption was longest at a regeneration; its length is then the last one recorded).
    """
    check_images(images)
    started = time.perf_counter()
    x0 = images.detach()
    budget = Budget(forward_samples={"teacher_forced": 0, "generate": 0})
    checkpoints, lengths = [], []

    def regenerate(x: torch.Tensor, step: int, final: bool = False) -> torch.Tensor:
        targets = vlm.generate(x, hp.max_new_tokens, hp.repetition_penalty)
        checkpoints.append(step)
        lengths.append(vlm.lengths(targets).cpu())
        budget.forward_samples["generate"] += len(x)
        if spec.target == "longest_sampled" and not final:
            targets = vlm.longest_sampled(x, SAMPLED_TARGETS, hp.max_new_tokens)
            budget.forward_samples["generate"] += SAMPLED_TARGETS * len(x)
        return targets

    if spec.loss == "noise":  # one image for the whole run: one generation, the same length at every checkpoint
        adv = random_noise(x0, hp.eps, seed, spec.noise_rows)
        final = regenerate(adv, hp.steps)
        steps = [*range(0, hp.steps, hp.regen_every), hp.steps]
        budget.wall_s = time.perf_counter() - started
        return AttackResult(adv, steps, vlm.lengths(final).cpu().expand(len(steps), -1).clone(), budget=budget)

    loss_fn = LOSSES[spec.loss]
    delta = initial_delta(x0, spec.start, hp.eps, seed).requires_grad_(True)
    best, best_len = delta.detach().clone(), torch.full((len(x0),), -1, dtype=torch.long)
    momentum = torch.zeros_like(x0)
    state: dict = {}
    losses, parts = [], {}
    for t in range(1, hp.steps + 1):
        if (t - 1) % hp.regen_every == 0:
            targets = regenerate((x0 + delta).detach(), t - 1)
            target_len = vlm.lengths(targets)
            best_len = keep_longest(best, best_len, delta.detach(), lengths[-1])
        loss, terms = loss_fn(vlm, x0 + delta, targets, target_len, spec, hp, t, state, token_weight)
        (grad,) = torch.autograd.grad(loss.sum(), delta)
        budget.forward_samples["teacher_forced"] += len(x0)
        budget.optimizer_steps += 1
        with torch.no_grad():
            if spec.optimizer == "momentum":
                norm = grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
                momentum = hp.momentum * momentum + grad / norm
                direction = momentum.sign()
            else:
                direction = grad.sign()
            delta -= hp.step_size * direction  # every loss here is minimised
            delta.clamp_(-hp.eps, hp.eps)
            delta.copy_((x0 + delta).clamp(0, 1) - x0)
        losses.append(float(loss.detach().mean()))
        for name, value in terms.items():
            parts.setdefault(name, []).append(float(value.mean()))
    regenerate((x0 + delta).detach(), hp.steps, final=True)
    if spec.keep == "best":
        lengths[-1] = keep_longest(best, best_len, delta.detach(), lengths[-1])
        adv = x0 + best
    else:
        adv = (x0 + delta).detach()
    budget.wall_s = time.perf_counter() - started
    return AttackResult(adv, checkpoints, torch.stack(lengths), losses, parts, budget)
