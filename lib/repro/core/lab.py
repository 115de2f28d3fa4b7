"""``./run_all.sh lab``: JupyterLab from the kit's venv on localhost, with the notebooks folder open.

The notebooks' kernelspec ``python3`` resolves to this venv's Python (ipykernel installs that
kernelspec inside the venv, and jupyter looks there first).

    ./run_all.sh lab                 # first free port from 8888; prints the URL with its token
    ./run_all.sh lab --port 9000     # that port or an error; further arguments go to jupyter lab

The token is ``$REPRO_LAB_TOKEN`` when set (the browser test uses it), else a fresh random one.

The lab listens on loopback only, by design: a notebook server runs any code a browser sends it.
``--ip`` with another address is refused before anything starts; to use the lab from another
machine, forward the port over SSH (``ssh -L 8888:127.0.0.1:8888 <host>``) and open the printed URL.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import secrets
import socket
import sys
from pathlib import Path

from .steps import REPO_ROOT, absolute_env_paths

# JupyterLab's defaults overridden by the kit (overrides.json): no first-load question "Would you like
# to get notified about official Jupyter news?" (a user's own settings still win).
SETTINGS_DIR = Path(__file__).resolve().parent / "lab_settings"


def free_port(start: int = 8888) -> int:
    for port in range(start, start + 100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 8888-8987")


LOOPBACK_NAMES = ("localhost",)


def loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address in LOOPBACK_NAMES


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="./run_all.sh lab", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="loopback port (default: the first free one from 8888)")
    parser.add_argument("--ip", default="127.0.0.1", help="a loopback address only (see above)")
    opts, jupyter_args = parser.parse_known_args(argv)
    ips = [opts.ip] + [a.split("=", 1)[1] for a in jupyter_args if re.match(r"--(ServerApp|NotebookApp)\.ip=", a)]
    exposed = [ip for ip in ips if not loopback(ip)]
    if exposed:
        parser.error(
            f"--ip {exposed[0]}: the lab listens on loopback only (a notebook server runs any code it is sent). "
            "From another machine, forward the port instead: ssh -L 8888:127.0.0.1:8888 <this host>"
        )
    absolute_env_paths()  # each kernel runs in its notebook's folder: a relative runs folder would move
    port = opts.port or free_port()
    token = os.environ.get("REPRO_LAB_TOKEN") or secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ip={opts.ip}",
        f"--port={port}",
        "--ServerApp.port_retries=0",  # the printed URL is the one served, or the start fails
        f"--ServerApp.root_dir={REPO_ROOT}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.default_url=/lab/tree/notebooks",
        # the kit works offline: no news feed or update check from the internet
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        f"--LabApp.app_settings_dir={SETTINGS_DIR}",  # the kit's defaults: no "Jupyter news?" question
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    host = f"[{opts.ip}]" if ":" in opts.ip else opts.ip
    print(f"JupyterLab: http://{host}:{port}/lab/tree/notebooks?token={token}", flush=True)
    os.execv(sys.executable, args + jupyter_args)


if __name__ == "__main__":
    main(sys.argv[1:])
