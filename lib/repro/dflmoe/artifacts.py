"""dFLMoE's step outputs: their file names and loaders (what the later steps, the figures and the
notebooks read back). Nothing here computes a step; :mod:`repro.dflmoe.pipeline` does."""

from __future__ import annotations

from pathlib import Path

from repro.dflmoe.data import Task, load_task

MODELS = "models.json"  # model step: parameter counts and message sizes
RUNS = "runs.json"  # train step: runs[partition][arm] = one result per seed
SCORES = "scores.npz"  # evaluate step
CLAIMS = "claims.json"


def task_file(data_dir: Path, name: str, seed: int) -> Path:
    """A partition's ``DatasetDict`` folder (:func:`repro.dflmoe.data.save_task`)."""
    return Path(data_dir) / f"seed{seed}" / name


def load_tasks(data_dir: Path, seed: int) -> dict[str, Task]:
    """Every partition the data step wrote for ``seed``, by name (each seed has its own partition)."""
    folders = sorted(p.parent for p in (Path(data_dir) / f"seed{seed}").glob("*/dataset_dict.json"))
    return {p.name: load_task(p) for p in folders}
