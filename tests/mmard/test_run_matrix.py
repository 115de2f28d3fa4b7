"""MMARD's run matrix and its control: every claim's arms are trained, each student learns from the
teacher of its own seed, and the control's outcome is not fixed by algebra (the old one was)."""

import dataclasses

import pytest
import torch

from repro import mmard
from repro.core.scores import measured_claims
from repro.mmard import artifacts
from repro.mmard.claims import CLAIMS
from repro.mmard.config import MethodHP
from repro.mmard.method import mmard as mmard_loss
from repro.mmard.method import rslad
from repro.mmard.models import build_net
from repro.mmard.pipeline import students_of


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu", "paper"])
def test_every_claim_compares_arms_the_profile_trains(profile):
    cfg = mmard.config(profile)
    arms = {s.arm.name for s in students_of(cfg)}
    scores = {c.metric: dict.fromkeys(arms) for c in CLAIMS}
    assert len(measured_claims(CLAIMS, scores)) == len(CLAIMS)


def test_autoattack_runs_on_every_arm_but_the_controls():
    """C2 and the robustness ranking are decided on AutoAttack: every method's arm with the main
    teacher, every teacher-free arm and every swap-teacher arm is attacked; only the control arms
    (PGD-20 decides K1) are not."""
    cfg = mmard.config("cpu")
    arms = {s.arm.name for s in students_of(cfg)}
    controls = {f"{m}@{cfg.control_teacher}" for m in cfg.control_methods}
    assert cfg.autoattack_arms == arms - controls
    assert {"trades", "pgd_at", "natural", "iad@large", "mmard@small", "rslad@small"} <= cfg.autoattack_arms
    for claim in CLAIMS:
        if claim.metric == "autoattack":
            assert set(claim.arms) - {"prior"} <= cfg.autoattack_arms, claim.id


def test_the_control_distils_from_the_naturally_trained_teacher():
    cfg = mmard.config("cpu")
    control = next(c for c in CLAIMS if c.control)
    students = {s.arm.name: s for s in students_of(cfg)}
    assert students[control.b[0]].teacher == cfg.control_teacher
    assert cfg.teacher(cfg.control_teacher).method == "natural"
    assert cfg.teacher(cfg.control_teacher).net == cfg.teacher(cfg.main_teacher).net  # same architecture
    assert students[control.a].teacher == cfg.main_teacher and control.margin > 0


def test_teachers_are_stored_per_seed(tmp_path):
    assert artifacts.teacher_path(tmp_path, "large", 0) != artifacts.teacher_path(tmp_path, "large", 1)


def test_at_eps_zero_mmard_is_exactly_twice_rslad():
    """Why the eps = 0 control was replaced: there x' = x and JS(S, S) = 0, so MMARD's loss is 2x
    RSLAD's and Adam (scale-invariant) trains nearly the same network: an outcome fixed by algebra."""
    cfg = mmard.config("cpu")
    torch.manual_seed(0)
    student, teacher = build_net(cfg.student, 8), build_net(cfg.teacher("large").net, 8).eval()
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    hp = dataclasses.replace(MethodHP(), eps=0.0, step=0.0, mmard_gamma=1.0)
    torch.manual_seed(1)
    a = mmard_loss(student, teacher, x, y, hp)
    torch.manual_seed(1)
    b = rslad(student, teacher, x, y, hp)
    assert a.item() == pytest.approx(2 * b.item(), rel=1e-4)


def test_the_prior_class_is_scored_on_every_metric_and_attack_cannot_move_it():
    import numpy as np

    from repro.mmard.evaluate import PRIOR, prior_scores

    scores = {"clean": {"a": np.zeros((2, 4))}, "autoattack": {"a": np.zeros((2, 2))}}
    prior_scores(scores, torch.tensor([3, 3, 1]), torch.tensor([3, 1, 3, 0]), n_seeds=2)
    assert scores["clean"][PRIOR].tolist() == [[100, 0, 100, 0]] * 2
    assert scores["autoattack"][PRIOR].shape == (2, 2)  # the subset's first images


def test_gates_compare_each_robust_teacher_with_the_natural_one_per_seed():
    from repro.mmard.claims import GATES
    from repro.mmard.evaluate import gate_values

    teachers = {
        name: {"per_seed": [{"valid_pgd20": v} for v in values]}
        for name, values in (("small", [60, 50]), ("large", [80, 70]), ("natural", [40, 45]))
    }
    valid_clean = {arm: [90.0, 40.0] for c in CLAIMS for arm in c.arms}
    values = gate_values(teachers, valid_clean, "natural", CLAIMS)
    assert values == {"robust teacher small": [20, 5], "robust teacher large": [40, 25], "students learn": [90, 40]}
    assert {g.name for g in GATES} == set(values)
