"""``./run_all.sh lab`` refuses to listen beyond loopback before it starts anything (issue 14), and
hands its kernels absolute runs and data folders."""

import os
import subprocess
import sys

import pytest

from repro.core import lab


@pytest.mark.parametrize("args", [["--ip", "0.0.0.0"], ["--ip=192.168.1.5"], ["--ServerApp.ip=0.0.0.0"], ["--ip", "*"]])
def test_a_non_loopback_address_is_refused_before_any_url(args):
    proc = subprocess.run([sys.executable, "-m", "repro.core.lab", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "JupyterLab: http" not in proc.stdout
    assert "the lab listens on loopback only" in proc.stderr and "ssh -L 8888:127.0.0.1:8888" in proc.stderr


def test_loopback_is_served_and_the_kernels_get_absolute_folders(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPRO_RUNS_DIR", "runs_rel")
    monkeypatch.setenv("REPRO_DATA_DIR", "data_rel")
    launched = {}
    monkeypatch.setattr(os, "execv", lambda exe, args: launched.update(args=args, env=dict(os.environ)))
    lab.main(["--port", "9999", "--ip", "localhost"])
    assert "--ip=localhost" in launched["args"] and "--port=9999" in launched["args"]
    assert launched["env"]["REPRO_RUNS_DIR"] == str(tmp_path / "runs_rel")
    assert launched["env"]["REPRO_DATA_DIR"] == str(tmp_path / "data_rel")
    assert "JupyterLab: http://localhost:9999/lab/tree/notebooks?token=" in capsys.readouterr().out
