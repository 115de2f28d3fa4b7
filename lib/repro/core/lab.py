"""``./run_all.sh lab``: JupyterLab from the kit's venv on localhost, with the notebooks folder open.

The notebooks' kernelspec ``python3`` resolves to this venv's Python (ipykernel installs that
kernelspec inside the venv, and jupyter looks there first).

    ./run_all.sh lab                 # first free port from 8888; prints the URL with its token
    ./run_all.sh lab --port 9000     # that port or an error; further arguments go to jupyter lab

The token is ``$REPRO_LAB_TOKEN`` when set (the browser test uses it), else a fresh random one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys

from .steps import REPO_ROOT


def free_port(start: int = 8888) -> int:
    for port in range(start, start + 100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 8888-8987")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="./run_all.sh lab", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="loopback port (default: the first free one from 8888)")
    opts, jupyter_args = parser.parse_known_args(argv)
    port = opts.port or free_port()
    token = os.environ.get("REPRO_LAB_TOKEN") or secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",  # the printed URL is the one served, or the start fails
        f"--ServerApp.root_dir={REPO_ROOT}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.default_url=/lab/tree/notebooks",
        # the kit works offline: no news feed or update check from the internet
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    print(f"JupyterLab: http://127.0.0.1:{port}/lab/tree/notebooks?token={token}", flush=True)
    os.execv(sys.executable, args + jupyter_args)


if __name__ == "__main__":
    main(sys.argv[1:])
