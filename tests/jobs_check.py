"""What every "one job or two, the same results" test (issue 33) does alike: a fresh runs folder on a
machine of two cores with no cluster, a step's per-example scores and claims read back, and the
comparison that must hold to the bit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from repro.core import jobs


def two_cores(monkeypatch, runs: Path, at_once: str | None = None, **env: str) -> None:
    """Runs under ``runs``, two cores, one process (no Dask scheduler, no accelerate ranks) and, when
    given, ``REPRO_JOBS=at_once`` and the other environment variables in ``env``."""
    monkeypatch.setenv("REPRO_RUNS_DIR", str(runs))
    for name in (jobs.JOBS_ENV, jobs.SCHEDULER_ENV, "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(jobs.CORES_ENV, "2")
    if at_once is not None:
        monkeypatch.setenv(jobs.JOBS_ENV, at_once)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def one_at_a_time(monkeypatch) -> None:
    """Later steps in this process, one job at a time (only the step under test ran as jobs)."""
    monkeypatch.setenv(jobs.JOBS_ENV, "1")
    monkeypatch.delenv(jobs.SCHEDULER_ENV, raising=False)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def scores(step_dir: Path, keep: Callable[[str], bool] = lambda key: True) -> dict[str, np.ndarray]:
    """The step's ``scores.npz`` (the arrays whose key ``keep`` accepts: timings differ run to run)."""
    with np.load(step_dir / "scores.npz") as stored:
        return {k: stored[k] for k in stored.files if keep(k)}


def claims(step_dir: Path, keep: Callable[[dict], bool] = lambda claim: True) -> list[tuple[str, dict]]:
    """(id, result) of each claim in the step's ``claims.json`` that ``keep`` accepts."""
    return [(c["id"], c["result"]) for c in read_json(step_dir / "claims.json")["claims"] if keep(c)]


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray], what: str = "per-example scores") -> None:
    """The same keys and, under each, the same array to the bit (NaN equal to NaN)."""
    assert sorted(a) == sorted(b), f"{what}: different keys"
    differ = [k for k in a if not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind in "fc")]
    assert not differ, f"{what} differ: {differ}"
