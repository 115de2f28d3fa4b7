"""The kernel manager for the notebooks the kit executes itself (``./run_all.sh`` and the refresh command).

Those kernels run on this machine, so they talk to papermill over IPC sockets (files in Jupyter's
runtime folder) rather than TCP ports. Over TCP, ipykernel warns on every start that "Kernel is
running over TCP without encryption", and rightly: any local user could reach an unencrypted port.
JupyterLab and nbval start their own kernels with their own settings.
"""

from __future__ import annotations

from jupyter_client import AsyncKernelManager
from traitlets import default


class LocalKernelManager(AsyncKernelManager):
    """nbclient's default kernel manager, with IPC transport."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"
