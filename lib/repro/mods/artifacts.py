"""The file names of MODS's step outputs and their loaders (what the steps, the figures and the
notebooks read back). Each step writes under ``runs/<profile>/mods/<step>/``:

* data: ``<set>_<split>.npz`` (model-ready tensors; sets ``varying``, ``language`` or ``real``) and
  ``sweep_noise<s>.npz`` (the test set at each acoustic/visual noise level)
* train: ``models/<arm file>_seed<s>.safetensors`` (+ JSON spec), ``history.json``, ``budget.json``
* evaluate: ``scores.npz`` (``repro.core.scores``), ``selector_weights.npz``, ``sweep.json``, ``claims.json``
"""

from __future__ import annotations

from pathlib import Path

import torch

from repro.core.weights import load_config, load_weights
from repro.mods import data as mdata
from repro.mods.method import build_model
from repro.mods.models import ModelSpec


def main_set(data_source: str) -> str:
    """The set the claims are measured on: the generator's varying-dominance set, or the real data."""
    return "varying" if data_source == "synthetic" else "real"


def model_file(key: str, seed: int) -> str:
    return f"models/{key.replace('@', '_at_')}_seed{seed}"


def load_model(path: Path) -> torch.nn.Module:
    spec = load_config(path)
    spec["dims"] = tuple(spec["dims"])
    return load_weights(build_model(ModelSpec(**spec)), path).eval()


def load_set(folder: Path, name: str, split: str) -> dict[str, torch.Tensor]:
    return mdata.load_tensors(Path(folder) / f"{name}_{split}.npz")
