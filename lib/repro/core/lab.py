"""``./run_all.sh lab``: JupyterLab from the kit's venv on localhost, with the notebooks folder open.

The notebooks' kernelspec ``python3`` resolves to this venv's Python (ipykernel installs that
kernelspec inside the venv, and jupyter looks there first).
"""

from __future__ import annotations

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
    port = free_port()
    token = os.environ.get("REPRO_LAB_TOKEN") or secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={REPO_ROOT}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.default_url=/lab/tree/notebooks",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    print(f"JupyterLab: http://127.0.0.1:{port}/lab/tree/notebooks?token={token}", flush=True)
    os.execv(sys.executable, args + argv)


if __name__ == "__main__":
    main(sys.argv[1:])
