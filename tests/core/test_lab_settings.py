"""The kit's JupyterLab defaults: ``./run_all.sh lab`` never asks "Would you like to get notified about
official Jupyter news?" (``lib/repro/core/lab_settings/overrides.json``)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from repro.core import lab

PLUGIN = "@jupyterlab/apputils-extension:notification"


def test_overrides_name_a_real_setting_with_a_valid_value():
    overrides = json.loads((lab.SETTINGS_DIR / "overrides.json").read_text())
    package, _, plugin = PLUGIN.partition(":")
    schema_file = Path(sys.prefix) / "share/jupyter/lab/schemas" / package / f"{plugin}.json"
    schema = json.loads(schema_file.read_text())["properties"]["fetchNews"]
    assert overrides[PLUGIN]["fetchNews"] in {option["const"] for option in schema["oneOf"]}
    assert overrides[PLUGIN]["fetchNews"] == "false"  # "Never"; the schema's default "none" asks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_the_lab_serves_the_setting_to_a_fresh_user(tmp_path):
    """A real server from the lab command, with an empty user-settings folder: the setting JupyterLab
    sends the browser is the kit's, so the question never shows."""
    port, token = free_port(), "kit-test-token"
    env = {
        **os.environ,
        "REPRO_LAB_TOKEN": token,
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "repro.core.lab", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/lab/api/settings/{PLUGIN}"
    try:
        deadline, answer = time.monotonic() + 90, None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.load(response)
            except OSError:
                time.sleep(0.5)
        assert answer is not None, f"no answer from {url}:\n{log.read_text()[-3000:]}"
        # the browser reads the user's value, else the schema's default, which the overrides replaced
        assert "fetchNews" not in answer["settings"], "the test's user settings must be empty"
        assert answer["schema"]["properties"]["fetchNews"]["default"] == "false"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
