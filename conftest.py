"""Test-session set-up shared by the unit tests and nbval.

Every test run writes under a temporary runs folder (never the repository's ``runs/``), with
progress bars off, offline hubs, and two threads. nbval compares only the cells marked
``# NBVAL_CHECK_OUTPUT``; stderr (warnings, progress) is kept out of the comparison.
"""

import atexit
import os
import shutil
import tempfile

if "REPRO_RUNS_DIR" not in os.environ:
    os.environ["REPRO_RUNS_DIR"] = tempfile.mkdtemp(prefix="repro-test-runs-")
    atexit.register(shutil.rmtree, os.environ["REPRO_RUNS_DIR"], ignore_errors=True)
os.environ["REPRO_PROGRESS"] = "0"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr", "text/html", "image/png", "application/pdf")


def pytest_runtest_setup(item):
    """Each test module starts without accelerate's process-wide state: a test that builds a TRL
    trainer sets it to bf16, and every later ``Accelerator(mixed_precision="no")`` would then refuse."""
    module = getattr(item, "module", None) or item.fspath  # nbval's cells have no module
    if module is not getattr(pytest_runtest_setup, "_module", None):
        pytest_runtest_setup._module = module
        import sys

        if "accelerate.state" in sys.modules:
            sys.modules["accelerate.state"].AcceleratorState._reset_state(reset_partial_state=True)
