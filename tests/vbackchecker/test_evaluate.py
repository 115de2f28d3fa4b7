"""The field's metrics on hand-made cases, as docs/papers/vbackchecker.md defines them."""

import numpy as np
import pytest

from repro.vbackchecker.baselines import tune_threshold
from repro.vbackchecker.evaluate import balanced, ciou, detection_scores, grounding_scores, iou


def test_giou_counts_an_empty_prediction_on_an_empty_target_as_one():
    target = np.zeros((3, 4, 4), bool)
    target[0, :2, :2] = True  # 4 pixels
    pred = np.zeros_like(target)
    pred[0, :2, :] = True  # 8 pixels, 4 overlapping
    pred[2, 0, 0] = True  # a mask where there is no target
    per_sample, inter, union = iou(pred, target)
    np.testing.assert_allclose(per_sample, [0.5, 1.0, 0.0])
    scores = grounding_scores(pred, target)
    assert scores["giou"].mean() == pytest.approx(50.0)
    np.testing.assert_array_equal(scores["n_acc"], [100.0, 0.0])
    np.testing.assert_array_equal(scores["t_acc"], [100.0])
    assert ciou(pred, target) == pytest.approx(100 * 4 / (8 + 1))  # sum of intersections / sum of unions


def test_detection_metrics_and_balanced_scores():
    types = ["none", "none", "none", "object", "attribute", "relation"]
    ops = ["", "", "", "shape", "size", "left_right"]
    accept = np.array([True, True, False, False, True, False])
    s = detection_scores(accept, types, ops, held_out=("size",))
    assert s["acc"].mean() == pytest.approx(100 * 4 / 6)
    assert s["neg_acc"].mean() == pytest.approx(100 * 2 / 3) and s["pos_acc"].mean() == pytest.approx(200 / 3)
    assert s["bacc_object"].mean() == pytest.approx((100 + 200 / 3) / 2)
    assert s["bacc_attribute"].mean() == pytest.approx((0 + 200 / 3) / 2)
    assert s["bacc_heldout"].mean() == pytest.approx(s["bacc_attribute"].mean())


@pytest.mark.parametrize("accept_all", [True, False])
def test_a_constant_judge_scores_fifty_whatever_the_class_sizes(accept_all):
    clean = np.array([True] * 7 + [False] * 2)
    correct = 100.0 * ((np.full(9, accept_all)) == clean)
    assert balanced(correct, clean, ~clean).mean() == pytest.approx(50.0)


def test_threshold_maximises_balanced_accuracy():
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    grounded = np.array([False, False, False, True, True])
    assert tune_threshold(scores, grounded) == pytest.approx(0.8)
