"""Ours: progressive soft pruning along the gradient flow of an energy, with a gradient-norm
criterion, then physical removal. Introduced in ``notebooks/gfprune/03_train.ipynb``.

The paper (ICASSP 2025, arXiv 2501.09464) gives the idea in its abstract and no code; this is a
documented reconstruction with every piece switchable from the config.

* **Soft masks.** Each prunable channel (a channel of a Torch-Pruning dependency group: the output
  channel of every coupled convolution / linear layer, the matching input channels of their
  consumers and the GroupNorm affine entries) gets a mask ``m`` in [0, 1] that multiplies all of
  those parameters: the network computes with ``theta * M(m)`` (:class:`SoftMask`).
* **Energy and gradient flow.** ``E(theta, m) = L_ddpm(theta * M(m)) + lam * sum_{u in C} m_u``
  where ``C`` holds the channels chosen so far. ``theta`` follows Adam on ``L``; ``m`` follows the
  explicit-Euler gradient flow ``m <- clip(m - eta * dE/dm, 0, 1)`` (``eta = mask_lr``). With
  ``lam = mask_decay / (eta * stage_steps)`` a channel whose loss gradient does not resist falls by
  ``mask_decay`` per stage, so the network never loses a block of information at once.
* **Progressive schedule.** ``prune_stages`` stages; at stage k the chosen set grows (nested) to the
  ratio ``k/K`` of the final one, picked by Torch-Pruning's own ranking on the criterion below.
* **Criterion (gradient norm).** Removing ``theta`` changes the squared gradient norm by about
  ``-2 theta^T H g``; GraSP's score is ``S = -theta * (H g)`` per element, summed per channel, and
  the paper prunes what increases the gradient norm (highest S). Torch-Pruning removes the lowest
  importance, so it gets ``-S = theta * Hg`` (:func:`gradient_norm_scores`), computed at the masked
  parameters by a double backward (one Hessian-vector product per micro-batch of a criterion batch,
  which steadies the signed score at a trained model; each batch's timesteps on a fixed grid over [0, T)).
  Two readings, a switch (``criterion``): ``gradient_norm`` keeps the sign (the abstract's "prunes
  what the gradient norm says", GraSP's form), ``gradient_norm_abs`` takes ``|theta * Hg|`` per
  element (how Torch-Pruning's Taylor and Hessian importances read a second-order term: small means
  removable, whatever its sign). Under the signed reading the extreme of the score is the most
  loss-sensitive channels whichever the sign, and a dead channel (score 0) is not removed first.
* **Mask-aware GroupNorm** (``norm_stats="live"``). A GroupNorm over channels that include masked
  ones takes its mean and variance with each channel weighted by its mask: over the live channels
  of each group, softly while masks decay (:func:`live_group_norm`), the groups being those the
  pruned layer will have (Torch-Pruning keeps ``num_groups`` and splits the kept channels into
  equal contiguous groups). At masks 0 the soft network and the pruned one compute the same
  function, and removal changes nothing but float rounding (``removal_gap``).
  ``norm_stats="all"`` is the plain GroupNorm of earlier runs (zeroed channels still counted in
  the statistics, so removal changed the network by 12-16% of its output).
* **Removal.** After the last stage the chosen masks are set to zero, folded into the weights, and
  exactly those channels are removed with Torch-Pruning (asserted), then the model is fine-tuned
  like every other method's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from repro.core.train import Budget, count_forwards
from repro.gfprune import pruning
from repro.gfprune.config import Schedule
from repro.gfprune.models import noise_loss


class SoftMask:
    """Masks over channels, each multiplying every parameter slice its channel group owns.

    ``values`` holds one mask per chosen channel (a unit). ``index[(name, dim)]`` maps each index
    along ``dim`` of parameter ``name`` to its unit, or to the constant 1 at position ``len(values)``.
    Units are keyed by (root layer, root channel), so re-ranking in a later stage finds them again.
    """

    def __init__(self, unet: nn.Module, norm_stats: str = "live"):
        if norm_stats not in NORM_STATS:
            raise ValueError(f"norm_stats {norm_stats!r}; valid: {', '.join(NORM_STATS)}")
        self.unet = unet
        self.norm_stats = norm_stats
        self.shapes = {n: p.shape for n, p in unet.named_parameters()}
        self.device = next(unet.parameters()).device
        self.values = torch.ones(0, device=self.device)
        self.stage = torch.zeros(0, dtype=torch.long, device=self.device)  # the stage at which each unit was chosen
        self.index: dict[tuple[str, int], torch.Tensor] = {}
        self.units: dict[tuple[str, int], int] = {}

    def __len__(self) -> int:
        return len(self.values)

    def add(self, group, stage: int) -> int:
        """Register the channels of a pruning group (as yielded by ``pruner.step(interactive=True)``)."""
        slices = pruning.group_slices(group)
        root_name = slices[0][0]
        new = 0
        for root in sorted({r for *_, roots in slices for r in roots}):
            if (root_name, root) not in self.units:
                self.units[(root_name, root)] = len(self.units)
                new += 1
        sentinel = len(self.units)
        for key in list(self.index):  # the constant-1 slot moves to the new end
            self.index[key][self.index[key] == sentinel - new] = sentinel
        for name, _param, dim, idxs, roots in slices:
            key = (name, dim)
            index = self.index.setdefault(key, torch.full((self.shapes[key[0]][dim],), sentinel))
            index[torch.tensor(idxs)] = torch.tensor([self.units[(root_name, r)] for r in roots])
        self.values = torch.cat([self.values.detach(), torch.ones(new, device=self.device)])
        self.stage = torch.cat([self.stage, torch.full((new,), stage, device=self.device)])
        return new

    def pinned(self, group) -> torch.Tensor:
        """Bool over a group's channels: already chosen (Torch-Pruning must rank them first)."""
        n = len(group.items[0].idxs)
        chosen = torch.zeros(n, dtype=torch.bool)
        for name, _param, dim, idxs, roots in pruning.group_slices(group)[:1]:
            index = self.index.get((name, dim))
            if index is not None:
                chosen[torch.tensor(roots)] = index[torch.tensor(idxs)] < len(self)
        return chosen

    def covers(self, group) -> bool:
        """Whether every channel of a (partial) pruning group is a chosen unit."""
        name, _param, dim, idxs, _ = pruning.group_slices(group)[0]
        index = self.index.get((name, dim))
        return index is not None and bool((index[torch.tensor(idxs)] < len(self)).all())

    def multipliers(self, values: torch.Tensor) -> dict[str, torch.Tensor]:
        """``M(m)`` per masked parameter, broadcastable to its shape (product over its masked dims)."""
        ext = torch.cat([values, values.new_ones(1)])
        out: dict[str, torch.Tensor] = {}
        for (name, dim), index in self.index.items():
            shape = [1] * len(self.shapes[name])
            shape[dim] = -1
            factor = ext[index.to(ext.device)].view(shape)
            out[name] = out[name] * factor if name in out else factor
        return out

    def masked_params(self, values: torch.Tensor) -> dict[str, torch.Tensor]:
        params = dict(self.unet.named_parameters())
        return {name: params[name] * factor for name, factor in self.multipliers(values).items()}

    def live(self, values: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per GroupNorm (by module name) with a chosen channel: each channel's weight in its group's
        statistics (its mask) and its group after removal (``norm_stats="all"``: none)."""
        if self.norm_stats == "all":
            return {}
        ext = torch.cat([values, values.new_ones(1)])
        norms = {name: m for name, m in self.unet.named_modules() if isinstance(m, nn.GroupNorm)}
        out = {}
        for (name, dim), index in self.index.items():
            module = name.removesuffix(".weight")
            if dim == 0 and name.endswith(".weight") and module in norms:
                index = index.to(ext.device)
                out[module] = (ext[index], removal_groups(index == len(values), norms[module].num_groups))
        return out

    def call(self, params: dict[str, torch.Tensor], values: torch.Tensor, x: torch.Tensor, t: torch.Tensor):
        """The UNet's noise prediction with ``params`` substituted and mask-aware norms."""
        with live_norms(self.unet, self.live(values)):
            return functional_call(self.unet, params, (x, t)).sample

    def denoiser(self, values: torch.Tensor):
        return lambda x, t: self.call(self.masked_params(values), values, x, t)


NORM_STATS = ("live", "all")


def removal_groups(kept: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Each channel's GroupNorm group once the others are removed: Torch-Pruning keeps
    ``num_groups`` and the kept channels split into equal contiguous groups (after a concatenation
    the groups need not keep their members). A chosen channel joins its preceding kept one's group
    (its weight is its mask, so where it goes matters only while the mask is above 0)."""
    rank = torch.cumsum(kept.long(), 0) - 1
    group = rank.clamp_min(0) * num_groups // max(1, int(kept.sum()))
    return group.clamp_max(num_groups - 1)


def live_group_norm(norm: nn.GroupNorm, x: torch.Tensor, live: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """GroupNorm of ``x`` over the groups ``group`` (one per channel), channel ``c`` weighted by
    ``live[c]`` in its group's mean and (biased) variance: with 0/1 weights, the statistics over
    the live channels, which is what the pruned GroupNorm computes after the others are removed."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    w = live.to(x.dtype)
    count = (x.new_zeros(norm.num_groups).index_add(0, group, w) * flat.shape[-1]).clamp_min(1e-12)
    mean = x.new_zeros(n, norm.num_groups).index_add(1, group, flat.sum(-1) * w) / count
    centred = flat - mean[:, group, None]
    var = x.new_zeros(n, norm.num_groups).index_add(1, group, centred.pow(2).sum(-1) * w) / count
    out = (centred * torch.rsqrt(var[:, group, None] + norm.eps)).reshape(x.shape)
    if norm.affine:
        shape = (1, c) + (1,) * (x.dim() - 2)
        out = out * norm.weight.reshape(shape) + norm.bias.reshape(shape)
    return out


@contextmanager
def live_norms(unet: nn.Module, live: dict[str, tuple[torch.Tensor, torch.Tensor]]):
    """Within the block, the named GroupNorms compute :func:`live_group_norm` with their weights
    and groups (an instance attribute shadows the class's ``forward``; removed on exit)."""
    modules = dict(unet.named_modules())
    for name, (weights, group) in live.items():
        norm = modules[name]
        norm.forward = lambda x, norm=norm, w=weights, g=group: live_group_norm(norm, x, w, g)
    try:
        yield
    finally:
        for name in live:
            del modules[name].forward


def gradient_norm_scores(
    unet: nn.Module,
    mask: SoftMask,
    batches: Iterator[torch.Tensor],
    abar: torch.Tensor,
    n_batches: int,
    absolute: bool = False,
    micro_batch: int = 0,
) -> dict[str, torch.Tensor]:
    """Elementwise ``theta * (H g)`` at the masked parameters (``|theta * Hg|`` when ``absolute``),
    summed over ``n_batches`` batches: Torch-Pruning's importance for the gradient-norm criterion
    (``-S`` of GraSP); :func:`gradient_norm_readings` gives both from the same passes."""
    readings = gradient_norm_readings(unet, mask, batches, abar, n_batches, micro_batch)
    return readings["gradient_norm_abs" if absolute else "gradient_norm"]


def gradient_norm_readings(
    unet: nn.Module,
    mask: SoftMask,
    batches: Iterator[torch.Tensor],
    abar: torch.Tensor,
    n_batches: int,
    micro_batch: int = 0,
) -> dict[str, dict[str, torch.Tensor]]:
    """Both readings of the criterion from one set of Hessian-vector products: ``gradient_norm``
    (``theta * Hg`` summed over batches) and ``gradient_norm_abs`` (``|theta * Hg|`` per element and
    product, summed). Each batch is split into interleaved micro-batches of ``micro_batch`` images (0:
    the whole batch), each with its own ``g`` and ``Hg`` and its timesteps on the same fixed grid over
    [0, T) (the images and noise vary; products on different timesteps let the few that hold the
    smallest, where the curvature is largest, decide the sign: split-half Spearman -0.54 on seed 2).

    Why micro-batches: at a trained model the mean gradient is about 0, so a batch's ``H_b g_b`` is
    the per-example term ``E[H_i g_i] / b`` (the signal) plus products of different examples' noise
    (sd also about ``1 / b``): a product's signal-to-noise does not depend on its size ``b``, and more,
    smaller products over the same images average more of them. Measured on the cpu dense model (split-
    half Spearman of the signed score, the draws that failed the gate): 0.36 with 16 products of 32
    images, 0.87 with 64 products of 4 (docs/papers/gfprune.md).

    ``g = dL/dtheta`` with ``create_graph``; ``H g = d(g . stopgrad(g))/dtheta`` by a second backward.
    The math SDPA kernel is forced: the fused CPU attention kernels have no double backward.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    values = mask.values.detach()
    base = {n: p.detach() for n, p in unet.named_parameters()}
    base.update({n: v.detach() for n, v in mask.masked_params(values).items()})
    leaves = {n: v.clone().requires_grad_(True) for n, v in base.items()}
    signed = {n: torch.zeros_like(v) for n, v in leaves.items()}
    unsigned = {n: torch.zeros_like(v) for n, v in leaves.items()}
    with sdpa_kernel(SDPBackend.MATH):
        for _ in range(n_batches):
            x0 = next(batches)
            parts = max(1, len(x0) // micro_batch) if micro_batch else 1
            for j in range(parts):  # every product on the same fixed grid over [0, T)
                part = x0[j::parts]
                grid = torch.linspace(0, len(abar) - 1, len(part)).long()
                loss = noise_loss(lambda x, t: mask.call(leaves, values, x, t), part, abar, grid)
                grads = torch.autograd.grad(loss.mean(), list(leaves.values()), create_graph=True)
                gnorm = sum((g * g.detach()).sum() for g in grads)
                hvp = torch.autograd.grad(gnorm, list(leaves.values()))
                for (n, leaf), h in zip(leaves.items(), hvp):
                    score = leaf.detach() * h
                    signed[n] += score
                    unsigned[n] += score.abs()
    return {"gradient_norm": signed, "gradient_norm_abs": unsigned}


@dataclass
class FlowResult:
    unet: nn.Module
    history: list
    trajectory: dict[str, list] = field(default_factory=dict)  # mask means per stage cohort, per step
    removal_gap: float = 0.0  # relative change of the prediction when the zeroed channels are removed
    residual_mask: float = 0.0  # mean chosen mask left when the last stage ended (forced to 0)
    budget: Budget = field(default_factory=Budget)


CRITERIA = ("gradient_norm", "gradient_norm_abs", "magnitude")
# the soft-flow procedure with our criterion (either reading), and with magnitude: method -> criterion
FLOW_METHODS = {"gfprune": "gradient_norm", "gfprune_abs": "gradient_norm_abs", "flow_magnitude": "magnitude"}


def magnitude_scores(unet: nn.Module, mask: SoftMask) -> dict[str, torch.Tensor]:
    """``|theta|`` at the masked parameters: Torch-Pruning's L1 magnitude importance, as elementwise
    scores (the criterion ablation: the same soft-flow schedule with magnitude instead of ours)."""
    base = {n: p.detach() for n, p in unet.named_parameters()}
    base.update({n: v.detach() for n, v in mask.masked_params(mask.values.detach()).items()})
    return {n: v.abs() for n, v in base.items()}


def gradient_flow_prune(
    unet: nn.Module,
    x: torch.Tensor,
    abar: torch.Tensor,
    schedule: Schedule,
    ratio: float,
    seed: int,
    *,
    mask_lr: float,
    mask_decay: float,
    global_pruning: bool = False,
    criterion: str = "gradient_norm",
    norm_stats: str = "live",
) -> FlowResult:
    """Ours, from the dense ``unet`` (modified in place) to a physically pruned one at ``ratio``.
    ``criterion="magnitude"`` keeps the whole procedure and swaps only the channel scores (ablation);
    ``ratio=0`` chooses nothing and measures what the soft phase's training alone does (drift)."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion {criterion!r}; valid: {', '.join(CRITERIA)}")
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    stream = _batches(x, schedule.batch_size, generator)
    mask = SoftMask(unet, norm_stats)
    optimizer = torch.optim.Adam(unet.parameters(), lr=schedule.lr)
    lam = mask_decay / (mask_lr * schedule.stage_steps)
    trajectory: dict[str, list] = {f"stage {k}": [] for k in range(1, schedule.stages + 1)}
    budget = Budget(forward_samples={"unet": 0, "unet_backward": 0, "unet_hvp": 0})
    with count_forwards({"unet": unet}, budget):
        for stage in range(1, schedule.stages + 1):
            if criterion == "magnitude":
                scores = magnitude_scores(unet, mask)
            else:
                absolute = criterion == "gradient_norm_abs"
                scores = gradient_norm_scores(
                    unet, mask, stream, abar, schedule.criterion_batches, absolute, schedule.micro_batch
                )
                budget.forward_samples["unet_backward"] += schedule.criterion_batches * schedule.batch_size
                budget.forward_samples["unet_hvp"] += schedule.criterion_batches * schedule.batch_size
            importance = pruning.ParameterScoreImportance(scores, pinned=mask.pinned)
            pruner = pruning.make_pruner(unet, importance, ratio * stage / schedule.stages, global_pruning)
            for group in pruner.step(interactive=True):
                mask.add(group, stage)
            for _ in range(schedule.stage_steps):
                values = mask.values.clone().requires_grad_(True)
                loss = noise_loss(mask.denoiser(values), next(stream), abar).mean()
                energy = loss + lam * values.sum()
                optimizer.zero_grad(set_to_none=True)
                energy.backward()
                optimizer.step()
                mask.values = (values - mask_lr * values.grad).detach().clamp_(0, 1)
                budget.optimizer_steps += 1
                for k in range(1, stage + 1):
                    trajectory[f"stage {k}"].append(float(mask.values[mask.stage == k].mean()))
            budget.forward_samples["unet_backward"] += schedule.stage_steps * schedule.batch_size
    residual = float(mask.values.mean()) if len(mask) else 0.0
    gap, history = _remove(unet, mask, ratio, global_pruning, x[: schedule.batch_size], abar)
    budget.wall_s = time.perf_counter() - started
    return FlowResult(unet, history, trajectory, gap, residual, budget)


def criteria_scores(
    criteria: tuple[str, ...], unet: nn.Module, mask: SoftMask, x: torch.Tensor, abar: torch.Tensor,
    batch_size: int, n_batches: int, seed: int, micro_batch: int = 0,
) -> dict[str, dict[str, torch.Tensor]]:  # fmt: skip
    """Per criterion, elementwise scores at the masked parameters, from ``n_batches`` batches drawn
    with ``seed`` (magnitude reads no data; "random" is i.i.d. uniform noise; the two readings of the
    gradient norm share one set of Hessian-vector products, of ``micro_batch`` images each, so they
    see the same draw)."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    if {"gradient_norm", "gradient_norm_abs"} & set(criteria):
        stream = _batches(x, batch_size, torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)  # the noise of each batch
        out = gradient_norm_readings(unet, mask, stream, abar, n_batches, micro_batch)
    for criterion in criteria:
        if criterion == "magnitude":
            out[criterion] = magnitude_scores(unet, mask)
        elif criterion == "random":
            g = torch.Generator().manual_seed(seed)
            out[criterion] = {n: torch.rand(p.shape, generator=g) for n, p in unet.named_parameters()}
    return {c: out[c] for c in criteria}


def prunable_groups(unet: nn.Module) -> list:
    """Every full channel group the pruner ranks (Torch-Pruning's dependency graph at the current
    widths, in a fixed order)."""
    pruner = pruning.make_pruner(unet, pruning.ParameterScoreImportance({}), 0.5)
    return list(
        pruner.DG.get_all_groups(ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types)
    )


def split_half_spearman(
    criteria: tuple[str, ...], unet: nn.Module, x: torch.Tensor, abar: torch.Tensor, batch_size: int,
    n_batches: int, seed: int, micro_batch: int = 0,
) -> dict[str, float]:  # fmt: skip
    """Per criterion, the Spearman correlation of every channel's score from two independent draws
    (seeds ``seed`` and ``seed + 1``) of ``n_batches`` batches each: how reliable one draw of the
    criterion is (1 for a criterion that reads no data)."""
    from scipy.stats import spearmanr

    mask, groups = SoftMask(unet), prunable_groups(unet)
    halves: dict[str, list] = {c: [] for c in criteria}
    for k in (0, 1):
        for criterion, scores in criteria_scores(
            criteria, unet, mask, x, abar, batch_size, n_batches, seed + k, micro_batch
        ).items():
            importance = pruning.ParameterScoreImportance(scores)
            halves[criterion].append(np.concatenate([importance(group).numpy() for group in groups]))
    return {c: float(spearmanr(*h).statistic) for c, h in halves.items()}


def plant_dead_channels(unet: nn.Module, share: float, seed: int) -> SoftMask:
    """Zero ``share`` of every channel group of ``unet`` (in place; chosen at random with ``seed``):
    every parameter slice a chosen channel owns (its output weights and bias, its norm's affine
    entries, its consumers' input weights), so the channel computes nothing. Returns the mask whose
    units are the planted channels (:meth:`SoftMask.pinned` marks them in a group)."""
    mask = SoftMask(unet)
    pruner = pruning.make_pruner(unet, pruning.SeededRandom(seed), share)
    for group in pruner.step(interactive=True):
        mask.add(group, 1)
    params = dict(unet.named_parameters())
    with torch.no_grad():
        for name, factor in mask.multipliers(torch.zeros_like(mask.values)).items():
            params[name].mul_(factor)
    return mask


def planted_control(
    criteria: tuple[str, ...], dense: nn.Module, x: torch.Tensor, abar: torch.Tensor, share: float,
    batch_size: int, n_batches: int, seed: int, micro_batch: int = 0,
) -> dict[str, np.ndarray]:  # fmt: skip
    """The control K1: dead channels planted in a copy of ``dense`` (``share`` of every group); each
    criterion ranks every group's channels and, as the pruner would, picks as many as were planted
    there. Per criterion, per planted channel: 100 if picked (a criterion that reads what a channel
    contributes picks all of them; a random one about ``share`` of them)."""
    import copy

    unet = copy.deepcopy(dense)
    planted, groups = plant_dead_channels(unet, share, seed), prunable_groups(unet)
    scores = criteria_scores(criteria, unet, SoftMask(unet), x, abar, batch_size, n_batches, seed, micro_batch)
    return {c: planted_picks(pruning.ParameterScoreImportance(s), planted, groups) for c, s in scores.items()}


def planted_picks(importance, planted: SoftMask, groups: list) -> np.ndarray:
    """Per planted channel (group by group), 100 if ``importance`` ranks it among the group's lowest
    as many as were planted there."""
    found = []
    for group in groups:
        dead = planted.pinned(group)
        if dead.any():
            picked = torch.zeros_like(dead)
            picked[torch.argsort(importance(group), stable=True)[: int(dead.sum())]] = True
            found.append(100.0 * picked[dead].double().numpy())
    return np.concatenate(found)


def _batches(x: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    while True:
        yield x[torch.randint(0, len(x), (batch_size,), generator=generator)]


def _remove(
    unet: nn.Module, mask: SoftMask, ratio: float, global_pruning: bool, x0: torch.Tensor, abar
) -> tuple[float, list]:
    """Zero the chosen masks, fold them into the weights, and remove exactly those channels.
    Returns the relative change of the noise prediction that removal caused (float rounding with
    mask-aware norms; with ``norm_stats="all"`` the zeroed channels counted in GroupNorm's
    statistics before removal and not after) and the pruning history."""
    params = dict(unet.named_parameters())
    g = torch.Generator().manual_seed(0)
    t, noise = torch.randint(0, len(abar), (len(x0),), generator=g), torch.randn(x0.shape, generator=g)
    t, noise = t.to(x0.device), noise.to(x0.device)
    a = abar.to(x0.device)[t].view(-1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
    zeros = torch.zeros_like(mask.values)
    with torch.no_grad():
        for name, factor in mask.multipliers(zeros).items():
            params[name].mul_(factor)
        with live_norms(unet, mask.live(zeros)):
            before = unet(xt, t).sample
    pruner = pruning.make_pruner(unet, pruning.ParameterScoreImportance({}, pinned=mask.pinned), ratio, global_pruning)
    removed = 0
    for group in pruner.step(interactive=True):
        assert mask.covers(group), "removal must take exactly the channels whose masks were driven to zero"
        removed += len(group.items[0].idxs)
        group.prune()
    assert removed == len(mask), f"removed {removed} channels, but {len(mask)} masks were driven to zero"
    pruning.sync_resamplers(unet)
    with torch.no_grad():
        after = unet(xt, t).sample
    return float((after - before).norm() / before.norm().clamp_min(1e-12)), pruner.pruning_history()


def mask_summary(trajectory: dict[str, list]) -> dict[str, float]:
    """The last value of each stage cohort's mean mask (all should have reached 0)."""
    return {k: float(np.round(v[-1], 4)) for k, v in trajectory.items() if v}
