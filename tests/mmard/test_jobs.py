"""MMARD's model, train and evaluate steps as jobs (issue 33): every (teacher, seed), (arm, seed)
student and its attacks give the same teachers, students, per-image scores and claims whether one job
runs at a time or two side by side."""

import pytest

from repro import mmard
from repro.core import papers
from repro.mmard import artifacts
from tests import jobs_check as check

STEPS = ("model", "train", "evaluate")


def without_wall_times(summary: dict) -> dict:
    """The model step's teacher summary less each seed's budget ledger (its wall time varies)."""
    return {
        name: {**info, "per_seed": [{k: v for k, v in run.items() if k != "budget"} for run in info["per_seed"]]}
        for name, info in summary.items()
    }


def smoke_run(runs, monkeypatch, at_once: str) -> dict:
    """Every step under ``REPRO_JOBS=at_once`` on 2 cores, with two seeds."""
    check.two_cores(monkeypatch, runs, at_once)
    cfg = mmard.config("smoke", seeds=(0, 1))
    evaluate = papers.pipeline("mmard").run("evaluate", cfg)
    read = lambda step, name: check.read_json(evaluate.dir.parent / step / name)
    return {
        "scores": check.scores(evaluate.dir),
        "teachers": without_wall_times(read("model", "step.json")["summary"]),
        "history": read("train", artifacts.HISTORY),
        "sweep": read("evaluate", artifacts.SWEEP),
        "jobs": [read(step, "jobs.json") for step in STEPS],
        "claims": check.claims(evaluate.dir),
    }


@pytest.mark.slow
def test_teachers_students_and_attacks_are_the_same_with_one_and_two_jobs(tmp_path, monkeypatch):
    one = smoke_run(tmp_path / "one", monkeypatch, "1")
    two = smoke_run(tmp_path / "two", monkeypatch, "2")
    assert [j["backend"] for j in one["jobs"]] == ["in-process"] * 3
    assert [(j["backend"], j["at_once"]) for j in two["jobs"]] == [("loky", 2)] * 3
    assert len(two["jobs"][1]["jobs"]) == 2 * len(one["history"])  # every (arm, seed) student
    assert len(one["scores"]) > 20
    check.assert_same_arrays(one["scores"], two["scores"], "per-image scores")
    assert one["teachers"] == two["teachers"] and one["history"] == two["history"]
    assert one["sweep"] == two["sweep"] and one["claims"] == two["claims"]
