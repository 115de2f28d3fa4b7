"""Bodies, the shared head, and the client-specific MoE, written for ``torch.func``.
Introduced in ``notebooks/dflmoe/02_model.ipynb``.

Every client owns a private body (feature extractor) that emits ``feature_dim`` features and a head
``Linear(feature_dim, classes)``; heads have one shape for all clients, so they can be exchanged
even when bodies differ. A client's parameters are a flat dict ``{"body.*", "head.*", "moe.*"}``;
clients whose bodies share an architecture form a :class:`Group` whose parameters are stacked on a
leading client axis and trained in one vectorised step (``torch.func.vmap``). Heterogeneous bodies
form groups of one and run in turn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from repro.dflmoe.config import TRANSFORMS, ModelSpec

if TYPE_CHECKING:
    from repro.dflmoe.config import DflmoeConfig

DEFAULT = ModelSpec()


@dataclass(frozen=True)
class BodySpec:
    """``kind`` "mlp" (hidden widths) or "cnn" (channels of one conv layer, for image tasks)."""

    kind: str = "mlp"
    hidden: tuple[int, ...] = (64,)
    channels: int = 8

    @property
    def label(self) -> str:
        return f"mlp{'x'.join(map(str, self.hidden))}" if self.kind == "mlp" else f"cnn{self.channels}"


# the heterogeneous zoo, cycled over clients: different widths and depths, and tiny CNNs on images
HETERO_SPECS = (
    BodySpec("mlp", (32,)),
    BodySpec("mlp", (64,)),
    BodySpec("mlp", (128,)),
    BodySpec("mlp", (64, 64)),
    BodySpec("mlp", (32, 32)),
    BodySpec("mlp", (128, 64)),
    BodySpec("cnn", channels=8),
    BodySpec("cnn", channels=16),
)


def client_specs(n_clients: int, hidden: int, hetero: bool, images: bool) -> list[BodySpec]:
    """One body spec per client: all the same MLP, or the zoo (CNNs replaced by MLPs on tabular data)."""
    if not hetero:
        return [BodySpec("mlp", (hidden,))] * n_clients
    zoo = [s if s.kind == "mlp" or images else BodySpec("mlp", (s.channels * 4,)) for s in HETERO_SPECS]
    return [zoo[i % len(zoo)] for i in range(n_clients)]


class Body(nn.Module):
    def __init__(self, spec: BodySpec, in_dim: int, feature_dim: int, image_shape: tuple[int, ...] | None):
        super().__init__()
        self.image_shape = image_shape
        if spec.kind == "cnn":
            if image_shape is None:
                raise ValueError("a CNN body needs an image task (image_shape)")
            c, h, w = image_shape
            self.conv = nn.Conv2d(c, spec.channels, 3, padding=1)
            self.net = nn.Sequential(nn.Linear(spec.channels * (h // 2) * (w // 2), feature_dim), nn.ReLU())
        else:
            self.conv = None
            widths = (in_dim, *spec.hidden, feature_dim)
            layers = []
            for a, b in zip(widths[:-1], widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = F.max_pool2d(F.relu(self.conv(x.reshape(-1, *self.image_shape))), 2).flatten(1)
        return self.net(x)


def init_params(
    spec: BodySpec,
    in_dim: int,
    feature_dim: int,
    n_classes: int,
    image_shape: tuple[int, ...] | None,
    seed: int,
    n_experts: int = 0,
    attn_dim: int = DEFAULT.attn_dim,
    transform: str = DEFAULT.transform,
    rank: int = DEFAULT.rank,
) -> tuple[Body, dict[str, torch.Tensor]]:
    """A body template (for ``functional_call``) and one client's parameters, seeded. With
    ``n_experts`` the client-specific MoE's parameters are added: the gate's maps and, unless
    ``transform`` is "none", a per-peer feature transform that starts as the identity (so at first
    every expert sees the client's own feature): "full" a d x d matrix, "diagonal" a per-feature
    scale, "lowrank" the identity plus a rank-``rank`` update (``up`` starts at zero); each with a
    shift (:func:`moe_logits`)."""
    if transform not in TRANSFORMS:
        raise ValueError(f"transform {transform!r}; valid: {', '.join(TRANSFORMS)}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # nn.Linear draws from the global generator
    body = Body(spec, in_dim, feature_dim, image_shape)
    head = nn.Linear(feature_dim, n_classes)
    params = {f"body.{k}": v.detach().clone() for k, v in body.named_parameters()}
    params |= {f"head.{k}": v.detach().clone() for k, v in head.named_parameters()}
    if n_experts:
        scale = 1 / math.sqrt(feature_dim)
        params["moe.query"] = torch.randn(feature_dim, attn_dim, generator=gen) * scale
        params["moe.key"] = torch.randn(feature_dim, attn_dim, generator=gen) * scale
        k, d = n_experts, feature_dim
        if transform == "full":
            params["moe.transform"] = torch.eye(d).expand(k, d, d).clone()
        elif transform == "diagonal":
            params["moe.scale"] = torch.ones(k, d)
        elif transform == "lowrank":
            params["moe.down"] = torch.randn(k, rank, d, generator=gen) * scale
            params["moe.up"] = torch.zeros(k, d, rank)
        if transform != "none":
            params["moe.transform_bias"] = torch.zeros(k, d)
    return body.requires_grad_(False), params


def parts(params: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix.`` with the prefix removed (e.g. the body's state for functional_call)."""
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def features(body: Body, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return functional_call(body, parts(params, "body"), (x,))


def head_logits(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    return F.linear(h, params["head.weight"], params["head.bias"])


def moe_logits(
    params: dict[str, torch.Tensor],
    h: torch.Tensor,
    expert_w: torch.Tensor,
    expert_b: torch.Tensor,
    available: torch.Tensor,
    own: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The client-specific mixture of experts (reconstruction of the paper's description; ``docs/papers/dflmoe.md``).

    ``h`` (B, d) is the client's feature; ``expert_w`` (K, C, d) and ``expert_b`` (K, C) are the heads
    it holds (its own slot, the one-hot ``own`` (K,), is replaced by its live head, so gradients reach it;
    received heads are frozen); ``available`` (K,) masks experts never received. For each expert k:
    ``z_k = T_k h + t_k`` (identity-initialised per-peer transform), logits ``head_k(z_k)``;
    gate ``softmax_k(<W_q h, W_k z_k> / sqrt(d_a))`` over available experts (query from the local
    feature, key from what each expert sees); output the gate-weighted sum of expert logits.
    The form of ``T_k`` is whichever :func:`init_params` made (full, diagonal, identity plus low
    rank, or none: ``z_k = h``). A full ``T_k`` lets ``W_k T_k`` be any map, so a frozen peer head
    constrains nothing (the peers enter only through the initialisation); the lighter forms keep
    each expert's decision rule.
    Returns (logits (B, C), gate (B, K)).
    """
    w = expert_w * (1 - own)[:, None, None] + own[:, None, None] * params["head.weight"]
    b = expert_b * (1 - own)[:, None] + own[:, None] * params["head.bias"]
    z = transformed(params, h, len(own))
    logits = torch.einsum("kcd,kbd->kbc", w, z) + b[:, None]  # (K, B, C)
    query = h @ params["moe.query"]  # (B, a)
    keys = z @ params["moe.key"]  # (K, B, a)
    score = torch.einsum("ba,kba->bk", query, keys) / math.sqrt(query.shape[-1])
    gate = torch.softmax(score.masked_fill(~available[None], float("-inf")), dim=-1)  # (B, K)
    return torch.einsum("bk,kbc->bc", gate, logits), gate


def transformed(params: dict[str, torch.Tensor], h: torch.Tensor, k: int) -> torch.Tensor:
    """(K, B, d): what each of the ``k`` experts sees of the features ``h`` (B, d)."""
    if "moe.transform" in params:
        z = torch.einsum("kde,be->kbd", params["moe.transform"], h)
    elif "moe.scale" in params:
        z = params["moe.scale"][:, None] * h
    elif "moe.up" in params:
        low = torch.einsum("kre,be->kbr", params["moe.down"], h)
        z = h + torch.einsum("kdr,kbr->kbd", params["moe.up"], low)
    else:
        return h.expand(k, *h.shape)
    return z + params["moe.transform_bias"][:, None]


def count_params(params: dict[str, torch.Tensor], prefix: str | None = None) -> int:
    return sum(v.numel() for k, v in params.items() if prefix is None or k.startswith(prefix + "."))


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> int:
    """Bytes on the wire for these tensors (what a message carries)."""
    return sum(v.numel() * v.element_size() for v in tensors.values())


class MoEClient(nn.Module):
    """One client's whole predictor as an ordinary module (body, head, MoE over ``n_experts`` copies of
    its own head): for shape checks and the config-rot test, not for training."""

    def __init__(self, body: Body, params: dict[str, torch.Tensor], n_experts: int):
        super().__init__()
        self.body = body
        for k, v in params.items():
            self.register_buffer(k.replace(".", "__"), v)
        self.n_experts = n_experts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = {k.replace("__", "."): v for k, v in self.named_buffers() if "__" in k}
        k = self.n_experts
        own = F.one_hot(torch.tensor(0), k).float()
        w = p["head.weight"].expand(k, *p["head.weight"].shape)
        b = p["head.bias"].expand(k, *p["head.bias"].shape)
        return moe_logits(p, features(self.body, p, x), w, b, torch.ones(k, dtype=torch.bool), own)[0]


def check_models(cfg: DflmoeConfig) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    """Every client predictor a profile builds (homogeneous and heterogeneous bodies, head, MoE), with
    a tiny batch; the config-build test runs this for every profile."""
    if cfg.data_source == "image_folder":
        in_dim, image, classes = cfg.image_size**2, (1, cfg.image_size, cfg.image_size), 2
    elif cfg.data_source == "csv":
        in_dim, image, classes = 30, None, 2
    else:
        in_dim, image, classes = 64, (1, 8, 8), 10
    out, dims = {}, cfg.model
    for hetero in (False, True):
        for i, spec in enumerate(client_specs(cfg.n_clients, dims.hidden, hetero, image is not None)):
            body, p = init_params(spec, in_dim, dims.feature_dim, classes, image, i, cfg.n_clients, dims.attn_dim,
                                  dims.transform, dims.rank)  # fmt: skip
            out.setdefault(f"client_{spec.label}", (MoEClient(body, p, cfg.n_clients), torch.rand(2, in_dim)))
    return out
