"""The train step's (arm, seed) runs and per-seed checks as jobs: one at a time or two side by side,
the same per-example scores and claims."""

import json

import numpy as np
import pytest

from repro.core import jobs, papers


def smoke_run(runs, monkeypatch, at_once: str) -> dict:
    """Train (as ``at_once`` jobs) and evaluate gfprune at smoke in a fresh runs folder."""
    monkeypatch.setenv("REPRO_RUNS_DIR", str(runs))
    for name in (jobs.SCHEDULER_ENV, "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(jobs.CORES_ENV, "2")
    monkeypatch.setenv(jobs.JOBS_ENV, at_once)
    cfg = papers.package("gfprune").config("smoke")
    pipe = papers.pipeline("gfprune")
    train = pipe.run("train", cfg)
    monkeypatch.setenv(jobs.JOBS_ENV, "1")  # evaluate in this process: only training ran as jobs
    evaluate = pipe.run("evaluate", cfg)
    with np.load(evaluate.dir / "scores.npz") as scores:  # speed-ups are timings: they differ run to run
        arrays = {k: scores[k] for k in scores.files if not k.startswith("speedup|")}
    claims = json.loads((evaluate.dir / "claims.json").read_text())
    return {
        "scores": arrays,
        "claims": [(c["id"], c["result"]) for c in claims["claims"] if c["metric"] != "speedup"],
        "reliability": json.loads((train.dir / "reliability.json").read_text()),
        "jobs": json.loads((train.dir / "jobs.json").read_text()),
    }


@pytest.mark.slow
def test_train_with_two_jobs_gives_the_same_scores_and_claims(tmp_path, monkeypatch):
    one = smoke_run(tmp_path / "one", monkeypatch, "1")
    two = smoke_run(tmp_path / "two", monkeypatch, "2")
    assert (one["jobs"]["backend"], two["jobs"]["backend"]) == ("in-process", "loky")
    assert len(two["jobs"]["jobs"]) == len(one["jobs"]["jobs"]) > 2
    assert sorted(one["scores"]) == sorted(two["scores"])
    differ = [k for k in one["scores"] if not np.array_equal(one["scores"][k], two["scores"][k])]
    assert not differ, f"per-example scores differ: {differ}"
    assert one["claims"] == two["claims"]
    assert one["reliability"] == two["reliability"]
