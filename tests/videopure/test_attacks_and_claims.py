"""Attacks stay in the eps-ball and the image box; the claims name only arms the profiles measure."""

from functools import partial

import numpy as np
import pytest
import torch

from repro.core.arms import Arm
from repro.videopure import config
from repro.videopure.attacks import bpda_eot, candidate_gradient, pgd
from repro.videopure.baselines import rung
from repro.videopure.claims import CLAIMS
from repro.videopure.evaluate import accuracy_scores, condition
from repro.videopure.models import Recogniser, check_models


@pytest.fixture
def recogniser(smoke):
    torch.manual_seed(0)
    return Recogniser(smoke.recogniser, smoke.n_classes).eval()


def test_graybox_pgd_stays_in_the_ball(recogniser, clips):
    label = torch.tensor([0, 1])
    adv = pgd(recogniser, clips, label, eps=4 / 255, step=2 / 255, steps=3, seed=0)
    assert (adv - clips).abs().max() <= 4 / 255 + 1e-6 and 0 <= adv.min() and adv.max() <= 1


@pytest.mark.parametrize("name", ["diffpure", "videopure"])
def test_bpda_through_a_purifier_stays_in_the_ball(purifier, recogniser, clips, name):
    label = torch.tensor([0, 1])
    adv, spent = bpda_eot(partial(rung(name), purifier), recogniser, clips, label, 8 / 255, 2 / 255, 2, 2, seed=0)
    assert (adv - clips).abs().max() <= 8 / 255 + 1e-6 and 0 <= adv.min() and adv.max() <= 1
    assert spent == 4 and not torch.equal(adv, clips)


def test_the_bpda_gradient_averages_over_candidates(recogniser, clips):
    label = torch.tensor([0, 1])
    one = candidate_gradient(recogniser, clips[None], label)
    twice = candidate_gradient(recogniser, torch.stack([clips, clips]), label)
    torch.testing.assert_close(one, twice)


def test_accuracy_scores_are_points_per_clip():
    scores = accuracy_scores({"a@clean": np.array([[1, 2, 3]])}, np.array([[1, 0, 3]]))
    assert scores["a@clean"].tolist() == [[100.0, 0.0, 100.0]]


def measured_arms(cfg):
    conds = ["clean"] + [condition("pgd", e) for e in cfg.eps] + [condition("transfer", e) for e in cfg.transfer_eps]
    arms = {Arm(r, c).name for r in cfg.rungs for c in conds}
    arms |= {Arm(r, condition("bpda", e)).name for r in cfg.bpda_rungs for e in cfg.bpda_eps}
    return arms | {Arm("diffpure_full", "clean").name}


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_every_claim_is_measured_by_the_profile(profile):
    cfg = config(profile)
    missing = {c.id: a for c in CLAIMS for a in c.arms if a not in measured_arms(cfg)}
    assert not missing
    assert any(c.control for c in CLAIMS)


def test_every_profile_builds_its_models():
    for profile in ("smoke", "cpu", "gpu"):
        for name, (module, batch) in check_models(config(profile)).items():
            with torch.no_grad():
                assert torch.isfinite(module.eval()(batch)).all(), name
