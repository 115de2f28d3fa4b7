"""Weights as safetensors plus a JSON config beside them (never pickles)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from .steps import atomic_path, read_json


def _beside(path: Path, ext: str) -> Path:
    """``<path><ext>``: appended, not ``with_suffix``, so a name with a dot (``magnitude@0.05_seed0``)
    keeps all of itself and two such names cannot land on one file."""
    path = Path(path)
    return path.with_name(path.name + ext)


def save_weights(model: nn.Module, path: Path, config: dict[str, Any]) -> None:
    """``<path>.safetensors`` with the state dict and ``<path>.json`` with what rebuilds the model."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(_beside(path, ".safetensors")) as tmp:
        save_file(state, str(tmp))
    with atomic_path(_beside(path, ".json")) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n")


def load_config(path: Path) -> dict[str, Any]:
    """The JSON config saved beside the weights (a truncated file names itself in the error)."""
    return read_json(_beside(path, ".json"))


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load ``<path>.safetensors`` into ``model`` strictly (shapes and names must match)."""
    model.load_state_dict(load_file(str(_beside(path, ".safetensors"))), strict=True)
    return model
