"""VideoPure's purifier: temporal DDIM inversion, guided spatial-temporal optimisation, multi-step
voting. Introduced in ``notebooks/videopure/03_train.ipynb``; equations in ``docs/papers/videopure.md``.

Clips are (B, T, 1, H, W) in [0, 1]; the per-frame DDPM works in [-1, 1]. With ``K`` inversion
steps on a DDIM grid of stride ``s`` (timesteps 0, s, ..., (K-1)s; diffusers' DDIMInverseScheduler):

1. Temporal inversion (``temporal=True``): every inversion step predicts the noise of frame 0 only and
   uses it for all frames, ``x_{t'}^f = sqrt(a_{t'}) x0_hat^f + sqrt(1 - a_{t'}) eps_theta(x_t^0, t)``,
   so the frames share one noise trajectory (``temporal=False``: each frame its own, per-frame DDIM
   inversion).
2. Denoising with DDIM (eta = 0) over the same K timesteps, each frame by the per-frame UNet. At each
   step, when ``guided``, the latents are optimised once: ``z' = z + sign * g * sigma_t * grad_z L``,
   ``L = w_rec * mean((x0_hat(z) - x_in)^2) + w_tc * mean((x0_hat(z)_{t+1} - warp(x0_hat(z)_t))^2)``
   per clip, with ``sigma_t = sqrt(1 - a_t)`` and the flow estimated from the input clip. ``sign = -1``
   descends ``L`` (the paper's intent: stay faithful to the input's content and temporally
   consistent); VideoPure's code as written ascends it (``guidance_sign=+1``). The optimised latents
   only give that step's x0 prediction (a candidate); the trajectory continues from ``z``.
3. Voting (``vote=True``): the recogniser classifies every candidate (the K x0 predictions and the
   final output) and the majority wins (ties: the lowest class index).

Rungs of the ladder (:data:`LADDER`): ``ddim_inversion`` (per-frame inversion, output the final
sample), ``temporal_inversion``, ``guided`` (output: the last step's guided x0 prediction),
``videopure`` (vote over all candidates). ``diffpure`` lives in :mod:`repro.videopure.baselines`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from repro.videopure.flow import estimate_shifts, warping_residual


@dataclass(frozen=True)
class Purifier:
    """A trained per-frame DDPM and the purification knobs every rung shares."""

    unet: nn.Module
    sched_config: dict
    ddim_steps: int
    inversion_steps: int
    diffpure_steps: int = 20
    guidance_scale: float = 1.0
    guidance_sign: float = -1.0
    w_rec: float = 800.0
    w_tc: float = 5.0
    max_shift: int = 2

    @property
    def stride(self) -> int:
        return self.sched_config["num_train_timesteps"] // self.ddim_steps

    @property
    def depth(self) -> int:
        """The timestep every rung purifies from: the last inverted timestep of the DDIM grid."""
        return (self.inversion_steps - 1) * self.stride

    def eps(self, z: torch.Tensor, t) -> torch.Tensor:
        """The UNet's noise prediction for clips (B, T, 1, H, W), frame by frame."""
        return self.unet(z.flatten(0, 1), t).sample.view_as(z)


@dataclass
class Purified:
    """``candidates`` (K, B, T, 1, H, W) in [0, 1]: one for a single-output rung, K+1 for a voting
    rung; ``output`` the clip the rung hands on (the last sample of the trajectory for voting rungs,
    used for the consistency metric); ``unet_frames`` frames through the UNet (forward-equivalents)."""

    candidates: torch.Tensor
    output: torch.Tensor
    vote: bool
    unet_frames: int


def to_model(video: torch.Tensor) -> torch.Tensor:
    return video * 2 - 1


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).clamp(0, 1)


@torch.no_grad()
def ddim_invert(p: Purifier, x: torch.Tensor, temporal: bool) -> tuple[torch.Tensor, int]:
    """K DDIM inversion steps from clips ``x`` in [-1, 1]; returns the latents and UNet frames used."""
    from diffusers import DDIMInverseScheduler

    inverse = DDIMInverseScheduler.from_config(p.sched_config)
    inverse.set_timesteps(p.ddim_steps)
    z, frames = x, 0
    for t in inverse.timesteps[: p.inversion_steps]:
        if temporal:  # frame 0's noise prediction, shared by every frame
            eps = p.unet(z[:, 0], t).sample[:, None].expand_as(z)
            frames += len(z)
        else:
            eps = p.eps(z, t)
            frames += z.shape[0] * z.shape[1]
        z = inverse.step(eps, t, z).prev_sample
    return z, frames


def x0_prediction(z: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor) -> torch.Tensor:
    return (z - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()


def guidance_loss(
    x0: torch.Tensor, target: torch.Tensor, shifts: torch.Tensor, w_rec: float, w_tc: float
) -> torch.Tensor:
    """VideoPure's spatial-temporal loss per clip, summed over the batch (each clip's own gradient):
    ``w_rec * mean((x0 - x_in)^2) + w_tc * mean(warping residual of x0 ^ 2)``."""
    rec = (x0 - target).pow(2).flatten(1).mean(1)
    tc = warping_residual(x0, shifts).pow(2).flatten(1).mean(1)
    return (w_rec * rec + w_tc * tc).sum()


def guided_x0(p: Purifier, z: torch.Tensor, t, abar_t: torch.Tensor, target: torch.Tensor, shifts: torch.Tensor):
    """One optimisation step of the latents (module docstring, step 2) and the x0 prediction there."""
    with torch.enable_grad():
        zg = z.detach().requires_grad_(True)
        loss = guidance_loss(x0_prediction(zg, p.eps(zg, t), abar_t), target, shifts, p.w_rec, p.w_tc)
        (grad,) = torch.autograd.grad(loss, zg)
    z_opt = z + p.guidance_sign * p.guidance_scale * (1 - abar_t).sqrt() * grad
    with torch.no_grad():
        return x0_prediction(z_opt, p.eps(z_opt, t), abar_t)


def ddim_purify(
    p: Purifier, video: torch.Tensor, generator=None, *, temporal: bool, guided: bool, vote: bool
) -> Purified:
    """Invert ``video`` (B, T, 1, H, W) in [0, 1] K steps, denoise K DDIM steps, and return the rung's
    candidates (module docstring). Deterministic: ``generator`` is accepted for a common signature."""
    from diffusers import DDIMScheduler

    x = to_model(video)
    shifts = estimate_shifts(video, p.max_shift) if guided else None
    z, frames = ddim_invert(p, x, temporal)
    scheduler = DDIMScheduler.from_config(p.sched_config)
    scheduler.set_timesteps(p.ddim_steps)
    abar = scheduler.alphas_cumprod
    candidates = []
    per_step = z.shape[0] * z.shape[1]
    for t in scheduler.timesteps[-p.inversion_steps :]:
        with torch.no_grad():
            eps = p.eps(z, t)
        frames += per_step
        a = abar[t].to(z)
        if guided:
            candidates.append(guided_x0(p, z, t, a, x, shifts))
            frames += 3 * per_step  # forward + backward, and the forward at the optimised latents
        else:
            candidates.append(x0_prediction(z, eps, a))
        with torch.no_grad():
            z = scheduler.step(eps, t, z).prev_sample
    output = to_pixels(z)
    if vote:
        stack = torch.stack([*map(to_pixels, candidates), output])
    elif guided:
        stack = to_pixels(candidates[-1])[None]
    else:
        stack = output[None]
    return Purified(stack.detach(), output.detach(), vote, frames)


def majority_vote(logits: torch.Tensor) -> torch.Tensor:
    """(K, B, C) logits -> (B,) the most frequent argmax over the K candidates (ties: lowest class)."""
    votes = F.one_hot(logits.argmax(-1), logits.shape[-1]).sum(0)
    return votes.argmax(-1)


@torch.no_grad()
def predict(recogniser: nn.Module, purified: Purified) -> torch.Tensor:
    """The rung's decision per clip: the vote over candidates, or the single output's argmax."""
    k, b = purified.candidates.shape[:2]
    logits = recogniser(purified.candidates.flatten(0, 1)).view(k, b, -1)
    return majority_vote(logits) if purified.vote else logits[0].argmax(-1)


LADDER = {
    "ddim_inversion": {"temporal": False, "guided": False, "vote": False},
    "temporal_inversion": {"temporal": True, "guided": False, "vote": False},
    "guided": {"temporal": True, "guided": True, "vote": False},
    "videopure": {"temporal": True, "guided": True, "vote": True},
}


def videopure(p: Purifier, video: torch.Tensor, generator=None) -> Purified:
    """Full VideoPure: temporal inversion, guided step, multi-step voting."""
    return ddim_purify(p, video, **LADDER["videopure"], generator=generator)
