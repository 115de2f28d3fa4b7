"""The invariants that make the purifier VideoPure's: shared noise in temporal inversion, the guided
step as VideoPure's code defines it (checked against values computed by hand from its formulas), the
candidates of multi-step voting, and the majority vote."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from repro.videopure.baselines import ddim, diffpure, diffpure_timesteps, rung
from repro.videopure.flow import estimate_shifts
from repro.videopure.method import (
    LADDER,
    ddim_invert,
    ddim_purify,
    guidance_terms,
    guide,
    log_variance,
    majority_vote,
    to_model,
    x0_prediction,
)
from repro.videopure.models import alphas_cumprod


def test_temporal_inversion_shares_one_noise_trajectory(purifier, clips):
    """With frame 0's noise shared, frame differences only shrink by sqrt(abar) (no per-frame noise)."""
    x = to_model(clips)
    z, frames = ddim_invert(purifier, x, temporal=True)
    scale = alphas_cumprod(purifier.sched_config)[purifier.depth].sqrt()
    torch.testing.assert_close(z - z[:, :1], scale * (x - x[:, :1]), atol=1e-4, rtol=1e-4)
    assert frames == len(x) * purifier.inversion_steps  # frame 0 only


def test_per_frame_inversion_does_not_share_noise(purifier, clips):
    x = to_model(clips)
    z, frames = ddim_invert(purifier, x, temporal=False)
    scale = alphas_cumprod(purifier.sched_config)[purifier.depth].sqrt()
    assert not torch.allclose(z - z[:, :1], scale * (x - x[:, :1]), atol=1e-4)
    assert frames == x.shape[0] * x.shape[1] * purifier.inversion_steps


def test_the_official_depth_is_timestep_100_with_7_candidates(purifier, clips):
    """VideoPure's code: t = 5, loops of t + 1 = 6 steps on the 50-step grid: timestep 100, 6 guided x0
    predictions and the guided final latent."""
    from repro.videopure import config

    cfg = config("cpu")
    assert cfg.inversion_steps == 6 and cfg.depth == 100
    official = replace(purifier, inversion_steps=6)
    out = rung("videopure")(official, clips)
    assert out.vote and out.candidates.shape == (7, *clips.shape)
    b, t = clips.shape[:2]
    assert out.unet_frames == 6 * b + 6 * b * t  # frame 0 per inversion step, every frame per denoising step


def coefficient_by_hand(abar: np.ndarray, t: int, stride: int = 20) -> float:
    """-4 log(var_t), var_t = (1 - a_prev) / (1 - a_t) (1 - a_t / a_prev), a_prev = 1 below 0, clamped at 1e-20."""
    a_t = float(abar[t])
    a_prev = float(abar[t - stride]) if t >= stride else 1.0
    var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
    return -4 * math.log(max(var, 1e-20))


def test_the_guidance_coefficient_rises_as_t_goes_to_zero(purifier):
    abar = alphas_cumprod(purifier.sched_config).double()
    coefficients = []
    for t in (100, 80, 60, 40, 20, 0):
        prev = abar[t - 20] if t >= 20 else torch.tensor(1.0, dtype=torch.float64)
        c = float(-4 * log_variance(abar[t], prev))
        assert c == pytest.approx(coefficient_by_hand(abar.numpy(), t), rel=1e-9)
        coefficients.append(c)
    assert all(b > a > 0 for a, b in zip(coefficients, coefficients[1:]))
    assert coefficients[0] == pytest.approx(14.76, abs=0.01)  # var 0.025 at t = 100
    assert coefficients[-1] == pytest.approx(-4 * math.log(1e-20))  # zero variance, clamped: 184.2


def test_the_guided_step_matches_the_official_formulas_by_hand(purifier):
    """One clip of 3 frames of 2x2 pixels; frame f+1 is frame f moved one pixel right (torus). The
    expected latents are computed element by element from the code's formulas."""
    g = torch.Generator().manual_seed(3)
    z, eps, target = (torch.randn(1, 3, 1, 2, 2, generator=g, dtype=torch.float64) for _ in range(3))
    shifts = torch.tensor([[[0, 1], [0, 1]]])
    abar = alphas_cumprod(purifier.sched_config).double()
    a_t, a_prev = abar[40], abar[20]
    p = replace(purifier, reference_frames=32, reference_frame_elements=5376)
    moved = guide(p, z, eps, a_t, a_prev, target, shifts, "official").numpy()[0, :, 0]

    zz, ee, xx = z.numpy()[0, :, 0], eps.numpy()[0, :, 0], target.numpy()[0, :, 0]
    a = float(a_t)
    x0 = (zz - math.sqrt(1 - a) * ee) / math.sqrt(a)
    grad = 800 * 2 * (x0 - xx) / (32 * 5376)  # d/dx0 of 800 * sum (x0 - x)^2 / (32 * 5376)
    for f in range(2):  # -5 * sum_f sum |warp(x0_{f+1}) - x0_f| / 5376, the warped frame constant
        back = np.roll(x0[f + 1], -1, axis=1)
        grad[f] += -5 * -np.sign(back - x0[f]) / 5376
    expected = zz + coefficient_by_hand(abar.numpy(), 40) * grad / math.sqrt(a)
    np.testing.assert_allclose(moved, expected, rtol=1e-10, atol=1e-12)


def test_official_guidance_moves_the_candidate_away_from_the_adversarial_input(purifier, clips):
    """Ascending the distance (c_t > 0): every guided x0 prediction lies further from the input than the
    unguided one, and more so as t -> 0 (the coefficient grows)."""
    x = to_model(clips)
    shifts = estimate_shifts(clips, 1)
    official = replace(purifier, inversion_steps=6)
    z, _ = ddim_invert(official, x, temporal=True)
    abar = alphas_cumprod(purifier.sched_config)
    ratios = []
    for t in (100, 40, 0):
        a, a_prev = abar[t], abar[t - 20] if t >= 20 else torch.tensor(1.0)
        with torch.no_grad():
            eps = official.eps(z, t)
        plain = x0_prediction(z, eps, a)
        guided = x0_prediction(guide(official, z, eps, a, a_prev, x, shifts, "official"), eps, a)
        ratios.append(float((guided - x).norm() / (plain - x).norm()))
    assert all(r > 1 for r in ratios) and ratios[0] < ratios[1] < ratios[2]
    descent = x0_prediction(guide(official, z, eps, a, a_prev, x, shifts, "descent"), eps, a)
    assert (descent - x).norm() < (plain - x).norm()  # the ablation pulls toward the input


def test_official_guidance_descends_temporal_inconsistency(purifier, clips):
    x = to_model(clips)
    shifts = estimate_shifts(clips, 1)
    z, _ = ddim_invert(purifier, x, temporal=False)
    abar = alphas_cumprod(purifier.sched_config)
    t = purifier.depth
    a, a_prev = abar[t], abar[t - 20] if t >= 20 else torch.tensor(1.0)
    p = replace(purifier, w_rec=0.0)
    with torch.no_grad():
        eps = p.eps(z, t)
    before = guidance_terms(x0_prediction(z, eps, a), x, shifts, p)[1]
    after = guidance_terms(x0_prediction(guide(p, z, eps, a, a_prev, x, shifts, "official"), eps, a), x, shifts, p)[1]
    assert (after < before).all()


def test_with_zero_weights_the_guided_rung_is_temporal_inversion(purifier, clips):
    """The guided final candidate is the final sample moved by the guided step: no loss, no move."""
    off = replace(purifier, w_rec=0.0, w_tc=0.0)
    guided = ddim_purify(off, clips, **LADDER["guided"]).candidates
    plain = ddim_purify(off, clips, **LADDER["temporal_inversion"]).candidates
    torch.testing.assert_close(guided, plain, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(ddim_purify(purifier, clips, **LADDER["guided"]).candidates, plain, atol=1e-4)


def test_majority_vote_and_its_tie_break():
    logits = torch.zeros(3, 2, 4)
    logits[0, 0, 2] = logits[1, 0, 2] = logits[2, 0, 1] = 1  # clip 0: votes 2, 2, 1
    logits[0, 1, 3] = logits[1, 1, 1] = logits[2, 1, 0] = 1  # clip 1: a three-way tie
    assert majority_vote(logits).tolist() == [2, 0]


def test_diffpure_is_stochastic_and_seeded(purifier, clips):
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    a, b, c = diffpure(purifier, clips, g(0)), diffpure(purifier, clips, g(0)), diffpure(purifier, clips, g(1))
    assert torch.equal(a.output, b.output) and not torch.equal(a.output, c.output)
    assert a.unet_frames == purifier.diffpure_steps * clips.shape[0] * clips.shape[1]


def test_the_ddim_baseline_is_stochastic_seeded_and_k_steps(purifier, clips):
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    a, b, c = ddim(purifier, clips, g(0)), ddim(purifier, clips, g(0)), ddim(purifier, clips, g(1))
    assert torch.equal(a.output, b.output) and not torch.equal(a.output, c.output)
    assert a.unet_frames == purifier.inversion_steps * clips.shape[0] * clips.shape[1]


def test_diffpure_timesteps_run_from_the_depth_to_zero():
    assert diffpure_timesteps(80, 11) == list(range(80, -1, -8))
    assert diffpure_timesteps(80, 81) == list(range(80, -1, -1))
    with pytest.raises(ValueError, match="exceeds"):
        diffpure_timesteps(80, 82)


def test_every_rung_keeps_the_clip_shape(purifier, clips):
    for name in ("none", "diffpure", "ddim", *LADDER):
        out = rung(name)(purifier, clips, torch.Generator().manual_seed(0))
        assert out.output.shape == clips.shape
    with pytest.raises(KeyError, match="unknown rung"):
        rung("dip")
