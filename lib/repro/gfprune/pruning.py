"""Structural pruning of a diffusers UNet through Torch-Pruning's dependency graph (torch-pruning
1.6.1, which reports itself as 1.6.0: ``MetaPruner(model, example_inputs, importance=...,
pruning_ratio=..., ignored_layers=..., global_pruning=..., iterative_steps=...)``; ``ch_sparsity``
is the old name of ``pruning_ratio``). Introduced in ``notebooks/gfprune/03_train.ipynb``.

What is shared by every method lives here: the pruner, the layers it must not touch, the MACs and
parameter count (``torch_pruning.utils.count_ops_and_params``), the search for the ratio that
lands on a MACs target, an importance built from any elementwise score, and saving a pruned model
as safetensors plus its pruning history (replayed on the dense architecture to load it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import torch_pruning as tp
from torch import nn

from repro.core.weights import load_config, load_weights, save_weights

F = tp.pruner.function


def example_inputs(unet: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = unet.config
    device = next(unet.parameters()).device
    return torch.zeros(1, cfg.in_channels, cfg.sample_size, cfg.sample_size, device=device), torch.ones(
        1, device=device
    )


def ignored_layers(unet: nn.Module) -> list[nn.Module]:
    """``conv_out`` (the output must keep the image's channels, as in Diff-Pruning) and the attention
    projections q, k, v (their inner width is tied to the head count; pruning their inputs and the
    output projection still thins the attention block with the rest of its channel group)."""
    qkv = [m for name, m in unet.named_modules() if name.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v")]
    return [unet.conv_out, *qkv]


def make_pruner(
    unet: nn.Module, importance, ratio: float, global_pruning: bool = False, iterative_steps: int = 1
) -> tp.pruner.MetaPruner:
    return tp.pruner.MetaPruner(
        unet,
        example_inputs(unet),
        importance=importance,
        pruning_ratio=ratio,
        ignored_layers=ignored_layers(unet),
        global_pruning=global_pruning,
        iterative_steps=iterative_steps,
    )


def sync_resamplers(unet: nn.Module) -> nn.Module:
    """diffusers' Downsample2D / Upsample2D keep their channel count in an attribute that they assert
    on; after pruning, set it from their convolution."""
    for module in unet.modules():
        if type(module).__name__ in ("Downsample2D", "Upsample2D") and getattr(module, "conv", None) is not None:
            module.channels = module.conv.in_channels
            module.out_channels = module.conv.out_channels
    return unet


def prune(unet: nn.Module, importance, ratio: float, global_pruning: bool = False) -> tp.pruner.MetaPruner:
    """One-shot prune ``unet`` in place at ``ratio``; returns the pruner (its history saves the model)."""
    pruner = make_pruner(unet, importance, ratio, global_pruning)
    pruner.step()
    sync_resamplers(unet)
    return pruner


def macs_params(unet: nn.Module) -> tuple[float, int]:
    """MACs of one denoising forward at batch 1 and the parameter count."""
    macs, params = tp.utils.count_ops_and_params(unet, example_inputs(unet))
    return float(macs), int(params)


def ratio_for_macs(
    unet: nn.Module,
    importance_for: Callable[[nn.Module], object],
    target: float,
    global_pruning: bool = False,
    iterations: int = 10,
) -> tuple[float, float]:
    """Bisect the pruning ratio so that the pruned copy's MACs are closest to ``target`` x dense.

    ``importance_for(copy)`` builds the method's importance for a copy of the model (a Taylor
    importance reads the copy's gradients). Returns ``(ratio, achieved MACs fraction)``. With local
    pruning the ratio alone fixes the architecture; MACs move in steps of one channel per group, so
    the closest achievable fraction is returned and the caller checks the 2% tolerance (``macs_tolerance``).
    """
    dense, _ = macs_params(unet)
    lo, hi, best = 0.0, 0.95, (1.0, 0.0)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        trial = copy.deepcopy(unet)
        prune(trial, importance_for(trial), mid, global_pruning)
        fraction = macs_params(trial)[0] / dense
        if abs(fraction - target) < abs(best[0] - target):
            best = (fraction, mid)
        lo, hi = (mid, hi) if fraction > target else (lo, mid)
    return best[1], best[0]


# ----------------------------------------------------------------------------------------------
# importance from any elementwise score


def channel_slices(layer: nn.Module, handler) -> list[tuple[str, int]]:
    """The parameters (by attribute name) and the dimension along which ``handler`` removes channels
    of ``layer``: out-channels of a convolution are dim 0 of its weight and its bias, in-channels
    dim 1 (transposed convolutions the other way round), a norm layer's affine vectors dim 0."""
    transposed = getattr(layer, "transposed", False)
    if handler == F.prune_conv_out_channels:
        return [("weight", 1 if transposed else 0), ("bias", 0)]
    if handler == F.prune_conv_in_channels:
        return [] if getattr(layer, "groups", 1) != 1 else [("weight", 0 if transposed else 1)]
    if handler == F.prune_linear_out_channels:
        return [("weight", 0), ("bias", 0)]
    if handler == F.prune_linear_in_channels:
        return [("weight", 1)]
    if handler in (F.prune_groupnorm_out_channels, F.prune_batchnorm_out_channels, F.prune_layernorm_out_channels):
        return [("weight", 0), ("bias", 0)]
    return []


def group_slices(group) -> list[tuple[str, torch.Tensor, int, list[int], list[int]]]:
    """``(parameter name, parameter, dim, layer indices, root indices)`` for every parameter a pruning
    group touches. Names (from the dependency graph) stay valid when pruning replaces a parameter."""
    names = group._DG._module2name
    out = []
    for item in group.items:
        layer = item.dep.target.module
        if not isinstance(layer, nn.Module) or item.root_idxs is None or None in item.root_idxs:
            continue
        for attr, dim in channel_slices(layer, item.dep.handler):
            param = getattr(layer, attr, None)
            if isinstance(param, torch.Tensor):
                idxs, roots = [int(i) for i in item.idxs], [int(r) for r in item.root_idxs]
                out.append((f"{names[layer]}.{attr}", param, dim, idxs, roots))
    return out


class ParameterScoreImportance(tp.importance.Importance):
    """Channel importance = the sum, over every parameter element a channel group owns, of an
    elementwise score (``scores`` maps a parameter name to a tensor of its shape). Torch-Pruning
    removes the channels of lowest importance. ``pinned(group)`` may return a bool vector over the
    group's channels that must go first (importance -inf): the channels an iterative method chose.

    Unlike ``tp.importance.TaylorImportance`` the sum is signed and not normalised, as a
    second-order criterion needs (GraSP's score sums ``theta * Hg``).
    """

    def __init__(self, scores: Mapping[str, torch.Tensor], pinned: Callable | None = None):
        self.scores = dict(scores)
        self.pinned = pinned

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor:
        total = torch.zeros(len(group.items[0].idxs), dtype=torch.float64)
        for name, _param, dim, idxs, roots in group_slices(group):
            score = self.scores.get(name)
            if score is not None:
                local = score.detach().double().cpu().movedim(dim, 0)[idxs].reshape(len(idxs), -1).sum(1)
                total.index_add_(0, torch.tensor(roots), local)
        if self.pinned is not None:
            total[self.pinned(group)] = -torch.inf
        return total.float()


# ----------------------------------------------------------------------------------------------
# pruned models on disk


class SeededRandom(tp.importance.RandomImportance):
    """Random channel ranking that is the same on every call with the same seed (the ratio search
    prunes copies of the model and must see the ranking the final prune sees)."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)
        self.seed = seed

    def __call__(self, group, **kwargs):
        return torch.rand(len(group.items[0].idxs), generator=self.generator)


def save_pruned(unet: nn.Module, dense_config: dict, history: list, path: Path) -> None:
    """The kit's weights format (:func:`repro.core.weights.save_weights`): ``<path>.safetensors``, and
    ``<path>.json`` with the dense UNet's config and Torch-Pruning's history (which rebuilds the pruned
    shapes)."""
    config = {k: v for k, v in dict(dense_config).items() if not k.startswith("_")}
    record = [[name, bool(out), [int(i) for i in idxs]] for name, out, idxs in history]
    save_weights(unet, path, {"unet": config, "history": record})


def load_pruned(path: Path) -> nn.Module:
    """Rebuild the dense UNet from its config, replay the pruning history, load the weights strictly."""
    from diffusers import UNet2DModel

    saved = load_config(path)
    unet = UNet2DModel.from_config(saved["unet"])
    if saved["history"]:
        graph = tp.DependencyGraph().build_dependency(unet, example_inputs=example_inputs(unet))
        graph.load_pruning_history(saved["history"])
        sync_resamplers(unet)
    return load_weights(unet, path).eval()
