"""Seeding, determinism, threads, the Accelerator from the profile, and a device summary.

Set ``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE`` before transformers, diffusers or datasets are
imported anywhere in the kit: nothing here may reach a hub. Introduced in ``02_model.ipynb``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import platform
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from accelerate import Accelerator

    from .config import RunConfig


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def configure(cfg: RunConfig) -> None:
    """Thread count, and deterministic kernels on GPU (warn-only: some CUDA ops have no deterministic
    variant). CPU kernels are deterministic for a fixed thread count already, and forcing the
    deterministic mode there made small convolutions 5x slower (measured on 2 cores)."""
    torch.set_num_threads(cfg.threads)
    if cfg.device != "cpu" and torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def make_accelerator(cfg: RunConfig) -> Accelerator:
    """The Accelerator a profile asks for.

    ``split_batches=True``: the profile's batch size is the global batch, so one process and
    several processes see the same batches and take the same optimizer steps.
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    configure(cfg)
    cpu = cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"profile {cfg.profile!r} asks for CUDA but no GPU is visible; use the 'cpu' profile")
    mixed = cfg.mixed_precision if not cpu else "no"
    return Accelerator(
        cpu=cpu,
        mixed_precision=mixed,
        dataloader_config=DataLoaderConfiguration(split_batches=True),
    )


def device_summary() -> dict[str, Any]:
    """What the run ran on, for ``step.json`` and the report."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


# The kit's only CUDA-specific calls live here, so every other module runs unchanged on CPU.


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work before reading a clock (a no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def rng_devices(*tensors: torch.Tensor) -> list[torch.device]:
    """The GPU devices whose random state ``torch.random.fork_rng`` must fork for these tensors."""
    return sorted({t.device for t in tensors if t.device.type == "cuda"}, key=str)


def peak_gpu_mb() -> float | None:
    """Peak GPU memory allocated by this process in MiB (``None`` without a GPU)."""
    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


def gpu_name() -> str | None:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


_WORKER_CPU = [0.0]  # CPU seconds of the jobs this process handed to worker processes


def add_worker_cpu(seconds: float) -> None:
    """Count CPU seconds that jobs handed out by this process spent in other processes (loky, GPU
    workers, Dask); :func:`cpu_seconds` adds them to this process's own time."""
    _WORKER_CPU[0] += seconds


def cpu_seconds() -> float:
    """CPU seconds spent so far by this process (every thread) and by the jobs it handed to workers (a
    worker runs one job at a time, so its process time over a job is that job's). On shared cores wall
    time says little about the budget on quiet ones; CPU time of one-thread work moves much less with
    the load. (Not ``RUSAGE_CHILDREN``: loky's reused workers are reaped at random later times and would
    be counted twice.)"""
    import time

    return time.process_time() + _WORKER_CPU[0]
