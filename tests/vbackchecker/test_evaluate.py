"""The field's metrics on hand-made cases, as docs/papers/vbackchecker.md defines them, and the trivial
references a claim must beat."""

import numpy as np
import pytest

from repro.vbackchecker.baselines import tune_threshold
from repro.vbackchecker.evaluate import (
    TRIVIAL,
    balanced,
    ciou,
    detection_scores,
    grounding_scores,
    iou,
    trivial_verdicts,
)


def test_giou_counts_an_empty_prediction_on_an_empty_target_as_one():
    target = np.zeros((3, 4, 4), bool)
    target[0, :2, :2] = True  # 4 pixels
    pred = np.zeros_like(target)
    pred[0, :2, :] = True  # 8 pixels, 4 overlapping
    pred[2, 0, 0] = True  # a mask where there is no target
    per_sample, inter, union = iou(pred, target)
    np.testing.assert_allclose(per_sample, [0.5, 1.0, 0.0])
    accept = np.array([True, False, False])  # row 2 says [REJ] but still paints a pixel
    scores = grounding_scores(accept, pred, target)
    assert scores["giou"].mean() == pytest.approx(50.0)
    np.testing.assert_array_equal(scores["n_acc"], [100.0, 100.0])  # from the token, as the official code
    np.testing.assert_array_equal(scores["n_acc_mask"], [100.0, 0.0])  # from the mask
    np.testing.assert_array_equal(scores["t_acc"], [100.0])
    np.testing.assert_array_equal(scores["target_iou"], [50.0])
    assert scores["refer_acc"].mean() == pytest.approx(100.0)
    assert ciou(pred, target) == pytest.approx(100 * 4 / (8 + 1))  # sum of intersections / sum of unions


def test_detection_metrics_and_balanced_scores():
    types = ["none", "none", "none", "object", "attribute", "relation"]
    ops = ["", "", "", "shape", "size", "left_right"]
    accept = np.array([True, True, False, False, True, False])
    s = detection_scores(accept, types, ops, held_out=("size",))
    assert s["plain_acc"].mean() == pytest.approx(100 * 4 / 6)
    assert s["neg_acc"].mean() == pytest.approx(100 * 2 / 3) and s["pos_acc"].mean() == pytest.approx(200 / 3)
    assert s["acc"].mean() == pytest.approx((200 / 3 + 200 / 3) / 2)  # the paper's (Neg.Acc + Pos.Acc) / 2
    assert s["pos_minus_neg"].mean() == pytest.approx(0.0)
    assert s["bacc_object"].mean() == pytest.approx((100 + 200 / 3) / 2)
    assert s["bacc_attribute"].mean() == pytest.approx((0 + 200 / 3) / 2)
    assert s["bacc_heldout"].mean() == pytest.approx(s["bacc_attribute"].mean())
    assert s["bacc_attribute_heldout"].mean() == pytest.approx(s["bacc_attribute"].mean())
    assert "bacc_attribute_seen" not in s  # no seen attribute swap among the items: left out, not zero
    assert s["bacc_relation_seen"].mean() == pytest.approx(s["bacc_relation"].mean())


def test_the_papers_acc_matches_its_table():
    """Acc = (Neg.Acc + Pos.Acc) / 2 reproduces the paper's rows: 62.5 from 64.1 / 60.9 (VBackChecker)
    and 49.9 from 0.5 / 99.3 (GSVA-7B), at any class sizes; Pos.Acc - Neg.Acc is what C1b bounds."""
    for neg, pos, acc in ((64.1, 60.9, 62.5), (0.5, 99.3, 49.9)):
        n_bad, n_clean = 1000, 3000
        clean = np.r_[np.zeros(n_bad, bool), np.ones(n_clean, bool)]
        accept = np.r_[np.arange(n_bad) >= round(neg * n_bad / 100), np.arange(n_clean) < round(pos * n_clean / 100)]
        s = detection_scores(accept, np.where(clean, "none", "object"), [""] * len(clean), ())
        assert s["acc"].mean() == pytest.approx(acc, abs=0.05)
        assert s["pos_minus_neg"].mean() == pytest.approx(pos - neg, abs=0.05)


@pytest.mark.parametrize("accept_all", [True, False])
def test_a_constant_judge_scores_fifty_whatever_the_class_sizes(accept_all):
    clean = np.array([True] * 7 + [False] * 2)
    correct = 100.0 * ((np.full(9, accept_all)) == clean)
    assert balanced(correct, clean, ~clean).mean() == pytest.approx(50.0)


def test_threshold_maximises_balanced_accuracy():
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    grounded = np.array([False, False, False, True, True])
    assert tune_threshold(scores, grounded) == pytest.approx(0.8)


def test_trivial_references_score_what_the_claims_assume():
    """always-reject has N-acc 100 and gIoU = the share of no-target rows, yet (N-acc + T-acc) / 2 = 50;
    a mask over every object accepts everything; every trivial reference has the paper's Acc at 50."""
    target = np.zeros((4, 4, 4), bool)
    target[0, 0, 0] = target[1, 3, 3] = True
    every = np.zeros_like(target)
    every[:, 0, 0] = every[:, 3, 3] = True
    types = np.array(["none", "none", "object", "relation"])
    for name in TRIVIAL:
        accept, masks = trivial_verdicts(name, 4, every)
        d = detection_scores(accept, types, ["", "", "shape", "left_right"], ())
        g = grounding_scores(accept, masks, target)
        assert d["acc"].mean() == pytest.approx(50.0) and g["refer_acc"].mean() == pytest.approx(50.0), name
    accept, masks = trivial_verdicts("always_reject", 4, every)
    assert grounding_scores(accept, masks, target)["giou"].mean() == pytest.approx(50.0)
    accept, masks = trivial_verdicts("mask_all", 4, every)
    assert grounding_scores(accept, masks, target)["target_iou"].mean() == pytest.approx(50.0)
    with pytest.raises(ValueError, match="always_accept"):
        trivial_verdicts("oracle", 4, every)


def test_gates_keep_one_value_per_seed(tmp_path, monkeypatch):
    """Every gate stores one value per seed (a gate passes only when every seed passes): the smoke
    pipeline at two seeds, the checker and the grounder only."""
    from repro.core.claims import load_claims
    from repro.vbackchecker import config, pipeline

    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path))
    cfg = config("smoke", seeds=[0, 1], arms=["checker", "grounder"], optim={"epochs": 1, "steps_per_epoch": 2})
    doc = load_claims(pipeline.evaluate(cfg).path("claims.json"))
    assert {g["name"]: len(g["value"]) for g in doc["gates"]} == {
        "grounder_target_iou": 2, "checker_object_bacc": 2, "text_prior_reads_a_leak": 2,
    }  # fmt: skip
