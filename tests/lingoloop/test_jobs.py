"""LingoLoop's model and train steps as jobs (issue 33): two victims and every attack give the same
victims, adversarial images and per-image scores whether one job runs at a time or two side by side."""

import json

import numpy as np
import pytest

from repro import lingoloop
from repro.core import jobs, papers
from repro.lingoloop.claims import CLAIMS

LATENCY = "latency_ms"  # wall-clock time per image: the one score that is not a function of the seed
TIMED = {c.id for c in CLAIMS if c.metric == LATENCY}


def smoke_run(runs, monkeypatch, at_once: str) -> dict:
    """Model and train steps under ``REPRO_JOBS=at_once`` on 2 cores, evaluate in this process."""
    monkeypatch.setenv("REPRO_RUNS_DIR", str(runs))
    monkeypatch.setenv(jobs.CORES_ENV, "2")
    monkeypatch.delenv(jobs.SCHEDULER_ENV, raising=False)
    monkeypatch.setenv(jobs.JOBS_ENV, at_once)
    cfg = lingoloop.config("smoke", seeds=(0, 1))
    pipe = papers.pipeline("lingoloop")
    train = pipe.run("train", cfg)
    monkeypatch.delenv(jobs.JOBS_ENV)
    evaluate = pipe.run("evaluate", cfg)
    with np.load(evaluate.dir / "scores.npz") as scores:
        arrays = {k: scores[k] for k in scores.files if LATENCY not in k}
    with np.load(train.dir / "adversarial_seed1.npz") as adversarial:
        images = {k: adversarial[k] for k in adversarial.files}
    return {
        "scores": arrays,
        "images": images,
        "history": json.loads((train.dir / "history.json").read_text()),
        "jobs": [json.loads((train.dir.parent / step / "jobs.json").read_text()) for step in ("model", "train")],
        "claims": [
            (c["id"], c["result"])
            for c in json.loads((evaluate.dir / "claims.json").read_text())["claims"]
            if c["id"] not in TIMED
        ],
    }


@pytest.mark.slow
def test_victims_and_attacks_are_the_same_with_one_and_two_jobs(tmp_path, monkeypatch):
    one = smoke_run(tmp_path / "one", monkeypatch, "1")
    two = smoke_run(tmp_path / "two", monkeypatch, "2")
    assert [j["backend"] for j in one["jobs"]] == ["in-process"] * 2
    assert [(j["backend"], j["at_once"]) for j in two["jobs"]] == [("loky", 2)] * 2
    assert len(two["jobs"][1]["jobs"]) == 2 * len(lingoloop.config("smoke").methods) + 2  # 2 victims x arms
    assert sorted(one["scores"]) == sorted(two["scores"]) and len(one["scores"]) > 20
    differ = [k for k in one["scores"] if not np.array_equal(one["scores"][k], two["scores"][k], equal_nan=True)]
    assert not differ, f"per-image scores differ: {differ}"
    assert all(np.array_equal(one["images"][k], two["images"][k]) for k in one["images"])
    assert one["history"] == two["history"] and one["claims"] == two["claims"]
