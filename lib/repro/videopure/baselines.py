"""What VideoPure is compared with: no defence (the identity purifier: the recogniser sees the input),
per-frame DiffPure, VideoPure's ``ddim`` baseline, and the ladder's lower rungs (per-frame DDIM
inversion etc., built from :func:`repro.videopure.method.ddim_purify`). Every rung uses the same
trained DDPM and purifies from the same timestep. Introduced in ``03_train.ipynb``.

``ddim`` (VideoPure's code, ``Denoiser.ddim``): noise the clip to the depth with independent Gaussian
noise, ``x_d = sqrt(a_d) x + sqrt(1 - a_d) n``, then the same K DDIM steps (eta = 0) as the ladder,
frame by frame; the output is the final sample.

DiffPure, per frame (Nie et al., 2022; NVlabs/DiffPure runs the reverse SDE from t* = 0.1 on
CIFAR-10): diffuse every frame independently to the depth ``t*``,
``x_{t*} = sqrt(a_{t*}) x + sqrt(1 - a_{t*}) n`` with ``n ~ N(0, I)`` per frame, then run DDPM's
ancestral sampler back to 0 (diffusers' ``DDPMScheduler``, the discrete counterpart of the reverse
SDE) on ``diffpure_steps`` timesteps evenly spaced from ``t*`` to 0 (``depth + 1`` steps: every
timestep, as DiffPure does; fewer: a strided ancestral sampler, the miniature's budget).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from repro.videopure.method import LADDER, Purified, Purifier, ddim_purify, to_model, to_pixels


def diffpure_timesteps(depth: int, steps: int) -> list[int]:
    """``steps`` distinct timesteps from ``depth`` down to 0."""
    if steps > depth + 1:
        raise ValueError(f"diffpure_steps ({steps}) exceeds the {depth + 1} timesteps from {depth} to 0")
    return [int(t) for t in np.unique(np.linspace(0, depth, steps).round().astype(int))[::-1]]


@torch.no_grad()
def diffpure(p: Purifier, video: torch.Tensor, generator: torch.Generator | None = None, steps: int = 0) -> Purified:
    """Per-frame DiffPure (module docstring); ``steps`` overrides ``p.diffpure_steps`` (timing row)."""
    from diffusers import DDPMScheduler

    x = to_model(video)
    scheduler = DDPMScheduler.from_config(p.sched_config)
    scheduler.set_timesteps(timesteps=diffpure_timesteps(p.depth, steps or p.diffpure_steps))
    depth = int(scheduler.timesteps[0])
    a = scheduler.alphas_cumprod[depth].to(x)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    z = a.sqrt() * x + (1 - a).sqrt() * noise
    for t in scheduler.timesteps:
        z = scheduler.step(p.eps(z, t), t, z, generator=generator).prev_sample
    return Purified(to_pixels(z)[None], False, len(scheduler.timesteps) * x.shape[0] * x.shape[1])


@torch.no_grad()
def ddim(p: Purifier, video: torch.Tensor, generator: torch.Generator | None = None) -> Purified:
    """VideoPure's ``ddim`` baseline (module docstring): fresh noise to the depth, K DDIM steps back."""
    from diffusers import DDIMScheduler

    x = to_model(video)
    scheduler = DDIMScheduler.from_config(p.sched_config)
    scheduler.set_timesteps(p.ddim_steps)
    timesteps = scheduler.timesteps[-p.inversion_steps :]
    a = scheduler.alphas_cumprod[timesteps[0]].to(x)
    z = a.sqrt() * x + (1 - a).sqrt() * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    for t in timesteps:
        z = scheduler.step(p.eps(z, t), t, z).prev_sample
    return Purified(to_pixels(z)[None], False, len(timesteps) * x.shape[0] * x.shape[1])


def no_defence(p: Purifier, video: torch.Tensor, generator=None) -> Purified:
    return Purified(video[None], False, 0)


def rung(name: str) -> Callable[..., Purified]:
    """The purification function of a ladder rung: ``fn(purifier, video, generator) -> Purified``."""
    if name == "none":
        return no_defence
    if name == "diffpure":
        return diffpure
    if name == "ddim":
        return ddim
    if name in LADDER:
        return partial(ddim_purify, **LADDER[name])
    raise KeyError(f"unknown rung {name!r}; valid: none, diffpure, ddim, {', '.join(LADDER)}")
