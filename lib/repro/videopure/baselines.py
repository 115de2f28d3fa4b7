"""What VideoPure is compared with: no defence, per-frame DiffPure, and the ladder's lower rungs
(per-frame DDIM inversion etc., built from :func:`repro.videopure.method.ddim_purify`). Every rung
uses the same trained DDPM and purifies from the same timestep. Introduced in ``03_train.ipynb``.

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
    out = to_pixels(z)
    return Purified(out[None], out, False, len(scheduler.timesteps) * x.shape[0] * x.shape[1])


def no_defence(p: Purifier, video: torch.Tensor, generator=None) -> Purified:
    return Purified(video[None], video, False, 0)


def rung(name: str) -> Callable[..., Purified]:
    """The purification function of a ladder rung: ``fn(purifier, video, generator) -> Purified``."""
    if name == "none":
        return no_defence
    if name == "diffpure":
        return diffpure
    if name in LADDER:
        return partial(ddim_purify, **LADDER[name])
    raise KeyError(f"unknown rung {name!r}; valid: none, diffpure, {', '.join(LADDER)}")
