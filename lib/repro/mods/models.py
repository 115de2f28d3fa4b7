"""MODS's models: the building blocks (GDC, MSelector, PCCA, the MODS network; defined in
:mod:`repro.mods.networks`) and ``check_models``, which builds every model a profile uses.
Introduced in ``notebooks/mods/02_model.ipynb``.

The blocks live in ``networks`` so that the baselines and the method, which build on them, do not
import this module back (no import cycle): ``check_models`` needs the method's registry.
"""

from __future__ import annotations

import torch

from repro.mods.config import ModelSpec, ModsConfig
from repro.mods.method import ARMS, arm_spec, build_model
from repro.mods.networks import (
    GDC,
    MODALITIES,
    MODS,
    PCCA,
    Attention,
    AttentionPool,
    CapsuleCompressor,
    FeedForward,
    FrontEnd,
    GraphConv,
    MSelector,
    Output,
    PCCALayer,
    PoolCompressor,
    info_nce,
    masked_mean,
    regression_head,
    sinusoid,
    split_primary,
)

__all__ = [
    "GDC",
    "MODALITIES",
    "MODS",
    "PCCA",
    "Attention",
    "AttentionPool",
    "CapsuleCompressor",
    "FeedForward",
    "FrontEnd",
    "GraphConv",
    "MSelector",
    "ModelSpec",
    "Output",
    "PCCALayer",
    "PoolCompressor",
    "info_nce",
    "masked_mean",
    "regression_head",
    "sinusoid",
    "split_primary",
    "check_models",
]


def check_models(cfg: ModsConfig) -> dict[str, tuple[torch.nn.Module, dict]]:
    """Every model a profile builds, with a tiny batch at the profile's lengths and dims (the
    config-rot test runs this for ``gpu`` and ``paper`` on CPU)."""
    dims = (cfg.text_dim, cfg.audio_dim, cfg.vision_dim)
    gen = torch.Generator().manual_seed(0)
    batch = {"label": torch.zeros(2)}
    for name, length, dim in zip(("text", "audio", "vision"), (cfg.text_len, cfg.av_len, cfg.av_len), dims):
        batch[name] = torch.randn(2, length, dim, generator=gen)
        batch[f"{name}_mask"] = torch.arange(length)[None, :] < torch.tensor([[length], [length // 2]])
    base = cfg.model_for(dims)
    return {arm: (build_model(arm_spec(base, arm)), batch) for arm in cfg.arms if arm in ARMS}
