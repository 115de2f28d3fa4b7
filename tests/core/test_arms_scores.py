import numpy as np
import pytest

from repro.core.arms import Arm, file_stem
from repro.core.claims import Claim
from repro.core.scores import load_scores, measured_claims, save_scores


def test_arm_name_and_file():
    assert Arm("lwf").name == "lwf"
    arm = Arm("mmard", "large")
    assert arm.name == "mmard@large" and str(arm) == "mmard@large"
    assert Arm("a/b", "x").file != Arm("a-b", "x").file  # distinct names never share a file
    assert file_stem("plain_name-1.0") == "plain_name-1.0"
    with pytest.raises(ValueError, match="'@'"):
        Arm("a@b")


def test_scores_round_trip_without_pickle(tmp_path):
    scores = {"acc": {"ours": np.ones((2, 3)), "base@x": np.zeros((2, 3))}, "f1": {"ours": np.eye(2)}}
    back = load_scores(save_scores(tmp_path / "scores.npz", scores))
    assert set(back) == {"acc", "f1"} and set(back["acc"]) == {"ours", "base@x"}
    np.testing.assert_array_equal(back["acc"]["ours"], scores["acc"]["ours"])
    with pytest.raises(ValueError, match="n_seeds, n_examples"):
        save_scores(tmp_path / "bad.npz", {"acc": {"ours": np.ones(3)}})


def test_measured_claims_keeps_only_complete_claims():
    c1 = Claim(id="C1", text="", type="better", metric="acc", a="ours", b=("base",))
    c2 = Claim(id="C2", text="", type="better", metric="acc", a="ours", b=("missing",))
    c3 = Claim(id="C3", text="", type="better", metric="nope", a="ours", b=("base",))
    scores = {"acc": {"ours": np.ones((1, 2)), "base": np.ones((1, 2))}}
    assert measured_claims([c1, c2, c3], scores) == [c1]
