"""Torch-Pruning glue shared by every method, and the baselines' criteria."""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch_pruning as tp
from safetensors import SafetensorError

from repro.core.train import Budget
from repro.gfprune import pruning
from repro.gfprune.baselines import (
    SeededRandom,
    criterion,
    diffpruning_timesteps,
    diffpruning_walk,
    iterative_taylor_prune,
    one_shot_prune,
)
from repro.gfprune.models import noise_loss, unet_denoiser


def test_pruned_unet_runs_and_the_ratio_search_meets_the_macs_target(unet):
    dense, _ = pruning.macs_params(unet)
    ratio, fraction = pruning.ratio_for_macs(
        unet, lambda _m: tp.importance.MagnitudeImportance(p=1), 0.56, iterations=6
    )
    pruned = copy.deepcopy(unet)
    pruning.prune(pruned, tp.importance.MagnitudeImportance(p=1), ratio)
    assert pruning.macs_params(pruned)[0] / dense == pytest.approx(fraction)
    assert abs(fraction - 0.56) < 0.06 and 0 < ratio < 0.95
    out = pruned(torch.zeros(2, 1, 16, 16), torch.tensor([0, 999])).sample
    assert out.shape == (2, 1, 16, 16)
    assert pruned.conv_out.out_channels == 1, "conv_out is never pruned"


def test_signed_scores_and_pinned_channels_decide_what_goes(unet):
    conv = unet.conv_in
    scores = {"conv_in.weight": torch.ones_like(conv.weight)}
    scores["conv_in.weight"][3] = -5.0  # signed: the lowest importance
    pinned = lambda group: torch.arange(len(group.items[0].idxs)) == 6  # noqa: E731
    importance = pruning.ParameterScoreImportance(scores, pinned)
    pruner = pruning.make_pruner(unet, importance, 2 / 8)
    root = [g for g in pruner.step(interactive=True) if g.items[0].dep.target.module is conv]
    assert len(root) == 1 and sorted(root[0].items[0].idxs) == [3, 6]


def test_seeded_random_ranks_the_same_way_every_time(unet):
    group = next(iter(pruning.make_pruner(unet, SeededRandom(0), 0.5).DG.get_all_groups()))
    assert torch.equal(SeededRandom(3)(group), SeededRandom(3)(group))
    assert not torch.equal(SeededRandom(3)(group), SeededRandom(4)(group))


class StepLoss(torch.nn.Module):
    """A fake denoiser whose loss is 10 for t < 500 and 1 after (E|eps - 3|^2 = 10, E|eps|^2 = 1), with
    one parameter (the 3) so that gradients flow."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(3.0))

    def forward(self, x, t):
        return SimpleNamespace(sample=(t < 500).float().view(-1, 1, 1, 1).expand_as(x) * self.scale)


def test_diffpruning_walks_every_timestep_until_the_loss_falls_below_the_threshold_as_the_official_code(abar):
    """ddpm_prune.py: for t = 0, 1, 2, ...: backward of the mean loss at t with one fixed noise, then stop
    if L_t < thr * max L. The chunked walk stops at the same t (its gradient included) and accumulates the
    same gradient as a one-at-a-time loop."""
    x0, noise = torch.zeros(8, 1, 4, 4), torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    chunked, one_by_one = StepLoss(), StepLoss()
    losses = diffpruning_walk(chunked, x0, abar, noise, threshold=0.2)
    assert len(losses) == 501 and losses[-1] < 0.2 * losses.max() <= losses[-2], "stops at t = 500, included"
    peak = 0.0
    for t in range(1000):
        loss = noise_loss(unet_denoiser(one_by_one), x0, abar, torch.full((8,), t), noise).mean()
        loss.backward()
        peak = max(peak, loss.item())
        if loss.item() < 0.2 * peak:
            break
    assert t == 500 and torch.allclose(chunked.scale.grad, one_by_one.scale.grad, rtol=1e-5)
    assert len(diffpruning_walk(StepLoss(), x0, abar, noise, threshold=0.01)) == 1000, "never below: walks to T"
    assert len(diffpruning_walk(StepLoss(), x0, abar, noise, threshold=0.01, max_steps=20)) == 20


def test_diffpruning_scores_channels_as_its_code_and_taylor_as_its_taylor_pruner(unet, images, abar, tiny_cfg):
    """Diff-Pruning's --pruner diff-pruning is TaylorImportance(multivariable=False) (sum |w g| per
    channel); its --pruner taylor is multivariable=True (the kit's one-shot Taylor, switchable)."""
    for method, multivariable in (("diffpruning", False), ("diffpruning_grid", False), ("taylor", True)):
        importance_for, info = criterion(method, unet, images, abar, tiny_cfg.one_shot, 0, Budget(forward_samples={}))
        assert importance_for(unet).multivariable is multivariable
        assert ("channel_scores" in info) == method.startswith("diffpruning")


def test_diffpruning_keeps_timesteps_from_zero_until_the_loss_drops_below_the_threshold(abar):
    x0 = torch.zeros(256, 1, 4, 4)
    kept, losses = diffpruning_timesteps(StepLoss(), x0, abar, grid=10, threshold=0.2)
    assert np.all(kept < 500) and kept[0] == 0 and len(kept) == int(np.sum(np.linspace(0, 999, 10) < 500))
    assert losses[0] > 5 > 2 > losses[-1]
    all_kept, _ = diffpruning_timesteps(StepLoss(), x0, abar, grid=10, threshold=0.01)
    assert len(all_kept) == 10, "a threshold never reached keeps every timestep"


@pytest.mark.parametrize("method", ["random", "magnitude", "taylor", "diffpruning", "diffpruning_grid"])
def test_every_one_shot_method_lands_on_the_same_architecture(method, unet, images, abar, tiny_cfg):
    reference = copy.deepcopy(unet)
    pruning.prune(reference, tp.importance.MagnitudeImportance(p=1), 0.3)
    history, budget, _ = one_shot_prune(method, unet, images, abar, tiny_cfg.one_shot, 0.3, seed=0)
    assert pruning.macs_params(unet) == pruning.macs_params(reference) and history
    grads = budget.forward_samples["unet_backward"] + budget.forward_samples.get("diffpruning_walk", 0)
    assert (grads > 0) == (method != "random" and method != "magnitude"), "only gradient criteria spend gradients"
    walk = budget.forward_samples.get("diffpruning_walk", 0)
    assert (walk > 0) == method.startswith("diffpruning"), (
        "Diff-Pruning's walk is kept apart (outside the shared budget)"
    )


def test_iterative_taylor_prunes_in_stages_with_training_between(unet, images, abar, tiny_cfg):
    reference = copy.deepcopy(unet)
    pruning.prune(reference, tp.importance.MagnitudeImportance(p=1), 0.3)
    history, budget, info = iterative_taylor_prune(unet, images, abar, tiny_cfg.schedule, 0.3, seed=0)
    assert pruning.macs_params(unet)[0] == pytest.approx(pruning.macs_params(reference)[0], rel=0.02)
    assert budget.optimizer_steps == tiny_cfg.prune_stages * tiny_cfg.stage_steps
    assert len(info["stage_losses"]) == budget.optimizer_steps


def test_a_pruned_model_reloads_from_safetensors_and_its_history(unet, tmp_path):
    pruner = pruning.prune(unet, tp.importance.MagnitudeImportance(p=1), 0.4)
    pruning.save_pruned(unet, dict(unet.config), pruner.pruning_history(), tmp_path / "m")
    again = pruning.load_pruned(tmp_path / "m")
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([1, 500])
    assert torch.equal(unet.eval()(x, t).sample, again(x, t).sample)
    (tmp_path / "m.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(SafetensorError):
        pruning.load_pruned(tmp_path / "m")


@pytest.mark.parametrize("criterion", ["magnitude", "gradient_norm_abs"])
def test_a_planted_dead_channel_is_removed_first(unet, images, abar, criterion):
    """Every weight a channel owns zeroed (its outputs, its norm entries, its consumers' inputs): a
    criterion that reads what a channel contributes removes exactly the planted channels first. The
    signed score theta * Hg need not (a dead channel scores 0, a loss-sensitive one can score below)."""
    from repro.gfprune.method import planted_control

    found = planted_control(("random", criterion), unet, images, abar, 0.1, 8, 1, seed=0)
    assert len(found[criterion]) > 4 and found[criterion].mean() == 100.0
    assert found["random"].mean() < 60.0


def test_k1_sabotage_random_scores_do_not_find_the_planted_channels(unet, images, abar):
    """K1 (magnitude finds the planted channels 50 points more often than random) rests on scores
    that reach the pruner through the right channel slices; rank by random scores instead (the
    sabotage) and K1's effect falls below its margin."""
    from repro.core.claims import decide
    from repro.gfprune.claims import CLAIMS
    from repro.gfprune.method import planted_control

    k1 = next(c for c in CLAIMS if c.id == "K1")
    runs = [planted_control(("random", "magnitude"), unet, images, abar, 0.1, 8, 1, seed) for seed in (0, 1)]
    scores = {name: np.stack([r[name] for r in runs]) for name in ("random", "magnitude")}
    sabotaged = [planted_control(("random",), unet, images, abar, 0.1, 8, 1, seed + 10)["random"] for seed in (0, 1)]
    scores["sabotaged"] = np.stack(sabotaged)
    assert decide(k1, scores).effect > k1.margin
    assert decide(k1.with_a("sabotaged"), scores).effect < k1.margin
