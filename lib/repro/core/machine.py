"""Where a run was made: the facts that decide whether its numbers can be reproduced to the bit.

The same code and seeds give different floats on another CPU: torch picks its kernels by the vector
extension it finds (``AVX512``, ``AVX2``, ``DEFAULT``; ``ATEN_CPU_CAPABILITY`` forces a lower one) and
splits reductions by the thread count, so training trajectories move as a new seed draw would.
:func:`facts` records those facts in ``claims.json`` (``run["machine"]``) so that a rerun can be
judged against the golden (:mod:`repro.core.compare`): identical facts should give identical numbers;
other facts give numbers that move, and verdicts that should hold.

Everything here reads files and torch's own state: no subprocess, nothing that can hang; the facts
that cannot change in a process are read once.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from pathlib import Path
from typing import Any

from .steps import REPO_ROOT, read_meta

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY")
# The facts that change the numbers a run computes (the rest describe it).
NUMERIC_FACTS = ("cpu_capability", "torch", "torch_threads", "blas", "gpu", "cuda")


def facts() -> dict[str, Any]:
    """What this process runs on, as JSON-ready values: CPU model and core counts, the vector
    extension torch's kernels use, torch's version and build (BLAS), thread counts and the variables
    that set them, GPU and driver where there is one, the checkout's commit, Python."""
    import torch

    return {
        **_static_facts(),
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "env": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
    }


@functools.cache
def _static_facts() -> dict[str, Any]:
    import torch

    from .runtime import device_summary  # the kit's one door to CUDA

    gpus = device_summary().get("gpus")
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "torch_commit": (torch.version.git_version or "")[:12] or None,
        "blas": _build_setting(torch.__config__.show(), "BLAS_INFO"),
        "cuda": torch.version.cuda,
        "gpu": gpus,
        "gpu_driver": nvidia_driver() if gpus else None,
        "commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def cpu_model() -> str:
    """``model name`` from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version from ``/proc/driver/nvidia/version`` (Linux), if present."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", text)
    return found.group(1) if found else text.splitlines()[0].strip()


def _build_setting(config: str, name: str) -> str | None:
    found = re.search(rf"{name}=([^,\s]+)", config)
    return found.group(1) if found else None


def git_commit(root: Path = REPO_ROOT) -> str | None:
    """The checked-out commit, read from ``.git`` (a folder, or a worktree's ``gitdir:`` file) without
    running git; ``None`` outside a checkout (an unpacked archive, an installed wheel)."""
    git = root / ".git"
    try:
        if git.is_file():
            git = (root / git.read_text().split("gitdir:", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = git / "commondir"
        bases = [git] + ([(git / common.read_text().strip()).resolve()] if common.is_file() else [])
        for base in bases:
            if (base / ref).is_file():
                return (base / ref).read_text().strip()
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(f" {ref}"):
                        return line.split()[0]
    except (OSError, IndexError):
        pass
    return None


def describe(machine: dict[str, Any] | None) -> str:
    """One line for a report: ``AMD EPYC (AVX512), torch 2.13.0+cpu/mkl, 2 threads, no GPU, commit 39fc537``."""
    if not machine:
        return "not recorded"
    gpu = ", ".join(machine.get("gpu") or []) or "no GPU"
    if machine.get("gpu_driver"):
        gpu += f" (driver {machine['gpu_driver']})"
    env = "".join(f", {k}={v}" for k, v in (machine.get("env") or {}).items())
    commit = str(machine.get("commit") or "-")[:7]
    threads = machine.get("torch_threads", "?")
    threads = f"{threads} thread{'' if threads == 1 else 's'}"
    return (
        f"{machine.get('cpu_model', '?')} ({machine.get('cpu_capability', '?')}), "
        f"torch {machine.get('torch', '?')}/{machine.get('blas') or '?'}, {threads}, {gpu}{env}, commit {commit}"
    )


def numeric_differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """The facts that change computed numbers and differ between two machines (``[]`` when either is
    unknown)."""
    if not a or not b:
        return []
    keys = [k for k in NUMERIC_FACTS if a.get(k) != b.get(k)]
    if (a.get("env") or {}).get("ATEN_CPU_CAPABILITY") != (b.get("env") or {}).get("ATEN_CPU_CAPABILITY"):
        keys.append("ATEN_CPU_CAPABILITY")
    return keys


def step_times(run_dir: Path, paper: str, key: str = "wall_s") -> dict[str, float]:
    """``{step: seconds}`` from each step's ``step.json`` under ``<run_dir>/<paper>/`` (the steps that
    finished; the evaluate step that is writing claims.json has none yet): wall seconds, or with
    ``key="cpu_s"`` CPU seconds (steps recorded before the kit kept them are left out)."""
    from . import papers

    times = {}
    for step in papers.STEPS:
        meta = read_meta(Path(run_dir) / paper / step / "step.json")
        if meta and isinstance(meta.get(key), (int, float)):
            times[step] = float(meta[key])
    return times
