"""The recognisers under attack and the per-frame diffusion model. Introduced in
``notebooks/videopure/02_model.ipynb``.

* :class:`Recogniser`: a video classifier on clips (B, T, 1, H, W) in [0, 1]. ``conv3d`` (3x3x3
  kernels: the recogniser the attacks target, our stand-in for I3D/TSM) or ``r2plus1d`` (1x3x3 then
  3x1x1 kernels: the surrogate of the black-box transfer attack, a different architecture trained
  on another seed).
* A diffusers ``UNet2DModel`` that denoises one frame (in [-1, 1]); DDPM's linear schedule over 1000
  timesteps; :func:`schedulers` gives diffusers' DDIM, DDIM-inverse and DDPM schedulers from one config
  with ``clip_sample=False`` (clipping x0 would spoil the inversion).

    >>> import torch
    >>> from repro.videopure.config import RecogniserSpec
    >>> Recogniser(RecogniserSpec(), n_classes=10)(torch.rand(2, 4, 1, 16, 16)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from repro.videopure.config import RecogniserSpec, UNetSpec


def _block(kind: str, c_in: int, c_out: int, stride: tuple[int, int, int]) -> nn.Module:
    """Conv, BatchNorm, ReLU (BatchNorm: a pilot without it reached 50-60% test accuracy in 10 epochs,
    with it 92% in 8)."""
    if kind == "conv3d":
        return nn.Sequential(nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm3d(c_out), nn.ReLU())
    return nn.Sequential(  # (2+1)D: space, then time
        nn.Conv3d(c_in, c_out, (1, 3, 3), stride=(1, *stride[1:]), padding=(0, 1, 1)),
        nn.BatchNorm3d(c_out),
        nn.ReLU(),
        nn.Conv3d(c_out, c_out, (3, 1, 1), stride=(stride[0], 1, 1), padding=(1, 0, 0)),
        nn.BatchNorm3d(c_out),
        nn.ReLU(),
    )


class Recogniser(nn.Module):
    """Three space-time conv blocks (the last two halve the frame size), global pooling, a linear head."""

    def __init__(self, spec: RecogniserSpec, n_classes: int):
        super().__init__()
        w = spec.width
        self.body = nn.Sequential(
            _block(spec.kind, 1, w, (1, 1, 1)),
            _block(spec.kind, w, 2 * w, (1, 2, 2)),
            _block(spec.kind, 2 * w, 2 * w, (1, 2, 2)),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * w, n_classes)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.ndim != 5:
            raise ValueError(f"Recogniser expects clips (B, T, C, H, W), got shape {tuple(video.shape)}")
        return self.head(self.body(video.transpose(1, 2)))


def recogniser_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    video, label = batch
    return F.cross_entropy(model(video), label)


def build_unet(spec: UNetSpec) -> nn.Module:
    """A freshly initialised one-channel ``UNet2DModel`` (offline: built from its config)."""
    from diffusers import UNet2DModel

    kwargs = asdict(spec)
    levels = len(spec.block_out_channels)
    return UNet2DModel(
        **kwargs,
        in_channels=1,
        out_channels=1,
        down_block_types=("DownBlock2D",) * levels,
        up_block_types=("UpBlock2D",) * levels,
    )


def scheduler_config(num_train_timesteps: int) -> dict[str, Any]:
    """DDPM's linear beta schedule (1e-4 to 0.02), predicting the noise, x0 not clipped."""
    from diffusers import DDPMScheduler

    return dict(DDPMScheduler(num_train_timesteps=num_train_timesteps, clip_sample=False).config)


def alphas_cumprod(sched_config: dict) -> torch.Tensor:
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(sched_config).alphas_cumprod


def diffusion_loss(abar: torch.Tensor, t_max: int):
    """DDPM's simple loss ``|eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t)|^2`` on frames in
    [-1, 1], with ``t`` uniform below ``t_max`` (the purifiers never start deeper)."""

    def loss(unet: nn.Module, batch: tuple[torch.Tensor]) -> torch.Tensor:
        (x0,) = batch
        t = torch.randint(0, t_max, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        a = abar.to(x0.device)[t].view(-1, 1, 1, 1)
        return F.mse_loss(unet(a.sqrt() * x0 + (1 - a).sqrt() * noise, t).sample, noise)

    return loss


@torch.no_grad()
def ddim_sample(unet: nn.Module, sched_config: dict, noise: torch.Tensor, steps: int) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) frames from ``noise``, in [0, 1] (a look at what the DDPM learnt)."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(sched_config)
    scheduler.set_timesteps(steps)
    x = noise
    for t in scheduler.timesteps:
        x = scheduler.step(unet(x, t).sample, t, x).prev_sample
    return ((x + 1) / 2).clamp(0, 1)


class DenoiseAt(nn.Module):
    """One denoising forward at a fixed timestep (the config-rot test's view of the UNet)."""

    def __init__(self, unet: nn.Module, t: int):
        super().__init__()
        self.unet, self.t = unet, t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x, torch.full((len(x),), self.t)).sample


def check_models(cfg) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """Every network a profile builds, with a tiny input (the tests run a forward for every profile)."""
    s, t = cfg.video.canvas, cfg.video.frames
    clip = torch.rand(2, t, 1, s, s)
    return {
        "recogniser": (Recogniser(cfg.recogniser, cfg.n_classes), clip),
        "surrogate": (Recogniser(cfg.surrogate, cfg.n_classes), clip),
        "unet": (DenoiseAt(build_unet(cfg.unet), 10), torch.randn(2, 1, s, s)),
    }
