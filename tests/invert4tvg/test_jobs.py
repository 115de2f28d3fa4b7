"""The warm-ups, the (arm, seed) GRPO runs and the per-seed evaluations run as jobs
(``repro.core.jobs``): one at a time or two side by side, the per-example scores and the claims
must be identical."""

from __future__ import annotations

import pytest

from repro import invert4tvg
from repro.invert4tvg.pipeline import pipe
from tests import jobs_check as check

STEPS = ("model", "train", "evaluate")  # each hands its per-seed or (arm, seed) work to jobs


def run_at_smoke(runs, monkeypatch, at_once: str) -> dict:
    check.two_cores(monkeypatch, runs, at_once)
    cfg = invert4tvg.config("smoke", seeds=(0, 1), arms=("tvg_iou", "invert4tvg", "invert4tvg@objects"))
    evaluate = pipe.run("evaluate", cfg)
    return {
        "scores": check.scores(evaluate.dir),
        "claims": check.claims(evaluate.dir),
        "gates": check.read_json(evaluate.dir / "claims.json").get("gates"),
        "jobs": {step: check.read_json(evaluate.dir.parent / step / "jobs.json") for step in STEPS},
    }


@pytest.mark.slow
def test_one_or_two_jobs_at_once_give_identical_scores_and_claims(tmp_path, monkeypatch):
    one = run_at_smoke(tmp_path / "one", monkeypatch, "1")
    two = run_at_smoke(tmp_path / "two", monkeypatch, "2")
    assert {s: r["backend"] for s, r in one["jobs"].items()} == dict.fromkeys(STEPS, "in-process")
    assert {s: r["backend"] for s, r in two["jobs"].items()} == dict.fromkeys(STEPS, "loky")
    assert len(two["jobs"]["train"]["jobs"]) == 6  # 3 arms x 2 seeds
    check.assert_same_arrays(one["scores"], two["scores"])
    assert one["claims"] == two["claims"] and one["gates"] == two["gates"]
