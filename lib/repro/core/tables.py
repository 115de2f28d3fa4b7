"""Step outputs as Arrow tables: a ``datasets.Dataset`` or ``DatasetDict`` written with ``save_to_disk``
and memory-mapped back with ``load_from_disk``, the one way every paper's data step saves its examples.

:func:`save` keeps ``datasets``' progress bars off while it writes (a notebook would show them as
stderr boxes); :func:`load` says which step to run when the table is missing. (A step's folder is
built in a temporary place and renamed when the step completes, :mod:`repro.core.steps`, so an
interrupted write is never read back.)
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def progress_bars_off():
    """``datasets`` draws a bar per saved split; off inside the block, restored after it."""
    from datasets.utils import logging

    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()


def save(dataset, folder: Path) -> None:
    """``dataset.save_to_disk(folder)`` without progress bars."""
    with progress_bars_off():
        dataset.save_to_disk(str(folder))


def exists(folder: Path) -> bool:
    """A complete table (a ``Dataset`` or a ``DatasetDict``) is saved at ``folder``."""
    folder = Path(folder)
    return (folder / "dataset_dict.json").is_file() or (folder / "dataset_info.json").is_file()


def load(folder: Path, step: str = "data"):
    """The table saved at ``folder``; a clear error naming ``step`` when there is none."""
    from datasets import load_from_disk

    folder = Path(folder)
    if not exists(folder):
        raise FileNotFoundError(f"{folder}: no saved table; run the {step} step first")
    return load_from_disk(str(folder))
