"""The pretrain step's seeds and the train step's (arm, seed) runs as jobs: one job at a time or two
side by side give the same weights, so the same per-example scores and verdicts."""

import json

import numpy as np
import pytest

from repro.core import jobs
from repro.vbackchecker import config, pipeline


def run(runs, monkeypatch, n_jobs: str) -> dict:
    """Train and evaluate a two-seed smoke run in a fresh runs folder with ``REPRO_JOBS=n_jobs``."""
    monkeypatch.setenv("REPRO_RUNS_DIR", str(runs))
    for name in (jobs.SCHEDULER_ENV, "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(jobs.CORES_ENV, "2")
    monkeypatch.setenv(jobs.JOBS_ENV, n_jobs)
    cfg = config("smoke", seeds=[0, 1], arms=["checker", "grounder", "similarity"])
    train = pipeline.pipe.run("train", cfg)
    monkeypatch.setenv(jobs.JOBS_ENV, "1")
    evaluate = pipeline.pipe.run("evaluate", cfg)
    with np.load(evaluate.dir / "scores.npz") as scores:
        arrays = {k: scores[k] for k in scores.files}
    claims = json.loads((evaluate.dir / "claims.json").read_text())
    return {"scores": arrays, "claims": [(c["id"], c["result"]) for c in claims["claims"]],
            "jobs": json.loads((train.dir / "jobs.json").read_text()),
            "pretrain_jobs": json.loads((train.dir.parent / "pretrain" / "jobs.json").read_text())}  # fmt: skip


@pytest.mark.slow
def test_train_with_two_jobs_gives_the_same_scores_and_claims(tmp_path, monkeypatch):
    one = run(tmp_path / "one", monkeypatch, "1")
    two = run(tmp_path / "two", monkeypatch, "2")
    assert (one["jobs"]["backend"], two["jobs"]["backend"]) == ("in-process", "loky")
    assert len(two["jobs"]["jobs"]) == len(one["jobs"]["jobs"]) == 6
    assert len(two["pretrain_jobs"]["jobs"]) == len(one["pretrain_jobs"]["jobs"]) == 2  # one grounder per seed
    assert sorted(one["scores"]) == sorted(two["scores"])
    differ = [k for k in one["scores"] if not np.array_equal(one["scores"][k], two["scores"][k])]
    assert not differ, f"per-example scores differ: {differ}"
    assert one["claims"] == two["claims"]
