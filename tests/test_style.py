"""Style that CI enforces: ``ruff check`` and ``ruff format --check`` with the configuration in
pyproject.toml, over every Python file and notebook of the kit (``.pre-commit-config.yaml`` runs the
same before a commit). Fix with ``.venv/bin/ruff check --fix PATH`` and ``.venv/bin/ruff format PATH``.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCOPE = ("lib", "tests", "notebooks", "conftest.py")  # ruff reads .ipynb cells as well


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *SCOPE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_ruff_is_installed_from_the_lock():
    pinned = next(
        line.partition("==")[2]
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.startswith("ruff==")
    )
    version = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True)
    assert version.returncode == 0, f"ruff is not installed in this environment (pip install ruff=={pinned})"
    assert version.stdout.split()[-1] == pinned, f"{version.stdout.strip()}, the lock pins {pinned}"


@pytest.mark.parametrize("command", [("check", "--output-format", "concise"), ("format", "--check")])
def test_ruff_is_clean(command):
    result = ruff(*command)
    assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


def test_pre_commit_runs_the_same_checks_with_the_venvs_ruff():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"]), "local hooks only: they work offline"
    entries = {hook["entry"].split(" --")[0] for hook in hooks}
    assert entries == {".venv/bin/ruff check", ".venv/bin/ruff format"}
    assert any("--check" in hook["entry"] for hook in hooks if "format" in hook["entry"])
    assert all("jupyter" in hook["types_or"] for hook in hooks), "notebooks are checked too"
