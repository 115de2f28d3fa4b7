"""The diffusion model, its loss and sampler, and the digit classifier behind the Frechet distance.
Introduced in ``notebooks/gfprune/02_model.ipynb``.

    >>> from repro.gfprune.config import UNetSpec
    >>> unet = build_unet(UNetSpec())
    >>> unet(torch.zeros(2, 1, 16, 16), torch.tensor([0, 999])).sample.shape
    torch.Size([2, 1, 16, 16])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from repro.gfprune.config import GfpruneConfig, UNetSpec

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> predicted noise


def build_unet(spec: UNetSpec) -> nn.Module:
    """A freshly initialised diffusers ``UNet2DModel`` from the spec (offline: built from a config)."""
    from diffusers import UNet2DModel

    kwargs = asdict(spec)
    channels = kwargs.pop("channels")
    return UNet2DModel(**kwargs, in_channels=channels, out_channels=channels)


def scheduler_config(num_train_timesteps: int) -> dict[str, Any]:
    """DDPM's linear beta schedule (1e-4 to 0.02), predicting the noise; x0 clipped to [-1, 1]."""
    from diffusers import DDPMScheduler

    return dict(DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="linear").config)


def alphas_cumprod(sched_config: dict) -> torch.Tensor:
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(sched_config).alphas_cumprod


def unet_denoiser(unet: nn.Module) -> Denoiser:
    return lambda x, t: unet(x, t).sample


def noise_loss(
    denoiser: Denoiser,
    x0: torch.Tensor,
    abar: torch.Tensor,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """DDPM's simple loss per example, ``|eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t)|^2``
    averaged over pixels; ``t`` uniform and ``noise`` Gaussian unless given (validation fixes both)."""
    t = torch.randint(0, len(abar), (len(x0),), device=x0.device) if t is None else t.to(x0.device)
    noise = torch.randn_like(x0) if noise is None else noise.to(x0.device)
    a = abar.to(x0.device)[t].view(-1, 1, 1, 1)
    pred = denoiser(a.sqrt() * x0 + (1 - a).sqrt() * noise, t)
    return (pred - noise).pow(2).flatten(1).mean(1)


@torch.no_grad()
def ddim_sample(
    unet: nn.Module, sched_config: dict, noise: torch.Tensor, steps: int, batch_size: int = 256
) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) from ``noise``: the same noise gives comparable samples across
    models (SSIM to the pretrained model's sample from the same noise). Returns images in [-1, 1]."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(sched_config)
    scheduler.set_timesteps(steps)
    unet.eval()
    out = []
    device = next(unet.parameters()).device
    for x in noise.to(device).split(batch_size):
        for t in scheduler.timesteps:
            x = scheduler.step(unet(x, t).sample, t, x).prev_sample
        out.append(x.clamp(-1, 1))
    return torch.cat(out)


# ----------------------------------------------------------------------------------------------
# the feature network of the Frechet distance


class DigitClassifier(nn.Module):
    """A small CNN trained in place on the real training images; its penultimate layer (64 units)
    is the feature space of the Frechet distance (our stand-in for Inception, named honestly)."""

    feature_dim = 64

    def __init__(self, channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(64 * 16, self.feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def classifier_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


@torch.no_grad()
def features(classifier: DigitClassifier, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    classifier.eval()
    device = next(classifier.parameters()).device
    return torch.cat([classifier.features(x.to(device)).cpu() for x in images.split(batch_size)])


def check_models(cfg: GfpruneConfig) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """Every network a profile builds, with a tiny input (the config-build test runs this for
    every profile). The UNet is wrapped so that one call is one denoising forward at t = 10."""
    s, c = cfg.unet.sample_size, cfg.unet.channels
    return {
        "unet": (DenoiseAt(build_unet(cfg.unet), 10), torch.randn(2, c, s, s)),
        "classifier": (DigitClassifier(channels=c), torch.rand(2, c, s, s) * 2 - 1),
    }


class DenoiseAt(nn.Module):
    def __init__(self, unet: nn.Module, t: int):
        super().__init__()
        self.unet, self.t = unet, t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x, torch.full((len(x),), self.t)).sample
