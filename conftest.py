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
