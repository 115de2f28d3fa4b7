"""The pretrain step's seeds and the train step's (arm, seed) runs as jobs: one job at a time or two
side by side give the same weights, so the same per-example scores and verdicts."""

import pytest

from repro.vbackchecker import config, pipeline
from tests import jobs_check as check


def run(runs, monkeypatch, n_jobs: str) -> dict:
    """Train and evaluate a two-seed smoke run in a fresh runs folder with ``REPRO_JOBS=n_jobs``."""
    check.two_cores(monkeypatch, runs, n_jobs)
    cfg = config("smoke", seeds=[0, 1], arms=["checker", "grounder", "similarity"])
    train = pipeline.pipe.run("train", cfg)
    check.one_at_a_time(monkeypatch)
    evaluate = pipeline.pipe.run("evaluate", cfg)
    return {
        "scores": check.scores(evaluate.dir),
        "claims": check.claims(evaluate.dir),
        "jobs": check.read_json(train.dir / "jobs.json"),
        "pretrain_jobs": check.read_json(train.dir.parent / "pretrain" / "jobs.json"),
    }


@pytest.mark.slow
def test_train_with_two_jobs_gives_the_same_scores_and_claims(tmp_path, monkeypatch):
    one = run(tmp_path / "one", monkeypatch, "1")
    two = run(tmp_path / "two", monkeypatch, "2")
    assert (one["jobs"]["backend"], two["jobs"]["backend"]) == ("in-process", "loky")
    assert len(two["jobs"]["jobs"]) == len(one["jobs"]["jobs"]) == 6
    assert len(two["pretrain_jobs"]["jobs"]) == len(one["pretrain_jobs"]["jobs"]) == 2  # one grounder per seed
    check.assert_same_arrays(one["scores"], two["scores"])
    assert one["claims"] == two["claims"]
