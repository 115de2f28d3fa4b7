"""Processes that share a runs folder: two runs of one paper, a notebook beside ``./run_all.sh``, a
JupyterLab kernel that keeps one pid for hours. Every call succeeds or waits; nothing is left that
breaks a later call; the final artifacts are those of one complete computation."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.core import steps

from . import toy

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import json, sys, traceback
from tests.core import toy
errors, calls = [], int(sys.argv[1])
for _ in range(calls):
    try:
        toy.train(toy.config("smoke"))
    except Exception:
        errors.append(traceback.format_exc(limit=1).strip().splitlines()[-1])
print(json.dumps({"calls": calls, "errors": errors, "computed": toy.CALLS.count("train")}))
"""


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path))
    toy.CALLS.clear()
    return tmp_path


def python(code: str, *args: str, **popen) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_concurrent_writers_all_succeed_and_leave_consistent_artifacts(runs):
    # The stress test, smaller: before the lock, 183 of 3 x 150 calls failed with
    # "Directory not empty: .../data -> .../.data.old-<pid>".
    procs = [python(WRITER, "40") for _ in range(3)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    errors = [e for r in reports for e in r["errors"]]
    assert not errors, f"{len(errors)} of {sum(r['calls'] for r in reports)} calls failed, e.g. {errors[:3]}"
    cfg = toy.config("smoke")
    assert toy.pipe.staleness("data", cfg) is None and toy.pipe.staleness("train", cfg) is None
    folder = runs / "smoke" / "toy"
    assert json.loads((folder / "train" / "scaled.json").read_text()) == [0.0, 1.0, 2.0]
    leftovers = [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert not leftovers


def test_a_waiting_process_reuses_what_the_writer_just_computed(runs, capsys):
    marker = runs / "computed"
    holder = python(
        "import sys, time, pathlib\n"
        "from repro.core import steps\n"
        "from tests.core import toy\n"
        "cfg = toy.config('smoke')\n"
        "with steps.step_lock(steps.run_dir(cfg), 'data'):\n"
        "    toy.data(cfg)\n"
        "    pathlib.Path(sys.argv[1]).touch()\n"
        "    time.sleep(3)\n",
        str(marker),
    )
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline and holder.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), holder.communicate()[1][-2000:]
    result = toy.data(toy.config("smoke"))  # waits for the lock, then finds the step fresh
    assert holder.wait(timeout=60) == 0
    assert result.cached and toy.CALLS == []
    out = capsys.readouterr().out
    assert "in use by another process: waiting" in out and "just computed by another process: reusing it" in out


def test_a_left_over_old_folder_does_not_break_later_calls(runs):
    # A JupyterLab kernel keeps its pid: an .old folder named after it once failed every later call.
    cfg = toy.config("smoke")
    toy.data(cfg)
    folder = runs / "smoke" / "toy"
    for name in (f".data.old-{os.getpid()}", ".data.old-999999999", f".data.old-{os.getpid()}-abcd1234"):
        (folder / name).mkdir()
        (folder / name / "values.json").write_text("[0]")
    toy.data(cfg)
    toy.data(cfg)
    assert toy.CALLS == ["data"] * 3
    assert not list(folder.glob(".data.old-*"))


def test_a_failed_rename_puts_the_previous_result_back(runs, monkeypatch):
    cfg = toy.config("smoke")
    toy.data(cfg)
    before = (runs / "smoke/toy/data/step.json").read_text()
    real_replace, calls = os.replace, []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new folder onto the final name
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError, match="No space"):
        toy.data(cfg)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (runs / "smoke/toy/data/step.json").read_text() == before
    assert toy.pipe.staleness("data", cfg) is None
    toy.data(cfg)  # and the next call works
    assert not [p for p in (runs / "smoke/toy").iterdir() if ".old-" in p.name or ".tmp-" in p.name]


@pytest.mark.parametrize("content", ["[]", "null", "3", '"text"', '{"artifacts": []}'])
def test_a_step_json_that_is_not_an_object_is_unreadable_not_a_crash(runs, content):
    cfg = toy.config("smoke")
    toy.train(cfg)
    (runs / "smoke/toy/data/step.json").write_text(content)
    assert toy.pipe.staleness("data", cfg) == "step.json unreadable"
    toy.train(toy.config("smoke"))  # the upstream step is recomputed
    assert toy.CALLS == ["data", "train", "data", "train"]
    assert steps.read_meta(runs / "smoke/toy/data/step.json")["step"] == "data"


def test_step_json_may_not_point_outside_its_folder(runs):
    cfg = toy.config("smoke")
    toy.data(cfg)
    meta_path = runs / "smoke/toy/data/step.json"
    meta = json.loads(meta_path.read_text())
    meta["artifacts"] = {"../../../../etc/hostname": "0" * 64}
    meta_path.write_text(json.dumps(meta))
    assert toy.pipe.staleness("data", cfg) == "step.json unreadable"
