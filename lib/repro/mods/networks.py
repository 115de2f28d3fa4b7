"""MODS's building blocks: GDC, MSelector, PCCA, and the MODS model that chains them.
Introduced in ``notebooks/mods/02_model.ipynb``.

Every model takes a batch dict (``text``, ``audio``, ``vision`` of shape (B, T, D) and boolean
``<modality>_mask`` of shape (B, T)) and returns the predicted sentiment (B,); ``model(batch,
full=True)`` returns an :class:`Output` with the selector's weights, the primary modality and the
InfoNCE term as well. All of it is
vectorised over the batch: the primary modality differs per sample and is gathered, not looped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from repro.mods.config import ModelSpec

MODALITIES = ("text", "audio", "vision")


@dataclass
class Output:
    pred: torch.Tensor  # (B,)
    weights: torch.Tensor | None = None  # (B, 3) modality weights (text, audio, vision)
    primary: torch.Tensor | None = None  # (B,) argmax of the weights (or the fixed primary)
    nce: torch.Tensor | None = None  # InfoNCE of the reverse path (scalar)


def sinusoid(length: int, dim: int, device=None) -> torch.Tensor:
    """Fixed positional encodings (length, dim)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)[:, : dim // 2]
    return pe


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid positions: (B, T, d), (B, T) -> (B, d)."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


# ----------------------------------------------------------------------------------------------
# GDC: graph-based dynamic sequence compressor


class CapsuleCompressor(nn.Module):
    """Caps_ij = W_j H_i (W_j shared over input positions i, so any length works); dynamic routing
    r = softmax_j(b), N_j = sum_i r_ij Caps_ij, b <- b + Caps_ij . tanh(N_j), b starting at 0.
    Padded frames get no coupling. (B, T, D_in) -> (B, nodes, d).

    The (B, T, nodes, d) capsule tensor is never built: N_j = W_j (sum_i r_ij H_i) and
    Caps_ij . tanh(N_j) = H_i . (W_j^T tanh(N_j)), the same numbers at a d-fold lower cost
    (``capsules()`` builds it explicitly; a test checks the two agree)."""

    def __init__(self, d_in: int, d: int, nodes: int, iters: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nodes, d, d_in) / math.sqrt(d_in))
        self.iters = iters
        self.norm = nn.LayerNorm(d)

    def capsules(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bti,jdi->btjd", x, self.weight)

    def route(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nodes before the norm (B, J, d) and the final couplings r (B, T, J)."""
        logits = x.new_zeros(x.shape[0], x.shape[1], self.weight.shape[0])  # b_ij = 0
        valid = mask.unsqueeze(-1).to(x.dtype)
        for it in range(self.iters):
            routing = logits.softmax(dim=-1) * valid  # r_ij over nodes j; padded i contribute nothing
            nodes = torch.einsum("bji,jdi->bjd", torch.einsum("btj,bti->bji", routing, x), self.weight)
            if it < self.iters - 1:
                pulled = torch.einsum("bjd,jdi->bji", torch.tanh(nodes), self.weight)
                logits = logits + torch.einsum("bti,bji->btj", x, pulled)
        return nodes, routing

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.norm(self.route(x, mask)[0])


class GraphConv(nn.Module):
    """Learned graph over the nodes, E = ReLU((Wq N)(Wk N)^T / sqrt(d)), plus self-loops (ReLU can
    leave a node with no edge), then GCN layers H <- ReLU(D^-1/2 (E + I) D^-1/2 H W + b)."""

    def __init__(self, d: int, layers: int):
        super().__init__()
        self.q, self.k = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.layers = nn.ModuleList(nn.Linear(d, d) for _ in range(layers))

    def adjacency(self, nodes: torch.Tensor) -> torch.Tensor:
        scores = self.q(nodes) @ self.k(nodes).transpose(1, 2) / math.sqrt(nodes.shape[-1])
        edges = F.relu(scores) + torch.eye(nodes.shape[1], device=nodes.device, dtype=nodes.dtype)
        inv_sqrt = edges.sum(-1).rsqrt()
        return inv_sqrt.unsqueeze(-1) * edges * inv_sqrt.unsqueeze(-2)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        adj = self.adjacency(nodes)
        for layer in self.layers:
            nodes = F.relu(layer(adj @ nodes))
        return nodes


class GDC(nn.Module):
    """Capsule compression to ``nodes`` nodes, then the learned graph and GCN layers."""

    def __init__(self, d_in: int, d: int, nodes: int, iters: int, gcn_layers: int):
        super().__init__()
        self.capsules = CapsuleCompressor(d_in, d, nodes, iters)
        self.graph = GraphConv(d, gcn_layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.graph(self.capsules(x, mask))


class PoolCompressor(nn.Module):
    """The no-GDC ablation: project, then average the valid frames in ``nodes`` equal segments
    (plain pooling to the same length as GDC, as the honesty guard in docs/papers/mods.md asks)."""

    def __init__(self, d_in: int, d: int, nodes: int):
        super().__init__()
        self.proj, self.nodes, self.norm = nn.Linear(d_in, d), nodes, nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1, keepdim=True).clamp_min(1)  # (B, 1)
        t = torch.arange(x.shape[1], device=x.device)[None, :]
        segment = (t * self.nodes // lengths).clamp_max(self.nodes - 1)  # (B, T)
        assign = F.one_hot(segment, self.nodes).to(x.dtype) * mask.unsqueeze(-1)  # (B, T, nodes)
        pooled = assign.transpose(1, 2) @ self.proj(x) / assign.sum(1).clamp_min(1).unsqueeze(-1)
        return self.norm(pooled)


class FrontEnd(nn.Module):
    """The same front end for every model: text projected with positions; acoustic and visual
    sequences compressed to ``nodes`` nodes (GDC, or pooling for the ablation). Returns the three
    streams (B, T_m, d) and their masks."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        d_text, d_audio, d_vision = spec.dims
        self.text = nn.Sequential(nn.Linear(d_text, spec.d_model), nn.LayerNorm(spec.d_model))
        make = (
            (lambda d_in: GDC(d_in, spec.d_model, spec.nodes, spec.routing_iters, spec.gcn_layers))
            if spec.compressor == "gdc"
            else (lambda d_in: PoolCompressor(d_in, spec.d_model, spec.nodes))
        )
        self.audio, self.vision = make(d_audio), make(d_vision)

    def forward(self, batch: dict) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        text = self.text(batch["text"])
        text = text + sinusoid(text.shape[1], text.shape[2], text.device).to(text.dtype)
        audio = self.audio(batch["audio"], batch["audio_mask"])
        vision = self.vision(batch["vision"], batch["vision_mask"])
        full = torch.ones(audio.shape[:2], dtype=torch.bool, device=audio.device)
        return [text, audio, vision], [batch["text_mask"], full, full.clone()]


# ----------------------------------------------------------------------------------------------
# MSelector


class AttentionPool(nn.Module):
    """h = sum_t softmax_t(v^T tanh(W x_t)) x_t over valid positions."""

    def __init__(self, d: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        return torch.einsum("bt,btd->bd", logits.softmax(-1), x)


class MSelector(nn.Module):
    """Attention pooling per modality, w = softmax(MLP([h_text; h_audio; h_vision])) per sample;
    the primary modality is argmax w. ``fixed`` (0, 1, 2) pins the primary and gives weight 1 to
    every stream (the fixed-primary baselines: no selector)."""

    def __init__(self, d: int, fixed: int | None = None):
        super().__init__()
        self.pools = nn.ModuleList(AttentionPool(d) for _ in MODALITIES)
        self.fixed = fixed
        self.mlp = None if fixed is not None else nn.Sequential(nn.Linear(3 * d, d), nn.ReLU(), nn.Linear(d, 3))

    def forward(self, streams, masks) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = torch.stack([pool(x, m) for pool, x, m in zip(self.pools, streams, masks)], dim=1)  # (B, 3, d)
        batch = pooled.shape[0]
        if self.fixed is not None:
            weights = pooled.new_ones(batch, 3)
            primary = torch.full((batch,), self.fixed, dtype=torch.long, device=pooled.device)
        else:
            weights = self.mlp(pooled.flatten(1)).softmax(-1)
            primary = weights.argmax(-1)
        return pooled, weights, primary


# ----------------------------------------------------------------------------------------------
# PCCA


class Attention(nn.Module):
    """Multi-head attention with a pre-norm on the queries only: keys and values keep the scale
    the selector gave their stream (a norm there would undo the modality weights)."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)

    def forward(self, query: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        out, _ = self.attn(self.norm(query), memory, memory, key_padding_mask=~memory_mask, need_weights=False)
        return out


class FeedForward(nn.Module):
    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class PCCALayer(nn.Module):
    """One primary-centred layer. Primary P, secondaries S (both secondary streams side by side):
    P <- P + SelfAttn(P) + CrossAttn(P <- S); then S <- S + CrossAttn(S <- P); feed-forward with
    residual on both. ``last``: only the secondary-to-primary path (and P's feed-forward)."""

    def __init__(self, d: int, heads: int, dropout: float, last: bool):
        super().__init__()
        self.last = last
        self.to_primary = Attention(d, heads, dropout)
        self.ff_primary = FeedForward(d, dropout)
        if not last:
            self.self_primary = Attention(d, heads, dropout)
            self.to_secondary = Attention(d, heads, dropout)
            self.ff_secondary = FeedForward(d, dropout)

    def forward(self, p, p_mask, s, s_mask):
        update = self.to_primary(p, s, s_mask)
        if not self.last:
            update = update + self.self_primary(p, p, p_mask)
        p = self.ff_primary(p + update)
        if not self.last:
            s = self.ff_secondary(s + self.to_secondary(s, p, p_mask))
        return p, s


class PCCA(nn.Module):
    def __init__(self, d: int, heads: int, layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(PCCALayer(d, heads, dropout, last=i == layers - 1) for i in range(layers))

    def forward(self, p, p_mask, s, s_mask):
        for layer in self.layers:
            p, s = layer(p, p_mask, s, s_mask)
        return p


def split_primary(streams, masks, primary: torch.Tensor):
    """Gather each sample's primary stream and its two secondaries (concatenated along time).
    Streams are padded to one length first; masks keep the padding out of attention."""
    length = max(x.shape[1] for x in streams)
    stack = torch.stack([F.pad(x, (0, 0, 0, length - x.shape[1])) for x in streams], 1)  # (B, 3, T, d)
    mask = torch.stack([F.pad(m, (0, length - m.shape[1])) for m in masks], 1)  # (B, 3, T)
    rows = torch.arange(stack.shape[0], device=stack.device)
    second, third = (primary + 1) % 3, (primary + 2) % 3
    p, p_mask = stack[rows, primary], mask[rows, primary]
    s = torch.cat([stack[rows, second], stack[rows, third]], 1)
    s_mask = torch.cat([mask[rows, second], mask[rows, third]], 1)
    return p, p_mask, s, s_mask


def info_nce(pred: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE with the other batch items as negatives: (B, d), (B, d) -> scalar."""
    logits = F.normalize(pred, dim=-1) @ F.normalize(target, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(pred), device=pred.device))


def regression_head(d_in: int, d: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d, 1))


class MODS(nn.Module):
    """GDC front end -> MSelector (weights scale each stream; primary = argmax) -> PCCA around the
    per-sample primary -> pooled primary -> sentiment. Reverse path: from the pooled primary, one
    linear map per modality predicts that modality's pooled vector; InfoNCE scores it against the
    other samples of the batch. ``fusion="concat"`` replaces PCCA with an MLP over the weighted
    pooled vectors (the no-PCCA ablation)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        d = spec.d_model
        self.spec = spec
        self.front = FrontEnd(spec)
        fixed = None if spec.selector == "learned" else MODALITIES.index(spec.selector)
        self.selector = MSelector(d, fixed)
        self.pcca = PCCA(d, spec.heads, spec.layers, spec.dropout) if spec.fusion == "pcca" else None
        self.fuse = None if spec.fusion == "pcca" else nn.Linear(3 * d, d)
        self.reverse = nn.Linear(d, 3 * d)
        self.head = regression_head(d, d, spec.dropout)

    def run(self, batch: dict) -> Output:
        streams, masks = self.front(batch)
        pooled, weights, primary = self.selector(streams, masks)
        if self.pcca is not None:
            streams = [x * weights[:, m, None, None] for m, x in enumerate(streams)]
            p, p_mask, s, s_mask = split_primary(streams, masks, primary)
            z = masked_mean(self.pcca(p, p_mask, s, s_mask), p_mask)
        else:
            z = F.relu(self.fuse((pooled * weights.unsqueeze(-1)).flatten(1)))
        predicted = self.reverse(z).view(len(z), 3, -1)
        nce = torch.stack([info_nce(predicted[:, m], pooled[:, m], self.spec.temperature) for m in range(3)]).mean()
        return Output(self.head(z).squeeze(-1), weights, primary, nce)

    def forward(self, batch: dict, full: bool = False) -> torch.Tensor | Output:
        return self.run(batch) if full else self.run(batch).pred
