"""MGTIL's train step as jobs (issue 33): the tuning pilots and every (arm, seed) run give the same
chosen weights, accuracy matrices, losses, reference sets and per-example scores whether one job runs
at a time or two side by side."""

import json

import numpy as np
import pytest

from repro import mgtil
from repro.core import jobs, papers
from repro.mgtil import artifacts as art


def smoke_run(runs, monkeypatch, at_once: str) -> dict:
    """The train step under ``REPRO_JOBS=at_once`` on 2 cores (two seeds), evaluate in this process."""
    monkeypatch.setenv("REPRO_RUNS_DIR", str(runs))
    monkeypatch.setenv(jobs.CORES_ENV, "2")
    monkeypatch.delenv(jobs.SCHEDULER_ENV, raising=False)
    monkeypatch.setenv(jobs.JOBS_ENV, at_once)
    cfg = mgtil.config("smoke", seeds=(0, 1))
    pipe = papers.pipeline("mgtil")
    train = pipe.run("train", cfg)
    monkeypatch.delenv(jobs.JOBS_ENV)
    evaluate = pipe.run("evaluate", cfg)
    with np.load(evaluate.dir / art.SCORES) as scores:
        arrays = {k: scores[k] for k in scores.files}
    read = lambda name: json.loads((train.dir / name).read_text())
    return {
        "scores": arrays,
        "matrices": art.load_matrices(train.dir, art.VAL_MATRICES),
        "tuning": read(art.TUNING),
        "history": read(art.HISTORY),
        "references": read(art.REFERENCES),
        "jobs": [read(art.TUNING_JOBS), read(art.JOBS)],
        "claims": [(c["id"], c["result"]) for c in json.loads((evaluate.dir / art.CLAIMS).read_text())["claims"]],
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
    assert sorted(one["scores"]) == sorted(two["scores"]) and len(one["scores"]) > 5
    differ = [k for k in one["scores"] if not np.array_equal(one["scores"][k], two["scores"][k])]
    assert not differ, f"per-example scores differ: {differ}"
    assert all(np.array_equal(one["matrices"][k], two["matrices"][k]) for k in one["matrices"])
    assert one["tuning"] == two["tuning"] and one["history"] == two["history"]
    assert one["references"] == two["references"] and one["claims"] == two["claims"]
