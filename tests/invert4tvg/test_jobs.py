"""The warm-ups, the (arm, seed) GRPO runs and the per-seed evaluations run as jobs
(``repro.core.jobs``): one at a time or two side by side, the per-example scores and the claims
must be identical."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repro import invert4tvg
from repro.core import jobs
from repro.invert4tvg.pipeline import pipe


def run_at_smoke(runs, monkeypatch, at_once: str) -> dict:
    monkeypatch.setenv("REPRO_RUNS_DIR", str(runs))
    monkeypatch.delenv(jobs.SCHEDULER_ENV, raising=False)
    monkeypatch.setenv(jobs.CORES_ENV, "2")
    monkeypatch.setenv(jobs.JOBS_ENV, at_once)
    cfg = invert4tvg.config("smoke", seeds=(0, 1), arms=("tvg_iou", "invert4tvg", "invert4tvg@objects"))
    evaluate = pipe.run("evaluate", cfg)
    with np.load(evaluate.dir / "scores.npz") as scores:
        arrays = {k: scores[k] for k in scores.files}
    claims = json.loads((evaluate.dir / "claims.json").read_text())
    ran = {
        step: json.loads((evaluate.dir.parent / step / "jobs.json").read_text())
        for step in ("model", "train", "evaluate")
    }
    return {
        "scores": arrays,
        "claims": [(c["id"], c["result"]) for c in claims["claims"]],
        "gates": claims.get("gates"),
        "jobs": ran,
    }


@pytest.mark.slow
def test_one_or_two_jobs_at_once_give_identical_scores_and_claims(tmp_path, monkeypatch):
    one = run_at_smoke(tmp_path / "one", monkeypatch, "1")
    two = run_at_smoke(tmp_path / "two", monkeypatch, "2")
    assert {s: r["backend"] for s, r in one["jobs"].items()} == dict.fromkeys(
        ("model", "train", "evaluate"), "in-process"
    )
    assert {s: r["backend"] for s, r in two["jobs"].items()} == dict.fromkeys(("model", "train", "evaluate"), "loky")
    assert len(two["jobs"]["train"]["jobs"]) == 6  # 3 arms x 2 seeds
    assert sorted(one["scores"]) == sorted(two["scores"])
    differ = [k for k in one["scores"] if not np.array_equal(one["scores"][k], two["scores"][k])]
    assert not differ, f"per-example scores differ: {differ}"
    assert one["claims"] == two["claims"] and one["gates"] == two["gates"]
