"""Batch reruns as users type them (issue 34): papermill's own CLI passes ``-p overrides '{...}'`` as
text, and the notebooks' config cell takes it (``config(profile, overrides=overrides)``)."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from repro.core import kernels, papers
from repro.core.config import ConfigError, parse_overrides
from repro.core.steps import REPO_ROOT

PAPERMILL = Path(sys.executable).with_name("papermill")


@pytest.mark.parametrize(
    "text,expected",
    [
        ('{"n_train": 64}', {"n_train": 64}),  # -p overrides '{"n_train": 64}': JSON
        ("{n_train: 64, seeds: [0, 1]}", {"n_train": 64, "seeds": [0, 1]}),  # YAML flow style
        ("n_train: 64", {"n_train": 64}),
        ("", {}),
        (None, {}),
        ({"n_train": 64}, {"n_train": 64}),  # -y 'overrides: {n_train: 64}' and the runner give a dict
    ],
)
def test_overrides_as_papermill_passes_them(text, expected):
    assert parse_overrides(text) == expected


@pytest.mark.parametrize("text", ["[64]", "{n_train: 64", "64", "n_train"])
def test_text_that_is_no_mapping_is_refused_showing_both_forms(text):
    with pytest.raises(ConfigError) as err:
        parse_overrides(text)
    assert """-p overrides '{"epochs": 2}'""" in str(err.value) and "-y 'overrides: {epochs: 2}'" in str(err.value)


def config_cells():
    """``(notebook, source)`` of the cell that builds the config, in every paper's notebooks."""
    for paper in papers.available():
        for _, path in papers.notebooks(paper):
            cells = [c.source for c in nbformat.read(path, as_version=4).cells if "config(profile" in c.source]
            assert len(cells) == 1, f"{path}: one cell builds the config"
            yield path, cells[0]


def test_every_notebook_passes_its_overrides_parameter_whole():
    for path, source in config_cells():
        assert "config(profile, overrides=overrides)" in source, f"{path}: `**overrides` fails on papermill's text"


def test_a_config_cell_runs_with_the_text_papermill_injects(monkeypatch, tmp_path, capsys):
    """01_data's config cell, run as papermill leaves it: profile and overrides as text."""
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path))
    path = REPO_ROOT / "notebooks" / "invert4tvg" / "01_data.ipynb"
    source = dict(config_cells())[path]
    namespace = {"profile": "smoke", "overrides": '{"n_train": 48}'}
    exec(compile(source, str(path), "exec"), namespace)
    assert namespace["cfg"].n_train == 48 and namespace["cfg"].run_name.startswith("smoke+")


@pytest.mark.slow
def test_papermill_cli_with_json_overrides_runs(tmp_path):
    """The command from the issue, as a user types it: it used to end in
    ``TypeError: ... argument after ** must be a mapping, not str``."""
    env = {**os.environ, "REPRO_RUNS_DIR": str(tmp_path / "runs")}
    cmd = [str(PAPERMILL), "notebooks/invert4tvg/01_data.ipynb", str(tmp_path / "out.ipynb"),
           "-p", "profile", "smoke", "-p", "overrides", '{"n_train": 48}']  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.outputs)
    assert "smoke+" in printed  # the run with overrides got its own folder
    assert len(list((tmp_path / "runs").glob("smoke+*/invert4tvg/data/step.json"))) == 1


@pytest.mark.slow
def test_the_quiet_kernel_config_drops_the_tcp_warning(tmp_path):
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec})
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    ipython_dir = tmp_path / "ipython"
    assert kernels.install_quiet_kernel_config(ipython_dir / "profile_default") is not None

    def stderr(env):
        cmd = [str(PAPERMILL), str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb")]
        done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    # the venv's own etc/ipython may hold the config already: then both runs are quiet
    installed = (Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py").exists()
    assert ("without encryption" in stderr({"IPYTHONDIR": str(tmp_path / "empty")})) is not installed
    assert "without encryption" not in stderr({"IPYTHONDIR": str(ipython_dir)})


def test_a_users_own_kernel_config_is_left_alone(tmp_path):
    (tmp_path / "ipython_kernel_config.py").write_text("c.IPKernelApp.log_level = 'DEBUG'\n")
    assert kernels.install_quiet_kernel_config(tmp_path) is None
    assert (tmp_path / "ipython_kernel_config.py").read_text() == "c.IPKernelApp.log_level = 'DEBUG'\n"
