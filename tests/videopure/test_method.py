"""The invariants that make the purifier VideoPure's: shared noise in temporal inversion, the guided
step's sign, the candidates of multi-step voting, and the majority vote."""

from dataclasses import replace

import pytest
import torch

from repro.videopure.baselines import diffpure, diffpure_timesteps, rung
from repro.videopure.flow import estimate_shifts
from repro.videopure.method import (
    LADDER,
    ddim_invert,
    ddim_purify,
    guidance_loss,
    guided_x0,
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


def test_voting_rung_has_one_candidate_per_step_plus_the_output(purifier, clips):
    out = rung("videopure")(purifier, clips)
    assert out.vote and out.candidates.shape == (purifier.inversion_steps + 1, *clips.shape)
    assert torch.equal(out.candidates[-1], out.output)
    assert 0 <= out.candidates.min() and out.candidates.max() <= 1
    single = rung("temporal_inversion")(purifier, clips)
    assert not single.vote and single.candidates.shape == (1, *clips.shape)


def test_without_guidance_the_guided_rung_is_temporal_inversion(purifier, clips):
    off = replace(purifier, guidance_scale=0.0)
    guided = ddim_purify(off, clips, **LADDER["guided"]).candidates
    plain = ddim_purify(off, clips, temporal=True, guided=False, vote=True).candidates[-2:-1]
    torch.testing.assert_close(guided, plain, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ddim_purify(purifier, clips, **LADDER["guided"]).candidates, plain, atol=1e-5)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_the_guided_step_descends_the_loss_for_sign_minus_one(purifier, clips, sign):
    """sign -1 lowers VideoPure's loss at the step's x0 prediction, +1 (the code as written) raises it."""
    x = to_model(clips)
    shifts = estimate_shifts(clips, 1)
    z, _ = ddim_invert(purifier, x, temporal=True)
    t = purifier.depth
    a = alphas_cumprod(purifier.sched_config)[t]
    p = replace(purifier, guidance_scale=0.05, guidance_sign=sign)
    with torch.no_grad():
        before = guidance_loss(x0_prediction(z, purifier.eps(z, t), a), x, shifts, p.w_rec, p.w_tc)
        after = guidance_loss(guided_x0(p, z, t, a, x, shifts), x, shifts, p.w_rec, p.w_tc)
    assert (after < before) if sign < 0 else (after > before)


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


def test_diffpure_timesteps_run_from_the_depth_to_zero():
    assert diffpure_timesteps(80, 11) == list(range(80, -1, -8))
    assert diffpure_timesteps(80, 81) == list(range(80, -1, -1))
    with pytest.raises(ValueError, match="exceeds"):
        diffpure_timesteps(80, 82)


def test_every_rung_keeps_the_clip_shape(purifier, clips):
    for name in ("none", "diffpure", *LADDER):
        out = rung(name)(purifier, clips, torch.Generator().manual_seed(0))
        assert out.output.shape == clips.shape
    with pytest.raises(KeyError, match="unknown rung"):
        rung("dip")
