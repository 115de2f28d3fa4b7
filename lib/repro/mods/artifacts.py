"""The file names of MODS's step outputs and their loaders (what the steps, the figures and the
notebooks read back). Each step writes under ``runs/<profile>/mods/<step>/``:

* data: ``<set>/``, a ``datasets.DatasetDict`` saved with ``save_to_disk`` (model-ready examples,
  :func:`repro.mods.data.features`; sets ``varying``, ``language`` or ``real``, splits ``train``,
  ``valid``, ``test``), ``sweep/`` (the varying set's test split at each acoustic/visual noise
  level, splits ``noise<s>``), and the generator's sets in the MMSA pickle schema
  (``varying.pkl``, ``language.pkl``, ``sweep.pkl``) for readers
* train: ``models/<arm file>_seed<s>.safetensors`` (+ JSON spec), ``history.json``, ``budget.json``
* evaluate: ``scores.npz`` (``repro.core.scores``), ``selector_weights.npz``, ``sweep.json``, ``claims.json``
"""

from __future__ import annotations

from pathlib import Path

import torch
from datasets import DatasetDict

from repro.core import tables
from repro.core.arms import Arm
from repro.core.weights import load_config, load_weights
from repro.mods import data as mdata
from repro.mods.config import ModelSpec
from repro.mods.method import build_model


def main_set(data_source: str) -> str:
    """The set the claims are measured on: the generator's varying-dominance set, or the real data."""
    return "varying" if data_source == "synthetic" else "real"


def model_file(arm: Arm, seed: int) -> str:
    return f"models/{arm.file}_seed{seed}"


def load_model(path: Path) -> torch.nn.Module:
    spec = load_config(path)
    spec["dims"] = tuple(spec["dims"])
    return load_weights(build_model(ModelSpec(**spec)), path).eval()


SWEEP = "sweep"


def sweep_split(scale: float) -> str:
    return f"noise{scale:g}"


def save_set(dataset: DatasetDict, data_dir: Path, name: str) -> None:
    tables.save(dataset, Path(data_dir) / name)


def has_set(data_dir: Path, name: str) -> bool:
    return tables.exists(Path(data_dir) / name)


def load_set(data_dir: Path, name: str, split: str) -> dict[str, torch.Tensor]:
    """One split of a saved set as tensors (float32 sequences, boolean masks, labels, dominants)."""
    dataset = tables.load(Path(data_dir) / name)
    if split not in dataset:
        raise KeyError(f"set {name!r} has no split {split!r}; splits: {', '.join(dataset)}")
    return mdata.dataset_tensors(dataset[split])
