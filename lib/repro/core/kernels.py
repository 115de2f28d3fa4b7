"""The kernel manager for the notebooks the kit executes itself (``./run_all.sh`` and the refresh command).

Those kernels run on this machine, so they talk to papermill over IPC sockets (files in Jupyter's
runtime folder) rather than TCP ports. Over TCP, ipykernel warns on every start that "Kernel is
running over TCP without encryption", and rightly: any local user could reach an unencrypted port.
JupyterLab and nbval start their own kernels with their own settings; for those, and for ``papermill``
run by hand, :func:`install_quiet_kernel_config` drops that one warning in the venv's kernels
(``./run_all.sh`` installs it when it creates the venv).
"""

from __future__ import annotations

from pathlib import Path

from jupyter_client import AsyncKernelManager
from traitlets import default


class LocalKernelManager(AsyncKernelManager):
    """nbclient's default kernel manager, with IPC transport."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"


# For kernels the kit does not start: ``papermill`` run by hand, JupyterLab. Their kernel managers
# use loopback TCP, and ipykernel then warns on every start. What it warns about is real on a shared
# machine (another local user can subscribe to the output port; running code needs the key in a
# connection file only the user can read) and nothing to act on on one's own machine. So the kit's
# venv gets it (./run_all.sh, when it installs the venv): it drops that one message and keeps every
# other warning, and only in this venv's kernels.
QUIET_KERNEL_CONFIG = """\
# Installed by repro.core.kernels.install_quiet_kernel_config: drops ipykernel's "Kernel is running
# over TCP without encryption" (loopback, signed messages); every other kernel warning stays.
import logging

logging.getLogger("IPKernelApp").addFilter(lambda record: "without encryption" not in record.getMessage())
"""


def install_quiet_kernel_config(folder: Path) -> Path | None:
    """Write ``<folder>/ipython_kernel_config.py`` with :data:`QUIET_KERNEL_CONFIG`; IPython reads
    it from ``<venv>/etc/ipython`` (or ``$IPYTHONDIR/profile_default``) in every kernel it starts.
    A config file of the user's own is left alone (``None``)."""
    path = Path(folder) / "ipython_kernel_config.py"
    if path.exists() and path.read_text() != QUIET_KERNEL_CONFIG:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(QUIET_KERNEL_CONFIG)
    return path
