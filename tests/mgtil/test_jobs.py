"""MGTIL's train step as jobs (issue 33): the tuning pilots and every (arm, seed) run give the same
chosen weights, accuracy matrices, losses, reference sets and per-example scores whether one job runs
at a time or two side by side."""

import pytest

from repro import mgtil
from repro.core import papers
from repro.mgtil import artifacts as art
from tests import jobs_check as check


def smoke_run(runs, monkeypatch, at_once: str) -> dict:
    """The train step under ``REPRO_JOBS=at_once`` on 2 cores (two seeds), evaluate in this process."""
    check.two_cores(monkeypatch, runs, at_once)
    cfg = mgtil.config("smoke", seeds=(0, 1))
    pipe = papers.pipeline("mgtil")
    train = pipe.run("train", cfg)
    check.one_at_a_time(monkeypatch)
    evaluate = pipe.run("evaluate", cfg)
    read = lambda name: check.read_json(train.dir / name)
    return {
        "scores": check.scores(evaluate.dir),
        "matrices": art.load_matrices(train.dir, art.VAL_MATRICES),
        "tuning": read(art.TUNING),
        "history": read(art.HISTORY),
        "references": read(art.REFERENCES),
        "jobs": [read(art.TUNING_JOBS), read(art.JOBS)],
        "claims": check.claims(evaluate.dir),
    }


@pytest.mark.slow
def test_pilots_and_runs_are_the_same_with_one_and_two_jobs(tmp_path, monkeypatch):
    one = smoke_run(tmp_path / "one", monkeypatch, "1")
    two = smoke_run(tmp_path / "two", monkeypatch, "2")
    assert [j["backend"] for j in one["jobs"]] == ["in-process"] * 2
    assert [(j["backend"], j["at_once"]) for j in two["jobs"]] == [("loky", 2)] * 2
    cfg = mgtil.config("smoke", seeds=(0, 1))
    assert len(two["jobs"][1]["jobs"]) == 2 * (len(cfg.methods) + len(cfg.second_order_methods))
    assert len({j["worker"] for j in two["jobs"][0]["jobs"]}) == 2  # both workers ran pilots
    assert len(one["scores"]) > 5
    check.assert_same_arrays(one["scores"], two["scores"])
    check.assert_same_arrays(one["matrices"], two["matrices"], "accuracy matrices")
    assert one["tuning"] == two["tuning"] and one["history"] == two["history"]
    assert one["references"] == two["references"] and one["claims"] == two["claims"]
