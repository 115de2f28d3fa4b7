"""Weights as safetensors plus a JSON config beside them (never pickles)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from .steps import atomic_path


def save_weights(model: nn.Module, path: Path, config: dict[str, Any]) -> None:
    """``<path>.safetensors`` with the state dict and ``<path>.json`` with what rebuilds the model."""
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(state, str(tmp))
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n")


def load_config(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).with_suffix(".json").read_text())


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load ``<path>.safetensors`` into ``model`` strictly (shapes and names must match)."""
    model.load_state_dict(load_file(str(Path(path).with_suffix(".safetensors"))), strict=True)
    return model
