"""MODS's objective and the models of its arms (the method, its ablations, the baselines; the
registry of arms is data, :data:`repro.mods.config.ARMS`). Introduced in ``notebooks/mods/02_model.ipynb``
and ``03_train.ipynb``.

Loss (paper): MAE(pred, y) + alpha * InfoNCE of the reverse path (alpha 0.1). Arms without a
reverse path (the fusion baselines) and the no-InfoNCE ablation train on MAE alone.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from repro.mods.baselines import BASELINES
from repro.mods.config import ARMS, ModelSpec
from repro.mods.networks import MODS

__all__ = ["ARMS", "arm_spec", "build_model", "mods_loss", "uses_nce"]


def arm_spec(base: ModelSpec, arm: str) -> ModelSpec:
    return replace(base, **ARMS[arm][0])


def uses_nce(arm: str) -> bool:
    return ARMS[arm][1]


def build_model(spec: ModelSpec) -> nn.Module:
    if spec.arch == "mods":
        return MODS(spec)
    if spec.arch in BASELINES:
        return BASELINES[spec.arch](spec)
    raise ValueError(f"unknown arch {spec.arch!r}; valid: mods, {', '.join(BASELINES)}")


def mods_loss(model: nn.Module, batch: dict, alpha: float) -> torch.Tensor:
    """MAE + alpha * InfoNCE (alpha = 0, or a model without a reverse path: MAE only)."""
    out = model(batch, full=True)  # through forward, so a DDP wrapper syncs the gradients
    loss = F.l1_loss(out.pred, batch["label"])
    if alpha and out.nce is not None:
        loss = loss + alpha * out.nce
    return loss
