"""The ten papers of the kit, and which of them are implemented in this checkout."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from .steps import LIB_ROOT, REPO_ROOT

# The ten papers' slugs: their package, notebook and docs folder names.
ALL_PAPERS = (
    "mgtil",
    "vbackchecker",
    "mods",
    "invert4tvg",
    "lingoloop",
    "dflmoe",
    "mmard",
    "videopure",
    "gfprune",
    "medaide",
)
STEPS = ("data", "model", "train", "evaluate", "figures")


def available() -> tuple[str, ...]:
    """Papers with a pipeline in ``lib/repro/<paper>`` and notebooks in ``notebooks/<paper>``."""
    return tuple(p for p in ALL_PAPERS if (LIB_ROOT / p / "pipeline.py").exists() and notebook_dir(p).is_dir())


def check(paper: str) -> str:
    if paper not in available():
        raise ValueError(f"unknown or not yet implemented paper {paper!r}; available: {', '.join(available())}")
    return paper


def package(paper: str) -> ModuleType:
    """``repro.<paper>``: exposes ``config(profile, overrides=...)``, ``PROFILES`` and ``pipeline``."""
    return importlib.import_module(f"repro.{check(paper)}")


def pipeline(paper: str):
    return importlib.import_module(f"repro.{check(paper)}.pipeline").pipe


def notebook_dir(paper: str) -> Path:
    return REPO_ROOT / "notebooks" / paper


def notebooks(paper: str) -> list[tuple[str, Path]]:
    """``(step, path)`` for ``NN_<step>.ipynb`` in order."""
    found = sorted(notebook_dir(paper).glob("[0-9][0-9]_*.ipynb"))
    return [(path.stem.split("_", 1)[1], path) for path in found]
