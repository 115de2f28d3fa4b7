"""Ours: the soft masks, the gradient-norm criterion (an HVP), the gradient flow and the removal."""

import copy

import pytest
import torch
import torch_pruning as tp
from torch.func import functional_call

from repro.gfprune import pruning
from repro.gfprune.method import SoftMask, gradient_flow_prune, gradient_norm_scores
from repro.gfprune.models import noise_loss


def flow_prune(unet, images, abar, cfg, ratio, **kwargs):
    """Ours with the profile's values, as the train step calls it."""
    return gradient_flow_prune(
        unet,
        images,
        abar,
        cfg.schedule,
        ratio,
        seed=0,
        mask_lr=cfg.mask_lr,
        mask_decay=cfg.mask_decay,
        global_pruning=cfg.global_pruning,
        **kwargs,
    )


def chosen_mask(unet, ratio=0.25):
    mask = SoftMask(unet)
    pruner = pruning.make_pruner(unet, tp.importance.MagnitudeImportance(p=1), ratio)
    groups = list(pruner.step(interactive=True))
    for group in groups:
        mask.add(group, stage=1)
    return mask, groups


def test_masks_at_one_leave_the_network_unchanged(unet, images):
    mask, _ = chosen_mask(unet)
    t = torch.tensor([3] * len(images))
    with torch.no_grad():
        plain = unet(images, t).sample
        masked = mask.denoiser(torch.ones(len(mask)))(images, t)
    assert len(mask) > 0 and torch.allclose(plain, masked, atol=1e-6)


def test_masks_at_zero_zero_exactly_the_slices_their_groups_own(unet):
    mask, groups = chosen_mask(unet)
    masked = mask.masked_params(torch.zeros(len(mask)))
    params = dict(unet.named_parameters())
    for group in groups:
        for name, _param, dim, idxs, _roots in pruning.group_slices(group):
            assert masked[name].movedim(dim, 0)[idxs].abs().sum() == 0, f"{name} keeps a chosen slice"
    untouched = set(params) - set(masked)
    assert "conv_out.bias" in untouched, "conv_out keeps its output channels (only its inputs are masked)"
    # everything outside the chosen slices is kept as it was
    factors = mask.multipliers(torch.zeros(len(mask)))
    for name, value in masked.items():
        keep = factors[name].expand_as(value) == 1
        assert keep.any() and torch.equal(value[keep], params[name][keep]), name


def test_a_chosen_channel_is_registered_once_and_pinned(unet):
    mask, groups = chosen_mask(unet)
    n = len(mask)
    for group in groups:
        assert mask.add(group, stage=2) == 0 and mask.covers(group)
    assert len(mask) == n
    full = pruning.make_pruner(unet, tp.importance.MagnitudeImportance(p=1), 0.25).DG.get_all_groups(
        ignored_layers=pruning.ignored_layers(unet), root_module_types=[torch.nn.Conv2d, torch.nn.Linear]
    )
    pinned = sum(int(mask.pinned(g).sum()) for g in full)
    assert pinned == n


def hvp_reference(unet, images, abar, grid, noise) -> dict[str, torch.Tensor]:
    """``theta * H g`` by torch.autograd.functional.hvp on the mean DDPM loss at fixed ``grid`` and ``noise``."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    names, values = zip(*[(n, p.detach()) for n, p in unet.named_parameters()])

    def loss(*flat):
        params = dict(zip(names, flat))
        return noise_loss(lambda x, t: functional_call(unet, params, (x, t)).sample, images, abar, grid, noise).mean()

    leaves = [v.clone().requires_grad_(True) for v in values]
    with sdpa_kernel(SDPBackend.MATH):
        grads = torch.autograd.grad(loss(*leaves), leaves)
        _, hvp = torch.autograd.functional.hvp(loss, tuple(values), tuple(g.detach() for g in grads))
    return {name: value * h for name, value, h in zip(names, values, hvp)}


def test_gradient_norm_score_is_theta_times_the_hessian_gradient_product(unet, images, abar):
    """Against torch.autograd.functional.hvp on the same loss (same t and noise)."""
    mask = SoftMask(unet)
    images = images[:4]
    torch.manual_seed(5)
    scores = gradient_norm_scores(unet, mask, iter([images]), abar, 1)
    torch.manual_seed(5)
    noise = torch.randn_like(images)
    grid = torch.linspace(0, len(abar) - 1, len(images)).long()  # the criterion's fixed timestep grid
    for name, expected in hvp_reference(unet, images, abar, grid, noise).items():
        assert torch.allclose(scores[name], expected, rtol=1e-3, atol=1e-7), name
    torch.manual_seed(5)
    unsigned = gradient_norm_scores(unet, mask, iter([images]), abar, 1, absolute=True)
    for name in scores:  # the unsigned reading: |theta * Hg| per element
        assert torch.allclose(unsigned[name], scores[name].abs(), rtol=1e-5, atol=1e-8), name


def test_micro_batches_sum_one_product_per_interleaved_part(unet, images, abar):
    """``micro_batch=2`` on 4 images: two products, images (0, 2) and (1, 3), each on the same fixed
    timestep grid (0, T - 1) and with its own g and Hg (not the product of the whole batch's)."""
    mask = SoftMask(unet)
    images = images[:4]
    torch.manual_seed(5)
    scores = gradient_norm_scores(unet, mask, iter([images]), abar, 1, micro_batch=2)
    torch.manual_seed(5)
    noises = [torch.randn_like(images[j::2]) for j in (0, 1)]  # drawn in the order the parts run
    grid = torch.linspace(0, len(abar) - 1, 2).long()  # every product on the same grid
    parts = [hvp_reference(unet, images[j::2], abar, grid, noises[j]) for j in (0, 1)]
    for name in scores:
        assert torch.allclose(scores[name], parts[0][name] + parts[1][name], rtol=1e-3, atol=1e-7), name
    torch.manual_seed(5)
    whole = gradient_norm_scores(unet, mask, iter([images]), abar, 1)
    assert any(not torch.allclose(scores[n], whole[n], rtol=1e-3, atol=1e-7) for n in scores)


def test_the_flow_removes_exactly_the_channels_it_drove_to_zero(unet, images, abar, tiny_cfg):
    hard = copy.deepcopy(unet)
    pruning.prune(hard, tp.importance.MagnitudeImportance(p=1), 0.3)
    flow = flow_prune(unet, images, abar, tiny_cfg, 0.3)
    assert pruning.macs_params(unet) == pruning.macs_params(hard), "same ratio, same architecture"
    assert flow.residual_mask == pytest.approx(0.0, abs=1e-6), "mask_decay=2 per stage drives every mask to 0"
    for cohort, values in flow.trajectory.items():
        assert values[-1] == 0.0 and values[0] <= 1.0, cohort
    t = torch.tensor([10] * 4)
    assert torch.isfinite(unet(images[:4], t).sample).all()
    budget = flow.budget.to_dict()
    assert budget["optimizer_steps"] == tiny_cfg.prune_stages * tiny_cfg.stage_steps
    assert (
        budget["forward_samples"]["unet_hvp"]
        == tiny_cfg.prune_stages * tiny_cfg.criterion_batches * tiny_cfg.batch_size
    )


@pytest.mark.parametrize("groups", [1, 2])
def test_removal_after_the_mask_aware_soft_phase_leaves_the_output_unchanged(images, abar, tiny_cfg, groups):
    """With GroupNorm statistics over live channels, the soft network at masks 0 and the pruned one
    are the same function (two groups: Torch-Pruning removes alike from each, keeping num_groups)."""
    from repro.gfprune.config import UNetSpec
    from repro.gfprune.models import build_unet

    torch.manual_seed(0)
    unet = build_unet(UNetSpec(block_out_channels=(8, 16, 16), norm_num_groups=groups))
    flow = flow_prune(unet, images, abar, tiny_cfg, 0.3)
    assert flow.removal_gap < 1e-5, f"removal changed the prediction by {flow.removal_gap:.2e}"
    assert pruning.macs_params(unet)[0] < pruning.macs_params(build_unet(UNetSpec(block_out_channels=(8, 16, 16))))[0]


def test_plain_groupnorm_counts_zeroed_channels_and_removal_then_jumps(unet, images, abar, tiny_cfg):
    """The control: the plain GroupNorm of earlier runs (``norm_stats="all"``) is not exact."""
    flow = flow_prune(unet, images, abar, tiny_cfg, 0.3, norm_stats="all")
    assert flow.removal_gap > 1e-2, f"plain statistics left removal exact ({flow.removal_gap:.2e})"


def test_live_group_norm_at_full_weights_is_torch_group_norm():
    from repro.gfprune.method import live_group_norm, removal_groups

    norm = torch.nn.GroupNorm(2, 6)
    torch.nn.init.normal_(norm.weight), torch.nn.init.normal_(norm.bias)
    x = torch.randn(3, 6, 4, 4)
    everyone = removal_groups(torch.ones(6, dtype=torch.bool), 2)
    assert everyone.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.allclose(live_group_norm(norm, x, torch.ones(6), everyone), norm(x), atol=1e-5)
    # two removed from the first half: the four kept ones regroup as (0, 1) and (2, 3) of those kept
    live = torch.tensor([0.0, 0, 1, 1, 1, 1])
    group = removal_groups(live > 0, 2)
    assert group[live > 0].tolist() == [0, 0, 1, 1]
    kept = torch.nn.GroupNorm(2, 4)
    kept.weight.data, kept.bias.data = norm.weight.data[live > 0], norm.bias.data[live > 0]
    out = live_group_norm(norm, x, live, group)[:, live > 0]
    assert torch.allclose(out, kept(x[:, live > 0]), atol=1e-5)


def test_without_sparsity_and_mask_steps_the_masks_stay_at_one(unet, images, abar, tiny_cfg):
    from dataclasses import replace

    cfg = replace(tiny_cfg, mask_decay=0.0, mask_lr=1e-12, prune_stages=1)
    flow = flow_prune(unet, images, abar, cfg, 0.3)
    assert flow.trajectory["stage 1"][-1] == pytest.approx(1.0, abs=1e-6)


def test_magnitude_criterion_keeps_the_procedure_and_spends_no_gradients_on_scores(unet, images, abar, tiny_cfg):
    """The criterion ablation: same stages, soft phase and removal; only the scores differ (no HVPs)."""
    import copy

    ours = flow_prune(copy.deepcopy(unet), images, abar, tiny_cfg, 0.3)
    ablation = flow_prune(copy.deepcopy(unet), images, abar, tiny_cfg, 0.3, criterion="magnitude")
    assert ablation.budget.optimizer_steps == ours.budget.optimizer_steps
    assert ablation.budget.forward_samples["unet_hvp"] == 0 < ours.budget.forward_samples["unet_hvp"]
    assert sum(p.numel() for p in ablation.unet.parameters()) == sum(p.numel() for p in ours.unet.parameters())
    with pytest.raises(ValueError, match="criterion"):
        flow_prune(copy.deepcopy(unet), images, abar, tiny_cfg, 0.3, criterion="nope")


def test_ratio_zero_removes_nothing_and_only_trains(unet, images, abar, tiny_cfg):
    """The drift arm: at ratio 0 the procedure chooses no channel; what changes is its training alone."""
    before = sum(p.numel() for p in unet.parameters())
    flow = flow_prune(unet, images, abar, tiny_cfg, 0.0)
    assert sum(p.numel() for p in flow.unet.parameters()) == before and flow.removal_gap == 0.0
    assert flow.budget.optimizer_steps == tiny_cfg.prune_stages * tiny_cfg.stage_steps


def test_arms_are_data_and_the_drift_arm_runs_one_seed():
    from repro.core.arms import Arm
    from repro.gfprune.config import arm_seeds, arms, config

    cfg = config("smoke", seeds=[0, 1])
    matrix = arms(cfg)
    assert Arm("gfprune", "0") in matrix and Arm("gfprune_abs") in matrix
    assert not any(a.condition == "0.05" for a in matrix)  # the old K1's arms: only where control_methods asks
    assert Arm("gfprune", "0.05") in arms(config("smoke", control_methods=["gfprune"]))
    assert arm_seeds(cfg, Arm("gfprune", "0")) == (0,) and arm_seeds(cfg, Arm("gfprune")) == (0, 1)
    assert arm_seeds(cfg, Arm("random")) == (0, 1) and arm_seeds(cfg, Arm("taylor")) == (0,)  # random: trivial ref


def test_finetune_ends_on_any_step_count(unet, images, abar, tiny_cfg):
    """Methods fine-tune for different step counts (equal total gradient evaluations): a count that is
    not a multiple of eval_every ends with a shorter chunk, and the budget counts every step."""
    from dataclasses import replace

    from accelerate import Accelerator

    from repro.gfprune.training import ValidationSet, finetune

    cfg = replace(tiny_cfg, eval_every=3)
    val = ValidationSet.make(images, 8, len(abar), 0)
    tuned = finetune(
        unet,
        images,
        abar,
        val,
        steps=7,
        lr=cfg.finetune_lr,
        warmup=cfg.finetune_warmup,
        batch_size=cfg.batch_size,
        eval_every=cfg.eval_every,
        seed=0,
        accelerator=Accelerator(cpu=True),
    )
    assert tuned.steps == [0, 3, 6, 7] and len(tuned.val) == 4
    assert tuned.budget.forward_samples["unet_backward"] == 7 * cfg.batch_size


def test_warmup_cosine_ramps_to_the_peak_and_anneals_to_zero():
    """Pretraining and fine-tuning end annealed: the rate climbs linearly to the peak over the warm-up,
    then decays to 0 at the last step; a negative warm-up keeps the rate constant."""
    from repro.gfprune.training import warmup_cosine

    def rates(steps, warmup):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2.0)
        sched = warmup_cosine(opt, steps, warmup)
        out = []
        for _ in range(steps + 1):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    annealed = rates(100, 0.05)
    assert annealed[:5] == pytest.approx([0.4, 0.8, 1.2, 1.6, 2.0])
    assert max(annealed) == pytest.approx(2.0) and annealed[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(annealed[4:], annealed[5:]))
    assert rates(10, -1) == [2.0] * 11
