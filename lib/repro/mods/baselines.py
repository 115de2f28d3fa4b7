"""The fusion baselines MODS is compared with, on the same front end (text projection, GDC for
acoustic and visual) so that only the fusion differs. Introduced in ``notebooks/mods/02_model.ipynb``.

- ``LateFusion``: one attention-pooled vector and one regressor per modality, predictions averaged.
- ``GatedLateFusion`` (an honesty guard, docs/papers/mods.md): the same, combined by a learned per-sample softmax
  gate over modalities, which can adapt to the dominant modality without MODS' machinery.
- ``EarlyFusion``: the three streams concatenated along time (with a modality embedding) into one
  transformer encoder. The data are unaligned, so this is token-level fusion, not frame-wise
  concatenation (reconstruction: our choice).
- ``MulTLite``: MulT's crossmodal attention in miniature: each modality attends to each other one
  (one block per pair), then one self-attention layer per target, pooled and concatenated.
"""

from __future__ import annotations

import torch
from torch import nn

from repro.mods.networks import (
    MODALITIES,
    Attention,
    AttentionPool,
    FeedForward,
    FrontEnd,
    ModelSpec,
    Output,
    masked_mean,
    regression_head,
)


class LateFusion(nn.Module):
    def __init__(self, spec: ModelSpec, gated: bool = False):
        super().__init__()
        d = spec.d_model
        self.front = FrontEnd(spec)
        self.pools = nn.ModuleList(AttentionPool(d) for _ in MODALITIES)
        self.heads = nn.ModuleList(regression_head(d, d, spec.dropout) for _ in MODALITIES)
        self.gate = nn.Sequential(nn.Linear(3 * d, d), nn.ReLU(), nn.Linear(d, 3)) if gated else None

    def run(self, batch: dict) -> Output:
        streams, masks = self.front(batch)
        pooled = [pool(x, m) for pool, x, m in zip(self.pools, streams, masks)]
        preds = torch.cat([head(h) for head, h in zip(self.heads, pooled)], dim=-1)  # (B, 3)
        if self.gate is None:
            return Output(preds.mean(-1))
        weights = self.gate(torch.cat(pooled, -1)).softmax(-1)
        return Output((weights * preds).sum(-1), weights, weights.argmax(-1))

    def forward(self, batch: dict, full: bool = False) -> torch.Tensor | Output:
        return self.run(batch) if full else self.run(batch).pred


class GatedLateFusion(LateFusion):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec, gated=True)


class EarlyFusion(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        d = spec.d_model
        self.front = FrontEnd(spec)
        self.modality = nn.Parameter(torch.zeros(3, d))
        layer = nn.TransformerEncoderLayer(d, spec.heads, 2 * d, spec.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, spec.layers, enable_nested_tensor=False)
        self.head = regression_head(d, d, spec.dropout)

    def run(self, batch: dict) -> Output:
        streams, masks = self.front(batch)
        tokens = torch.cat([x + self.modality[m] for m, x in enumerate(streams)], 1)
        mask = torch.cat(masks, 1)
        return Output(self.head(masked_mean(self.encoder(tokens, src_key_padding_mask=~mask), mask)).squeeze(-1))

    def forward(self, batch: dict, full: bool = False) -> torch.Tensor | Output:
        return self.run(batch) if full else self.run(batch).pred


class MulTLite(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        d = spec.d_model
        self.front = FrontEnd(spec)
        self.cross = nn.ModuleDict(
            {f"{t}<{s}": Attention(d, spec.heads, spec.dropout) for t in MODALITIES for s in MODALITIES if s != t}
        )
        self.merge = nn.ModuleList(nn.Linear(2 * d, d) for _ in MODALITIES)
        self.self_attn = nn.ModuleList(Attention(d, spec.heads, spec.dropout) for _ in MODALITIES)
        self.ff = nn.ModuleList(FeedForward(d, spec.dropout) for _ in MODALITIES)
        self.head = regression_head(3 * d, d, spec.dropout)

    def run(self, batch: dict) -> Output:
        streams, masks = self.front(batch)
        pooled = []
        for t, target in enumerate(MODALITIES):
            x, mask = streams[t], masks[t]
            crossed = [
                x + self.cross[f"{target}<{source}"](x, streams[s], masks[s])
                for s, source in enumerate(MODALITIES)
                if s != t
            ]
            h = self.merge[t](torch.cat(crossed, -1))
            h = self.ff[t](h + self.self_attn[t](h, h, mask))
            pooled.append(masked_mean(h, mask))
        return Output(self.head(torch.cat(pooled, -1)).squeeze(-1))

    def forward(self, batch: dict, full: bool = False) -> torch.Tensor | Output:
        return self.run(batch) if full else self.run(batch).pred


BASELINES = {"late": LateFusion, "late_gate": GatedLateFusion, "early": EarlyFusion, "mult": MulTLite}
