"""The attacks LingoLoop is compared with, at the same eps, steps and target regeneration.
Introduced in ``notebooks/lingoloop/03_train.ipynb``.

* Random noise (control): a uniform sign pattern of size eps, ``x + eps * sign(u)``, clipped to the
  image box; no gradient, so nothing steers the length.
* EOS only (NICGSlowDown-style, Chen et al. 2022): minimise the mean p_EOS over the target's
  positions with sign steps. (NICGSlowDown adds an output-dependency term; the card names only the
  EOS loss for this baseline.)
* Verbose Images (Gao et al., ICLR 2024): ``L_1 + lambda_1 L_2 + lambda_2 L_3`` with
  ``L_1`` = mean p_EOS (delayed EOS), ``L_2 = KL(uniform || p)`` averaged over positions (token
  uncertainty: minimising it flattens the next-token distribution), ``L_3 = -||H||_*``, minus the
  nuclear norm of the last layer's hidden states over the target positions (token diversity);
  ``lambda_k = EMA_0.9 |L_1 / L_k / tau_k(t)|`` with ``tau_1 = 10 ln(t+1) - 20`` and
  ``tau_2 = 0.5 ln(t+1) + 1`` (card), sign steps.
* Uniform EOS and LPS only are LingoLoop's own ablations (:mod:`repro.lingoloop.method`).
"""

from __future__ import annotations

import math

import torch

from repro.lingoloop.method import Ema, lambda_schedule, lingoloop_loss, target_mask, weighted_eos_loss


def random_noise(images: torch.Tensor, eps: float, seed: int) -> torch.Tensor:
    """``x + eps * sign(u)``, u ~ U(-1, 1), clipped to [0, 1]: the largest noise the ball allows."""
    g = torch.Generator().manual_seed(seed)
    sign = torch.rand(images.shape, generator=g).sub(0.5).sign().to(images)
    return (images + eps * sign).clamp(0, 1)


def eos_loss(vlm, x, targets, target_len, spec, hp, t, state, token_weight):
    """Mean p_EOS over the target's positions (uniform weights)."""
    mask = target_mask(target_len, targets.shape[1])
    out = vlm.teacher_forced(x, targets)
    loss = weighted_eos_loss(vlm.eos_probability(out.logits), torch.ones_like(mask), mask)
    return loss, {"eos": loss.detach()}


def uncertainty_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(uniform || p) per position, averaged over valid positions (B,)."""
    log_p = logits.float().log_softmax(-1)
    V = logits.shape[-1]
    kl = -math.log(V) - log_p.mean(-1)  # sum_v (1/V) (log(1/V) - log p_v)
    return (kl * mask).sum(1) / mask.sum(1).clamp_min(1)


def diversity_loss(hidden_last: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Minus the nuclear norm of the last layer's hidden states over valid positions (B,)."""
    return -torch.linalg.matrix_norm(hidden_last.float() * mask[..., None], ord="nuc")


def verbose_tau2(t: int) -> float:
    return 0.5 * math.log(t + 1) + 1


def verbose_loss(vlm, x, targets, target_len, spec, hp, t, state, token_weight):
    """Verbose Images' three losses with their adaptive weights (module docstring)."""
    mask = target_mask(target_len, targets.shape[1])
    out = vlm.teacher_forced(x, targets)
    l1 = weighted_eos_loss(vlm.eos_probability(out.logits), torch.ones_like(mask), mask)
    l2 = uncertainty_loss(out.logits, mask)
    l3 = diversity_loss(out.hidden[-1], mask)
    lam1 = state.setdefault("lambda1", Ema(hp.ema))((l1 / l2 / lambda_schedule(t)).abs().detach())
    lam2 = state.setdefault("lambda2", Ema(hp.ema))((l1 / l3 / verbose_tau2(t)).abs().detach())
    total = l1 + lam1 * l2 + lam2 * l3
    return total, {"eos": l1.detach(), "uncertainty": l2.detach(), "diversity": l3.detach()}


LOSSES = {"lingoloop": lingoloop_loss, "eos": eos_loss, "verbose": verbose_loss}
