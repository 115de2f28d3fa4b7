"""Live progress from a notebook's kernel to the runner (``repro.core.livelog``), and the runner's
kernels on IPC (``repro.core.kernels``): a line per stage with its elapsed time while a notebook
runs, nothing added to the notebook, and no "Kernel is running over TCP without encryption"."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import nbformat
import pytest
import torch

from repro.core import livelog
from repro.core.config import RunConfig
from repro.core.runtime import make_accelerator
from repro.core.train import fit


def test_emit_is_a_no_op_outside_the_runner(tmp_path, monkeypatch):
    monkeypatch.delenv(livelog.ENV, raising=False)
    livelog.emit("nobody listens")
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(livelog.ENV, str(tmp_path / "live.jsonl"))
    livelog.emit("stage one")
    livelog.emit("epoch 1/2", kind="tick")
    events = [json.loads(line) for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["message"]) for e in events] == [("log", "stage one"), ("tick", "epoch 1/2")]


def write_events(path, events):
    with open(path, "a") as fh:
        for t, kind, message in events:
            fh.write(json.dumps({"t": t, "kind": kind, "message": message}) + "\n")


def test_follow_shows_every_log_line_and_throttles_ticks(tmp_path):
    path, shown = tmp_path / "live.jsonl", []
    with livelog.follow(path, shown.append, tick_every=10, poll=0.05):
        now = time.time()
        write_events(path, [(now + 1, "tick", "epoch 1"), (now + 2, "log", "stage a"), (now + 3, "tick", "epoch 2")])
        write_events(path, [(now + 13, "tick", "epoch 3"), (now + 14, "log", "stage b")])
        with open(path, "a") as fh:
            fh.write('{"t": 1, "kind": "log", "mess')  # a line still being written is not read yet
        time.sleep(0.3)
    messages = [line.split("] ", 1)[1] for line in shown]
    assert messages == ["stage a", "epoch 3", "stage b"]  # epoch 1 too soon after the start, epoch 2 after stage a
    assert shown[0].startswith("[") and " s] " in shown[0]  # the elapsed time leads each line


def test_fit_sends_a_tick_per_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv(livelog.ENV, str(tmp_path / "live.jsonl"))
    accelerator = make_accelerator(RunConfig(device="cpu", threads=1))
    x, y = torch.randn(16, 3), torch.randn(16)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    def loss_fn(m, batch):
        return torch.nn.functional.mse_loss(m(batch[0]).squeeze(-1), batch[1])

    fit(model, loss_fn, loader, optimizer, epochs=3, accelerator=accelerator, desc="toy")
    events = [json.loads(line) for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events] == ["tick"] * 3
    assert [e["message"].split(",")[0] for e in events] == ["toy: epoch 1/3", "toy: epoch 2/3", "toy: epoch 3/3"]


NOTEBOOK_CELL = """import time
from repro.core import livelog
for i in range(3):
    livelog.emit(f"stage {i}")
    print("inside the notebook", i)
    time.sleep(0.3)
"""

RUN = """import sys
from pathlib import Path
from repro.core.runner import execute
execute(Path(sys.argv[1]), Path(sys.argv[2]), {"profile": "smoke"})
"""

PLAIN_PAPERMILL = """import sys, papermill
papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name="python3", progress_bar=False)
"""


@pytest.fixture
def notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(NOTEBOOK_CELL),
    ]
    path = tmp_path / "nb" / "live.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    return path


def run_script(script, notebook, output, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != livelog.ENV}
    cmd = [sys.executable, "-c", script, str(notebook), str(output)]
    return subprocess.run(cmd, env=env, timeout=180, **kwargs)


@pytest.mark.slow
def test_runner_prints_live_lines_and_its_kernel_uses_ipc(notebook, tmp_path):
    # the capture sees the warning when papermill's default (TCP) kernel prints it (unless the venv's
    # kernels drop it: ./run_all.sh installs repro.core.kernels' quiet config when it makes the venv)
    plain = run_script(PLAIN_PAPERMILL, notebook, tmp_path / "plain.ipynb", capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    quiet = (Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py").exists()
    assert ("without encryption" in plain.stderr) is not quiet

    run = run_script(RUN, notebook, tmp_path / "out.ipynb", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "without encryption" not in run.stdout + run.stderr
    lines = [line.strip() for line in run.stdout.splitlines() if "] stage " in line]
    assert [line.split("] ", 1)[1] for line in lines] == ["stage 0", "stage 1", "stage 2"]
    elapsed = [float(line[1:].split(" s]")[0]) for line in lines]
    assert elapsed == sorted(elapsed) and elapsed[-1] - elapsed[0] >= 0.5
    # the notebook keeps its own outputs and nothing else
    cell = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1]
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert "inside the notebook 2" in text and "stage" not in text
    assert sorted(p.name for p in notebook.parent.iterdir()) == ["live.ipynb"], "no IPC socket left beside it"


@pytest.mark.slow
def test_on_a_terminal_the_runner_shows_a_bar_and_the_same_lines(notebook, tmp_path):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a pty starts 0 wide
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, str(notebook), str(tmp_path / "out.ipynb")],
        stdout=follower,
        stderr=follower,
        env={k: v for k, v in os.environ.items() if k != livelog.ENV},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=180) == 0
    os.close(leader)
    screen = b"".join(chunks).decode(errors="replace")
    assert "Executing" in screen and "%|" in screen, "papermill's tqdm bar over the cells"
    assert "] stage 2" in screen
    assert "without encryption" not in screen
