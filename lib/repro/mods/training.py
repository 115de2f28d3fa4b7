"""Training one arm with one seed: the same optimizer, data order, epochs and batch size for every
arm (the budget ledger in ``claims.json`` shows what each one spent), and batched inference.
Introduced in ``notebooks/mods/03_train.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from repro.core.runtime import seed_everything
from repro.core.train import FitResult, fit
from repro.mods.config import ModelSpec
from repro.mods.method import build_model, mods_loss
from repro.mods.networks import Output

INPUTS = ("text", "text_mask", "audio", "audio_mask", "vision", "vision_mask", "label")


class DictDataset(Dataset):
    """Rows of a dict of equal-length tensors, as dicts (the default collate stacks them)."""

    def __init__(self, data: Mapping[str, torch.Tensor]):
        self.data = {k: data[k] for k in INPUTS}
        self.n = len(self.data["label"])

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.data.items()}


def dims_of(data: Mapping[str, torch.Tensor]) -> tuple[int, int, int]:
    return tuple(int(data[m].shape[-1]) for m in ("text", "audio", "vision"))


def train_arm(
    spec: ModelSpec,
    data: Mapping[str, torch.Tensor],
    *,
    alpha: float,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    accelerator,
    desc: str = "",
) -> tuple[nn.Module, FitResult]:
    """Train a fresh model of ``spec`` (an arm's spec, :func:`repro.mods.method.arm_spec`) on MAE +
    ``alpha`` * InfoNCE with Adam. The seed fixes the initialisation and the data order, so every
    arm with the same seed sees the same batches (a paired comparison)."""
    generator = seed_everything(seed)
    model = build_model(spec)
    loader = DataLoader(DictDataset(data), batch_size=batch_size, shuffle=True, generator=generator, drop_last=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    result = fit(
        model,
        lambda m, batch: mods_loss(m, batch, alpha),
        loader,
        optimizer,
        epochs=epochs,
        accelerator=accelerator,
        desc=desc or spec.arch,
    )
    return accelerator.unwrap_model(model).eval(), result


@torch.no_grad()
def predict(model: nn.Module, data: Mapping[str, torch.Tensor], batch_size: int = 256) -> Output:
    """The model's outputs over a whole split, in order (weights/primary where it has a selector)."""
    model.eval()
    device = next(model.parameters()).device
    outs = []
    for start in range(0, len(data["label"]), batch_size):
        batch = {k: data[k][start : start + batch_size].to(device) for k in INPUTS}
        outs.append(model(batch, full=True))
    cat = lambda name: (
        None if getattr(outs[0], name) is None else torch.cat([getattr(o, name).float().cpu() for o in outs])
    )  # noqa: E731
    return Output(cat("pred"), cat("weights"), cat("primary"), None)
