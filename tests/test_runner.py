"""The runner end to end as the README uses it: papermill with injected parameters, the summary,
the report, failures that do not stop the run, and an interrupted run finished by --resume."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from repro.core import papers, runner

ROOT = Path(__file__).resolve().parents[1]


def run_all(runs: Path, *args: str, cwd: Path | None = None, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    env = {**os.environ, "REPRO_RUNS_DIR": str(runs)}
    cmd = [str(ROOT / "run_all.sh"), *args]
    if popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def stable(claims: dict) -> dict:
    """claims.json without what legitimately differs between two runs: wall and CPU times, and the commit the
    machine facts name (a checkout may move between the two)."""
    doc = json.loads(json.dumps(claims))
    for entry in doc["budget"].values():
        entry.pop("wall_s")
    doc["run"].pop("step_wall_s", None)
    doc["run"].pop("step_cpu_s", None)
    doc["run"].get("machine", {}).pop("commit", None)
    return doc


def tiny_notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "smoke"\noverrides = {}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


def test_a_failing_notebook_does_not_stop_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path / "runs"))
    bad = tiny_notebook(tmp_path / "01_data.ipynb", "raise RuntimeError('broken on purpose')")
    good = tiny_notebook(tmp_path / "02_model.ipynb", "print(profile, overrides)")
    monkeypatch.setattr(papers, "notebooks", lambda paper: [("data", bad), ("model", good)])
    results = runner.run_paper("mmard", "smoke", {}, resume=False, log=lambda m: None)
    assert [r.status for r in results] == ["failed", "ok"]
    assert "broken on purpose" in results[0].error
    executed = nbformat.read(results[1].output, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert "2 notebooks, 1 failed" in runner.summary(results)
    out_dir = Path(results[0].output).parent  # written whole, the failed one too, through a temporary file
    assert nbformat.read(results[0].output, as_version=4).cells and not list(out_dir.glob(".*.tmp-*"))


def test_a_relative_runs_folder_is_one_folder_for_the_runner_and_its_kernels(tmp_path, monkeypatch):
    # Each kernel runs in its notebook's folder: a relative REPRO_RUNS_DIR once sent the steps' results
    # under notebooks/<paper>/runs_rel while the runner wrote notebooks and REPORT under ./runs_rel.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPRO_RUNS_DIR", "runs_rel")
    (tmp_path / "nb").mkdir()
    probe = tiny_notebook(
        tmp_path / "nb" / "01_data.ipynb",
        "from repro.core.steps import runs_root\n(runs_root() / 'kernel_was_here').mkdir(parents=True)",
    )
    monkeypatch.setattr(papers, "notebooks", lambda paper: [("data", probe)])
    results = runner.run_paper("mmard", "smoke", {}, resume=False, log=lambda m: None)
    assert results[0].status == "ok", results[0].error
    assert (tmp_path / "runs_rel" / "kernel_was_here").is_dir()
    assert (tmp_path / "runs_rel" / "smoke" / "mmard" / "notebooks" / "01_data.ipynb").exists()
    assert not (tmp_path / "nb" / "runs_rel").exists()


def test_bad_options_fail_fast_with_a_clear_message(tmp_path):
    proc = run_all(tmp_path, "--profile", "huge", "--paper", "mmard")
    assert proc.returncode != 0 and "unknown profile 'huge'; valid profiles: smoke, cpu, gpu, paper" in proc.stdout
    proc = run_all(tmp_path, "--paper", "nosuch")
    assert proc.returncode != 0 and "unknown or not yet implemented paper 'nosuch'; available: " in proc.stderr
    assert "mmard" in proc.stderr.rpartition("available: ")[2]
    assert run_all(tmp_path, "--frobnicate").returncode == 2


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_claims(tmp_path):
    # A relative runs folder, from another working directory: it means tmp_path/a for the runner and
    # for every kernel (it once meant <repo>/a for one and notebooks/mmard/a for the other).
    full = run_all(Path("a"), "--profile", "smoke", "--paper", "mmard", cwd=tmp_path)
    assert full.returncode == 0, full.stdout[-3000:] + full.stderr[-3000:]
    assert not (ROOT / "a").exists() and not (ROOT / "notebooks" / "mmard" / "a").exists()
    run_a = tmp_path / "a" / "smoke"
    assert "5 notebooks, 0 failed" in full.stdout
    assert (run_a / "REPORT.md").exists() and len(list((run_a / "mmard" / "notebooks").glob("*.ipynb"))) == 5
    claims_a = json.loads((run_a / "mmard" / "evaluate" / "claims.json").read_text())

    # Kill the whole runner (papermill and its kernel) while 03_train is running.
    proc = run_all(tmp_path / "b", "--profile", "smoke", "--paper", "mmard", start_new_session=True)
    model_done = tmp_path / "b" / "smoke" / "mmard" / "model" / "step.json"
    deadline = time.time() + 300
    while not model_done.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert model_done.exists() and not (tmp_path / "b" / "smoke" / "mmard" / "evaluate" / "step.json").exists()

    resumed = run_all(tmp_path / "b", "--profile", "smoke", "--paper", "mmard", "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert resumed.stdout.count("fresh, skipped (--resume)") >= 2
    claims_b = json.loads((tmp_path / "b" / "smoke" / "mmard" / "evaluate" / "claims.json").read_text())
    a, b = stable(claims_a), stable(claims_b)
    for key in a:
        differing = [(x, y) for x, y in zip(a[key], b[key]) if x != y] if isinstance(a[key], list) else []
        assert a[key] == b[key], f"{key} differs after resume: {differing[:2] or (a[key], b[key])}"
