"""Progress lines from inside a notebook's kernel to the runner that executes it.

A kernel's printed output goes into the notebook, which the runner sees only when the notebook is
done; a long training notebook would leave ``./run_all.sh`` silent for minutes. So the runner names a
file in ``$REPRO_LIVE_LOG`` before it starts the kernel, and the kit's progress points (each step's
``ctx.log``, each epoch of ``repro.core.train.fit``) append a line to it with :func:`emit`; the runner
follows the file (:func:`follow`) and prints each line with the notebook's elapsed time. The
notebook's own outputs do not change. Without the variable (JupyterLab, nbval, tests) ``emit`` does
nothing.

Two kinds of line: ``log`` lines (a step's stages) are always printed; ``tick`` lines (epochs) are
printed when at least ``tick_every`` seconds passed since the last printed line, so a CI log shows
a sign of life every few seconds without a line per epoch of every one of dozens of short runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "REPRO_LIVE_LOG"


def emit(message: str, kind: str = "log") -> None:
    """Append one line for the runner (a no-op unless ``$REPRO_LIVE_LOG`` names a file)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"t": time.time(), "kind": kind, "message": message})
    with open(path, "a", encoding="utf-8") as fh:  # one short append: whole lines, no interleaving
        fh.write(line + "\n")


@contextmanager
def follow(path: Path, show: Callable[[str], None], tick_every: float = 10.0, poll: float = 0.25) -> Iterator[None]:
    """While the block runs, pass each new line of ``path`` to ``show`` as ``[elapsed s] message``
    (elapsed since the block began; ``tick`` lines throttled to one per ``tick_every`` seconds)."""
    path = Path(path)
    path.write_text("")
    started, stop = time.time(), threading.Event()
    state = {"offset": 0, "last": started}

    def drain() -> None:
        with open(path, encoding="utf-8") as fh:
            fh.seek(state["offset"])
            while (line := fh.readline()).endswith("\n"):
                state["offset"] = fh.tell()
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                now = event["t"]
                if event["kind"] == "tick" and now - state["last"] < tick_every:
                    continue
                state["last"] = now
                show(f"[{now - started:7.1f} s] {event['message']}")

    def loop() -> None:
        while not stop.wait(poll):
            drain()

    thread = threading.Thread(target=loop, name="repro-livelog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        drain()
