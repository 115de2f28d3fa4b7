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
* Verbose Images (Gao et al., ICLR 2024) as its official code (KuofengGao/Verbose_Images,
  ``main.py`` and ``blip2_opt.generate_verbose_images``): the token-uncertainty loss
  ``L_2 = sum_positions KL(uniform || p)`` is the base (minimising it flattens the next-token
  distribution), ``L_1`` = mean p_EOS (delayed EOS) and ``L_3 = -|| |H| ||_*``, minus the nuclear
  norm of the absolute hidden states, with H = HF's ``hidden_states`` (the embeddings, every layer,
  the last after the final norm) at every position of prompt + target stacked into one
  ((layers + 1) * positions, d) matrix per image; all three over every position of the input (image
  tokens and prompt included), as the official code takes them. ``L_2 + lambda_1 L_1 + lambda_2 L_3``
  with ``lambda_1 = EMA_0.9 |L_2 / L_1 / tau_1(k)|``, ``lambda_2 = EMA_0.9 |L_2 / L_3 / tau_2(k)|``,
  ``tau_1 = 10 ln(k+1) - 20``, ``tau_2 = 0.5 ln(k+1) + 1``, k = t - 1 counting steps from 0 (the
  official ``tdx``); sign steps, a ``randn`` start and the best iterate kept, the target the longest of
  3 sampled captions (top-p 0.9): the attack loop's switches (:class:`repro.lingoloop.config.AttackSpec`).
  What still differs (the target is regenerated every ``regen_every`` steps, not every step; the
  random start is clipped into the ball before the first step): docs/papers/lingoloop.md.
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


def uncertainty_loss(logits: torch.Tensor, mask: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """KL(uniform || p) per position, summed (the official code) or averaged over valid positions (B,)."""
    log_p = logits.float().log_softmax(-1)
    V = logits.shape[-1]
    kl = -math.log(V) - log_p.mean(-1)  # sum_v (1/V) (log(1/V) - log p_v)
    total = (kl * mask).sum(1)
    return total if reduction == "sum" else total / mask.sum(1).clamp_min(1)


def diversity_loss(hidden: torch.Tensor, mask: torch.Tensor, absolute: bool = True) -> torch.Tensor:
    """Minus the nuclear norm of the (absolute, as the official code takes them) hidden states at the
    valid positions, every layer stacked into one (layers * T, d) matrix per image (hidden:
    (layers, B, T, d)); (B,)."""
    layers, b, t, d = hidden.shape
    h = hidden.float().abs() if absolute else hidden.float()
    masked = h * mask[None, ..., None]
    return -torch.linalg.matrix_norm(masked.permute(1, 0, 2, 3).reshape(b, layers * t, d), ord="nuc")


def verbose_tau2(t: int) -> float:
    return 0.5 * math.log(t + 1) + 1


def every_position_mask(vlm, x, target_len, T) -> torch.Tensor:
    """(B, P + T): the prompt's positions (image tokens included) and the target's up to its EOS."""
    prompt = torch.ones(len(x), vlm.prompt_len, device=x.device)
    return torch.cat([prompt, target_mask(target_len, T)], dim=1)


def verbose_uncertainty_loss(vlm, x, targets, target_len, spec, hp, t, state, token_weight):
    """Verbose Images' uncertainty loss alone (its base term, as the official code takes it): does
    flattening the next-token distribution lengthen captions without the EOS term?"""
    out = vlm.teacher_forced(x, targets, every_position=True)
    l2 = uncertainty_loss(out.all_logits, every_position_mask(vlm, x, target_len, targets.shape[1]), "sum")
    return l2, {"uncertainty": l2.detach()}


def verbose_loss(vlm, x, targets, target_len, spec, hp, t, state, token_weight):
    """Verbose Images' three losses with their adaptive weights, over every position of prompt +
    target (module docstring)."""
    out = vlm.teacher_forced(x, targets, every_position=True)
    mask = every_position_mask(vlm, x, target_len, targets.shape[1])
    l1 = weighted_eos_loss(vlm.eos_probability(out.all_logits), torch.ones_like(mask), mask)
    l2 = uncertainty_loss(out.all_logits, mask, reduction="sum")
    l3 = diversity_loss(out.hf_hidden, mask)
    k = t - 1  # the official loop counts steps from 0
    lam1 = state.setdefault("lambda1", Ema(hp.ema))((l2 / l1.clamp_min(1e-12) / lambda_schedule(k)).abs().detach())
    lam2 = state.setdefault("lambda2", Ema(hp.ema))((l2 / l3 / verbose_tau2(k)).abs().detach())
    total = l2 + lam1 * l1 + lam2 * l3
    return total, {"eos": l1.detach(), "uncertainty": l2.detach(), "diversity": l3.detach()}
