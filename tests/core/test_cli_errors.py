"""What ``python -m repro`` says when the user, the data or the file system is wrong: one message
and exit status 2, never a traceback (issue 14)."""

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from repro.core import cli, papers, runner
from repro.core.data import DataUnavailableError, ForbiddenPickleError
from repro.core.steps import Pipeline, write_json

from . import toy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("REPRO_DEBUG", raising=False)
    return tmp_path / "runs"


@pytest.fixture
def toy_paper(monkeypatch):
    """``toy`` as a paper of the CLI, with one more step that raises what ``toy.config(boom=...)`` asks."""
    pipe = Pipeline("toy")
    pipe.steps = dict(toy.pipe.steps)
    errors = {
        "data": DataUnavailableError("toyset", "/data/a.bin", "file not found", "make it yourself"),
        "pickle": ForbiddenPickleError("pickle refers to posix.system, which is not an allowed global"),
    }

    @pipe.step(uses=("names",))
    def boom(cfg, ctx):
        raise errors[cfg.names[0]]

    modules = {"toy": type("M", (), {"config": staticmethod(toy.config)})}
    monkeypatch.setattr(papers, "package", lambda paper: modules[papers.check(paper)])
    monkeypatch.setattr(papers, "pipeline", lambda paper: pipe)
    monkeypatch.setattr(papers, "available", lambda: ("toy",))
    return pipe


def error_line(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_an_unknown_step_is_one_line_in_a_real_process():
    proc = subprocess.run(
        [sys.executable, "-m", "repro", "step", "mods", "nosuchstep"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip() == (
        "error: unknown step 'nosuchstep'; steps of mods: data, model, train, evaluate, figures"
    )


def test_missing_data_is_a_message(toy_paper, capsys):
    err = error_line(capsys, ["step", "toy", "boom", "--set", 'names=["data"]'])
    assert "dataset 'toyset': file not found" in err and "what to do: make it yourself" in err


def test_a_forbidden_pickle_is_a_message(toy_paper, capsys):
    err = error_line(capsys, ["step", "toy", "boom", "--set", 'names=["pickle"]'])
    assert err.strip() == "error: pickle refers to posix.system, which is not an allowed global"


def test_a_value_out_of_range_is_a_message(toy_paper, capsys):
    assert "seeds=[]" in error_line(capsys, ["step", "toy", "data", "--set", "seeds=[]"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_runs_folder_is_a_message(toy_paper, capsys, runs):
    runs.mkdir()
    runs.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        err = error_line(capsys, ["step", "toy", "data"])
    finally:
        runs.chmod(stat.S_IRWXU)
    assert "Permission denied" in err and "REPRO_RUNS_DIR" in err


def test_a_read_only_file_system_is_a_message(toy_paper, capsys, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    err = error_line(capsys, ["step", "toy", "data"])
    assert "Read-only file system (point REPRO_RUNS_DIR at a writable folder" in err


def test_an_os_error_is_a_message(toy_paper, capsys, runs):
    # (the read-only case, for root too: a file where the runs folder should be)
    runs.parent.mkdir(exist_ok=True)
    runs.write_text("not a folder")
    err = error_line(capsys, ["step", "toy", "data"])
    assert str(runs) in err and "Not a directory" in err


def test_repro_debug_shows_the_traceback(toy_paper, monkeypatch):
    monkeypatch.setenv("REPRO_DEBUG", "1")
    with pytest.raises(ForbiddenPickleError):
        cli.main(["step", "toy", "boom", "--set", 'names=["pickle"]'])


@pytest.mark.parametrize("name", ["smoke/../../../x", "bogus"])
def test_report_refuses_a_path_or_a_run_that_does_not_exist(capsys, runs, name):
    write_json(runs / "smoke" / "mmard" / "notebooks" / "summary.json", [])
    err = error_line(capsys, ["report", "--profile", name])
    assert "runs there: smoke" in err
    assert not (runs.parent / "x").exists() and not (runs / "bogus").exists()


def test_one_papers_config_error_does_not_drop_the_report_of_the_others(capsys, runs, monkeypatch):
    def fake_run_paper(paper, profile, overrides, resume, log=print):
        cfg = papers.package(paper).config(profile, **overrides)  # gfprune has no `epochs`
        write_json(runner.run_dir(cfg) / "notebooks" / "summary.json", [])
        return [runner.NotebookRun(paper, "01_data.ipynb", "ok", 0.1, None, None)]

    monkeypatch.setattr(runner, "run_paper", fake_run_paper)
    rc = cli.main(["run", "--profile", "smoke", "--paper", "gfprune", "--paper", "mods", "--set", "epochs=3"])
    out = capsys.readouterr().out
    assert rc == 1 and "unknown override(s) ['epochs']" in out  # gfprune failed, and says why
    mods_run = papers.package("mods").config("smoke", epochs=3).run_name
    assert f"report: {runs / mods_run / 'REPORT.md'}" in out
    assert "## mods" in (runs / mods_run / "REPORT.md").read_text()
