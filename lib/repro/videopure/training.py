"""Training the recognisers and the per-frame DDPM through the kit's :func:`repro.core.train.fit`.
Introduced in ``notebooks/videopure/02_model.ipynb``."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from repro.core.train import Budget, fit
from repro.videopure.config import RecogniserSpec
from repro.videopure.models import Recogniser, diffusion_loss, recogniser_loss


def train_recogniser(
    spec: RecogniserSpec, videos: torch.Tensor, labels: torch.Tensor, n_classes: int, seed: int, accelerator
) -> tuple[Recogniser, list[float], Budget]:
    """Adam on cross-entropy for ``spec.epochs`` epochs, batches shuffled by ``seed``."""
    torch.manual_seed(seed)
    net = Recogniser(spec, n_classes)
    loader = DataLoader(
        TensorDataset(videos, labels),
        batch_size=spec.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=spec.lr)
    model, optimizer, loader = accelerator.prepare(net, optimizer, loader)
    result = fit(model, recogniser_loss, loader, optimizer, epochs=spec.epochs, accelerator=accelerator, desc=spec.kind)
    return accelerator.unwrap_model(model).eval(), result.losses, result.budget


def train_diffusion(
    unet: nn.Module,
    frames: torch.Tensor,
    abar: torch.Tensor,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    t_max: int,
    seed: int,
    accelerator,
    chunks: int = 10,
) -> tuple[list[float], Budget]:
    """``steps`` Adam steps of the DDPM loss on frames in [-1, 1] (batches drawn with replacement);
    one loss point per tenth of the steps."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    losses, budget = [], Budget()
    model, optimizer = accelerator.prepare(unet, optimizer)
    per_chunk = max(1, steps // chunks)
    for start in range(0, steps, per_chunk):
        n = min(per_chunk, steps - start)
        sampler = RandomSampler(range(len(frames)), replacement=True, num_samples=n * batch_size, generator=generator)
        loader = accelerator.prepare(
            DataLoader(TensorDataset(frames), batch_size=batch_size, sampler=sampler, drop_last=True)
        )
        result = fit(
            model,
            diffusion_loss(abar, t_max),
            loader,
            optimizer,
            epochs=1,
            accelerator=accelerator,
            counted={"unet": accelerator.unwrap_model(model)},
            desc="ddpm",
        )
        losses += result.losses
        budget = budget.merge(result.budget)
    return losses, budget
