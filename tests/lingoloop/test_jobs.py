"""LingoLoop's model and train steps as jobs (issue 33): two victims and every attack give the same
victims, adversarial images and per-image scores whether one job runs at a time or two side by side."""

import numpy as np
import pytest

from repro import lingoloop
from repro.core import papers
from repro.lingoloop.claims import CLAIMS
from tests import jobs_check as check

LATENCY = "latency_ms"  # wall-clock time per image: the one score that is not a function of the seed
TIMED = {c.id for c in CLAIMS if c.metric == LATENCY}


def smoke_run(runs, monkeypatch, at_once: str) -> dict:
    """Model and train steps under ``REPRO_JOBS=at_once`` on 2 cores, evaluate in this process."""
    check.two_cores(monkeypatch, runs, at_once)
    cfg = lingoloop.config("smoke", seeds=(0, 1))
    pipe = papers.pipeline("lingoloop")
    train = pipe.run("train", cfg)
    check.one_at_a_time(monkeypatch)
    evaluate = pipe.run("evaluate", cfg)
    with np.load(train.dir / "adversarial_seed1.npz") as adversarial:
        images = {k: adversarial[k] for k in adversarial.files}
    return {
        "scores": check.scores(evaluate.dir, keep=lambda key: LATENCY not in key),
        "images": images,
        "history": check.read_json(train.dir / "history.json"),
        "jobs": [check.read_json(train.dir.parent / step / "jobs.json") for step in ("model", "train")],
        "claims": check.claims(evaluate.dir, keep=lambda claim: claim["id"] not in TIMED),
    }


@pytest.mark.slow
def test_victims_and_attacks_are_the_same_with_one_and_two_jobs(tmp_path, monkeypatch):
    one = smoke_run(tmp_path / "one", monkeypatch, "1")
    two = smoke_run(tmp_path / "two", monkeypatch, "2")
    assert [j["backend"] for j in one["jobs"]] == ["in-process"] * 2
    assert [(j["backend"], j["at_once"]) for j in two["jobs"]] == [("loky", 2)] * 2
    assert len(two["jobs"][1]["jobs"]) == 2 * len(lingoloop.config("smoke").methods) + 2  # 2 victims x arms
    assert len(one["scores"]) > 20
    check.assert_same_arrays(one["scores"], two["scores"], "per-image scores")
    check.assert_same_arrays(one["images"], two["images"], "adversarial images")
    assert one["history"] == two["history"] and one["claims"] == two["claims"]
