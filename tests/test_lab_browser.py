"""JupyterLab in a real browser, as a user meets it: the kit's own ``./run_all.sh lab`` entry serves the
notebooks on loopback, headless Chromium (Debian's, driven by Playwright) opens MMARD's 04_evaluate,
runs every cell from the menus against an empty runs folder, and sees the claims table.

Needs Debian's ``chromium``; the ``chromium`` fixture installs it with apt when it is missing, as CI on a
fresh machine must. The screenshot and the server's log go to ``tests/_artifacts/`` (git-ignored).
"""

import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "_artifacts"
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "notebooks/mmard/04_evaluate.ipynb"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the open notebook's tab
# Headless on a machine with no display and a closed network (background networking only gets refused).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# JupyterLab user settings for the test's private settings dir: autosave off, so running the notebook
# in the browser never rewrites the committed file (its stored outputs are nbval's reference); no
# "Jupyter news?" toast over the screenshot.
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": '{"autosave": false}',
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": '{"fetchNews": "false"}',
}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt when missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    install = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"
    if os.geteuid() != 0:
        pytest.fail(f"the browser test needs Debian's chromium at {CHROMIUM}; install it with: sudo {install}")
    proc = subprocess.run(["bash", "-c", install], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not CHROMIUM.exists():
        pytest.fail(
            f"`{install}` failed (exit {proc.returncode}); the browser test needs {CHROMIUM}:\n"
            f"{(proc.stdout + proc.stderr)[-2000:]}"
        )
    return CHROMIUM


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(url: str, token: str, path: str):
    request = urllib.request.Request(f"{url}/api/{path}", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def wait_until_serving(url: str, token: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            api(url, token, "status")
            return
        time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer on {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def wait_for_one_settled_kernel(page, url: str, token: str, timeout: float = 60) -> None:
    """Opening a notebook sometimes starts two kernels and shuts one down again; cells sent before that
    settles can go to the dead one. So wait for one session with one idle, connected kernel on the
    server, and for the page to have heard from it (its debugger button is enabled by the kernel's info
    reply, as JupyterLab's own UI tests wait)."""
    deadline = time.monotonic() + timeout
    while True:
        sessions, kernels = api(url, token, "sessions"), api(url, token, "kernels")
        if (
            len(sessions) == len(kernels) == 1
            and sessions[0]["kernel"]["id"] == kernels[0]["id"]
            and kernels[0]["execution_state"] == "idle"
            and kernels[0]["connections"] >= 1
        ):
            break
        assert time.monotonic() < deadline, f"no settled kernel after {timeout:.0f} s: {sessions} {kernels}"
        time.sleep(0.5)
    page.locator(f'{PANEL} .jp-DebuggerBugButton[aria-disabled="false"]').wait_for(timeout=timeout * 1000)
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=timeout * 1000)


def menu(page, title: str, command: str) -> None:
    """Click a main-menu entry, as a user does: e.g. Run > Run All Cells."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{title}$")).click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def stop_server(server: subprocess.Popen) -> list[psutil.Process]:
    """SIGTERM the server's process group (the server shuts its kernels down, which run in sessions
    of their own), then kill whatever of the server's family is left. Returns that family."""
    family = []
    with contextlib.suppress(psutil.NoSuchProcess):
        family = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    _, left = psutil.wait_procs(family, timeout=15)
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(left, timeout=5)
    server.wait(timeout=5)
    return family


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def lab_server(tmp: Path):
    """``python -m repro.core.lab`` (what ``./run_all.sh lab`` runs) on a free loopback port, with a
    known token and private settings, workspaces, runtime and runs folders. Yields (url, token, server)."""
    for name, text in SETTINGS.items():
        (tmp / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "settings" / name).write_text(text)
    port, token = free_loopback_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "REPRO_LAB_TOKEN": token,
        "REPRO_RUNS_DIR": str(tmp / "runs"),
        "REPRO_PROGRESS": "1",
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
    }
    log = ARTIFACTS / "jupyterlab_server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            # checkpoints (JupyterLab makes one when it opens a notebook) outside the repository
            [sys.executable, "-m", "repro.core.lab", "--port", str(port), f"--FileCheckpoints.root_dir={tmp}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, token, server, log)
        assert f"{url}/lab/tree/notebooks?token={token}" in log.read_text(), "lab did not print its URL with token"
        yield url, token, server
    finally:
        family = stop_server(server)
    stray = [p for p in family if alive(p)]
    assert not stray, f"processes left behind by the JupyterLab server: {stray}"


def outputs(page, mime: str) -> list[str]:
    return page.locator(f'{PANEL} [data-mime-type="{mime}"]').all_inner_texts()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_evaluate_notebook_runs_in_jupyterlab_in_a_real_browser(chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    committed = hashlib.sha256((ROOT / NOTEBOOK).read_bytes()).hexdigest()
    checkpoints = (ROOT / NOTEBOOK).parent / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    profile = tmp_path / "chromium-profile"
    offsite = []  # requests that would leave loopback: aborted, and a failure
    with lab_server(tmp_path) as (url, token, server), sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1500, "height": 1000},
        )
        page = browser.pages[0] if browser.pages else browser.new_page()
        try:
            browser.route(
                re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"),
                lambda route: (offsite.append(route.request.url), route.abort()),
            )
            page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
            panel = page.locator(PANEL)
            wait_for_one_settled_kernel(page, url, token)

            # The stored smoke outputs already hold a claims table: clear them, then run everything.
            menu(page, "Edit", "editmenu:clear-all")
            assert panel.locator("table.dataframe").count() == 0
            menu(page, "Run", "runmenu:run-all")
            claims = panel.locator("table.dataframe", has=page.locator("th", has_text=re.compile(r"^verdict$")))
            started = time.monotonic()
            claims.wait_for(timeout=420_000)  # the whole MMARD smoke pipeline runs first
            print(f"run all cells until the claims table: {time.monotonic() - started:.1f} s")
            page.wait_for_function(  # every code cell has run: prompts read [n], none [*] or empty
                f"""() => [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputArea-prompt')]
                          .every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()))""",
                timeout=60_000,
            )
            panel.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=30_000)

            errors = outputs(page, "application/vnd.jupyter.error")
            stderr = "\n".join(outputs(page, "application/vnd.jupyter.stderr"))
            stdout = "\n".join(outputs(page, "application/vnd.jupyter.stdout"))
            assert not errors, f"a cell raised:\n{errors[0][-3000:]}"
            assert "Traceback" not in stderr, stderr[-3000:]
            assert "IProgress not found" not in stderr, "tqdm.auto fell back to text bars: ipywidgets missing"
            assert re.search(r"\[mmard\] upstream step '\w+' .*: computing it now", stdout), (
                f"an empty runs folder should make the notebook compute its upstream steps, saying so:\n{stdout}"
            )
            rows = claims.locator("tbody tr").count()
            assert rows >= 2, f"claims table has {rows} rows"
            kernels = [
                p
                for p in psutil.Process(server.pid).children(recursive=True)
                if "ipykernel_launcher" in " ".join(p.cmdline())
            ]
            assert kernels and all(k.cmdline()[0] == sys.executable for k in kernels), (
                f"the notebook's python3 kernel should run {sys.executable}: {[k.cmdline() for k in kernels]}"
            )

            claims.evaluate("table => table.scrollIntoView({block: 'end'})")  # the cells above fill the view
            page.mouse.move(0, 0)  # no hover highlight in the picture
            page.screenshot(path=ARTIFACTS / "jupyterlab_04_evaluate.png")
        except Exception:
            page.screenshot(path=ARTIFACTS / "jupyterlab_failure.png")  # what the page showed, for the CI log
            raise
        finally:
            browser.close()
    assert not offsite, f"the page tried to leave loopback: {offsite[:5]}"
    assert hashlib.sha256((ROOT / NOTEBOOK).read_bytes()).hexdigest() == committed, "the committed notebook changed"
    assert had_checkpoints or not checkpoints.exists(), f"the test left {checkpoints} in the repository"
    leftovers = [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert not leftovers, f"processes of this test still running (Chromium, kernels): {leftovers}"
