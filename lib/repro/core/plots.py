"""One figure style for the whole kit, saved as PNG and PDF. Introduced in ``05_figures.ipynb``."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from .steps import atomic_path

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "axes.prop_cycle": matplotlib.cycler(color=plt.get_cmap("tab10").colors),
}


def use_style() -> None:
    plt.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.6, **kwargs):
    """A figure of ``nrows x ncols`` panels of ``width x height`` inches each, in the kit's style."""
    use_style()
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)


def save(fig, folder: Path, name: str, close: bool = True) -> list[Path]:
    """Write ``<name>.png`` and ``<name>.pdf`` atomically; return their paths.

    The figure is closed afterwards unless ``close=False``: a notebook shows the saved PNG, and an
    open figure would be drawn a second time by the inline backend at the end of the cell."""
    paths = []
    for ext in ("png", "pdf"):
        path = Path(folder) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext)
        paths.append(path)
    if close:
        plt.close(fig)
    return paths
