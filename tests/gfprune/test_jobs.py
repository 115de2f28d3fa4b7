"""The train step's (arm, seed) runs and per-seed checks as jobs: one at a time or two side by side,
the same per-example scores and claims."""

import pytest

from repro.core import papers
from tests import jobs_check as check


def smoke_run(runs, monkeypatch, at_once: str) -> dict:
    """Train (as ``at_once`` jobs) and evaluate gfprune at smoke in a fresh runs folder."""
    check.two_cores(monkeypatch, runs, at_once)
    cfg = papers.package("gfprune").config("smoke")
    pipe = papers.pipeline("gfprune")
    train = pipe.run("train", cfg)
    check.one_at_a_time(monkeypatch)
    evaluate = pipe.run("evaluate", cfg)
    return {  # speed-ups are timings: they differ run to run
        "scores": check.scores(evaluate.dir, keep=lambda key: not key.startswith("speedup|")),
        "claims": check.claims(evaluate.dir, keep=lambda claim: claim["metric"] != "speedup"),
        "reliability": check.read_json(train.dir / "reliability.json"),
        "jobs": check.read_json(train.dir / "jobs.json"),
    }


@pytest.mark.slow
def test_train_with_two_jobs_gives_the_same_scores_and_claims(tmp_path, monkeypatch):
    one = smoke_run(tmp_path / "one", monkeypatch, "1")
    two = smoke_run(tmp_path / "two", monkeypatch, "2")
    assert (one["jobs"]["backend"], two["jobs"]["backend"]) == ("in-process", "loky")
    assert len(two["jobs"]["jobs"]) == len(one["jobs"]["jobs"]) > 2
    check.assert_same_arrays(one["scores"], two["scores"])
    assert one["claims"] == two["claims"]
    assert one["reliability"] == two["reliability"]
