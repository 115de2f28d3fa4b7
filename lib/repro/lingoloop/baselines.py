"""The attacks LingoLoop is compared with, at the same eps, steps and target regeneration.
Introduced in ``notebooks/lingoloop/03_train.ipynb``.

* Random noise: a uniform sign pattern of size eps, ``x + eps * sign(u)``, clipped to the image
  box; no gradient, so nothing steers the length. On every row it erases the top strip (eps is
  larger than half the strip's shade spacing), so the victim falls back to its prior (shorter
  captions: a table row and a trivial reference); outside the strip's rows (``outside_noise``, the
  control K1) it leaves the length code intact.
* EOS only (NICGSlowDown-style, Chen et al. 2022): minimise the mean p_EOS over the target's
  positions with sign steps. (NICGSlowDown adds an output-dependency term; the paper names only the
  EOS loss for this baseline.)
* Verbose Images (Gao et al., ICLR 2024), as its official code (KuofengGao/Verbose_Images) combines
  the three losses: ``L_2 + lambda_1 L_1 + lambda_2 L_3`` with the token-uncertainty loss
  ``L_2 = KL(uniform || p)`` averaged over positions as the base (minimising it flattens the
  next-token distribution), ``L_1`` = mean p_EOS (delayed EOS) and ``L_3 = -||H||_*``, minus the
  nuclear norm of the hidden states of all decoder layers over the target positions (token
  diversity; the layers' outputs stacked along the token axis, one (layers * T, d) matrix per image);
  ``lambda_1 = EMA_0.9 |L_2 / L_1 / tau_1(t)|``, ``lambda_2 = EMA_0.9 |L_2 / L_3 / tau_2(t)|`` with
  ``tau_1 = 10 ln(t+1) - 20`` and ``tau_2 = 0.5 ln(t+1) + 1``; sign steps. (Earlier versions of the
  kit made the EOS loss the base and used the last layer only.)
* Uniform EOS and LPS only are LingoLoop's own ablations (:mod:`repro.lingoloop.method`).
"""

from __future__ import annotations

import math

import torch

from repro.lingoloop.data import STRIP_ROWS
from repro.lingoloop.method import Ema, lambda_schedule, target_mask, weighted_eos_loss

NOISE_ROWS = ("all", "outside_strip", "strip")


def random_noise(images: torch.Tensor, eps: float, seed: int, rows: str = "all") -> torch.Tensor:
    """``x + eps * sign(u)``, u ~ U(-1, 1), clipped to [0, 1]: the largest noise the ball allows, on
    every row, on every row but the top strip's (which codes where the caption ends), or on the
    strip's rows only. The same draw whatever ``rows`` keeps."""
    if rows not in NOISE_ROWS:
        raise ValueError(f"noise rows {rows!r}; valid: {', '.join(NOISE_ROWS)}")
    g = torch.Generator().manual_seed(seed)
    sign = torch.rand(images.shape, generator=g).sub(0.5).sign().to(images)
    if rows != "all":
        strip = torch.zeros(images.shape[-2], 1, dtype=torch.bool, device=images.device)
        strip[:STRIP_ROWS] = True
        sign = sign * (strip if rows == "strip" else ~strip)
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


def diversity_loss(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Minus the nuclear norm of every layer's hidden states at the valid positions, stacked into
    one (layers * T, d) matrix per image (hidden: (layers, B, T, d)); (B,)."""
    layers, b, t, d = hidden.shape
    masked = hidden.float() * mask[None, ..., None]
    return -torch.linalg.matrix_norm(masked.permute(1, 0, 2, 3).reshape(b, layers * t, d), ord="nuc")


def verbose_tau2(t: int) -> float:
    return 0.5 * math.log(t + 1) + 1


def verbose_loss(vlm, x, targets, target_len, spec, hp, t, state, token_weight):
    """Verbose Images' three losses with their adaptive weights (module docstring)."""
    mask = target_mask(target_len, targets.shape[1])
    out = vlm.teacher_forced(x, targets)
    l1 = weighted_eos_loss(vlm.eos_probability(out.logits), torch.ones_like(mask), mask)
    l2 = uncertainty_loss(out.logits, mask)
    l3 = diversity_loss(out.hidden, mask)
    lam1 = state.setdefault("lambda1", Ema(hp.ema))((l2 / l1.clamp_min(1e-12) / lambda_schedule(t)).abs().detach())
    lam2 = state.setdefault("lambda2", Ema(hp.ema))((l2 / l3 / verbose_tau2(t)).abs().detach())
    total = l2 + lam1 * l1 + lam2 * l3
    return total, {"eos": l1.detach(), "uncertainty": l2.detach(), "diversity": l3.detach()}
