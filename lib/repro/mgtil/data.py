"""MGTIL's data as ``datasets`` tables: the procedural world, and the loaders of the two real formats.
Introduced in ``notebooks/mgtil/01_data.ipynb``.

Two tables, one schema each, shared by the miniature and by real data:

* a **caption database** (:func:`database_features`): ``image`` (3, S, S) uint8, ``caption``, and the
  ``domain`` / ``finding`` / ``size`` the generator knows (empty strings for real captions);
* a **task split** (:func:`task_features`): ``image`` (3, S, S) uint8 and an integer ``label``.

Real formats: a MedMNIST ``.npz`` (keys ``train_images``, ``train_labels``, ``val_*``, ``test_*``;
images (N, H, W) or (N, H, W, 3) uint8, integer labels (N, 1) in ``[0, n_classes)``) becomes task
splits; a PMC-OA / ROCO-style ``jsonl`` (one ``{"image": <relative path>, "caption": <text>}`` per
line) becomes the database. The loaders check the format and name the file (and the line of a
jsonl) in every error. :func:`released_world` (the ``paper`` profile's data step) reaches both
through their manifests (``repro.core.data.verified_path``: MedMNIST's published md5, the sha256 you
pin for PMC-OA's jsonl), so a missing or unpinned file stops with the manifest's instructions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from datasets import Array3D, Dataset, DatasetDict, Features, Value

from repro.core.data import load_manifest, verified_path
from repro.mgtil import world

MEDMNIST_SPLITS = {"train": "train", "val": "validation", "test": "test"}


def database_features(size: int) -> Features:
    return Features(
        {
            "image": Array3D((3, size, size), "uint8"),
            "caption": Value("string"),
            "domain": Value("string"),
            "finding": Value("string"),
            "size": Value("string"),
        }
    )


def task_features(size: int) -> Features:
    return Features({"image": Array3D((3, size, size), "uint8"), "label": Value("int64")})


def split_name(task: str, split: str, shifted: bool = True) -> str:
    """``<task>_<split>`` for the shifted stream, ``noshift_<task>_<split>`` for the control stream."""
    return f"{task}_{split}" if shifted else f"noshift_{task}_{split}"


def build_world(
    *,
    tasks: tuple[str, ...],
    image_size: int,
    database_size: int,
    attribute_rate: float,
    n_train: int,
    n_test: int,
    shift: float,
    n_val: int | None = None,
    control_shift: bool,
    seed: int,
) -> DatasetDict:
    """The database and every task's train / val / test split (``n_val`` defaults to ``n_test``: the
    validation split is drawn like the test split). The database comes from a generator seed
    disjoint from the tasks' (``seed`` vs ``seed + 10_000``), so retrieval can never return a test
    or validation image."""
    db = world.database(database_size, image_size, attribute_rate, seed)
    out = {"database": Dataset.from_dict(db, features=database_features(image_size))}
    shifts = [(True, shift)] + ([(False, 0.0)] if control_shift else [])
    for name in tasks:
        for shifted, s in shifts:
            for split, n in (("train", n_train), ("val", n_test if n_val is None else n_val), ("test", n_test)):
                data = world.task_split(world.TASKS[name], n, image_size, s, seed + 10_000, split)
                out[split_name(name, split, shifted)] = Dataset.from_dict(data, features=task_features(image_size))
    return DatasetDict(out)


def images(ds: Dataset) -> np.ndarray:
    """(N, 3, S, S) float32 in [0, 1]."""
    return np.asarray(ds.with_format("numpy")["image"], dtype=np.float32) / 255.0


# ----------------------------------------------------------------------------------------------
# real formats


class FormatError(ValueError):
    """A real-format file that does not follow its format (the message says what is wrong)."""


def _resize(batch: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W[, 3]) uint8 -> (N, 3, size, size) uint8 (bilinear; grey replicated to RGB)."""
    from PIL import Image

    if batch.shape[1:3] == (size, size):  # the file's own size: only the channels change
        return (np.repeat(batch[..., None], 3, -1) if batch.ndim == 3 else batch).transpose(0, 3, 1, 2)
    mode = "L" if batch.ndim == 3 else "RGB"
    out = np.stack([np.asarray(Image.fromarray(img, mode).convert("RGB").resize((size, size), 2)) for img in batch])
    return out.transpose(0, 3, 1, 2)


def load_medmnist(path: Path, size: int, n_classes: int | None = None) -> DatasetDict:
    """A MedMNIST ``.npz`` as task splits ``train`` / ``validation`` / ``test`` (labels flattened).
    Labels must be integers in ``[0, n_classes)`` (``n_classes``: the subset's, when given) and no
    split may be empty."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise FormatError(f"{path} is not a readable .npz file: {err}") from err
    with data:
        missing = [f"{s}_{k}" for s in MEDMNIST_SPLITS for k in ("images", "labels") if f"{s}_{k}" not in data.files]
        if missing:
            raise FormatError(f"{path}: MedMNIST file lacks keys {missing}; found {sorted(data.files)}")
        out = {}
        for prefix, split in MEDMNIST_SPLITS.items():
            x, y = data[f"{prefix}_images"], data[f"{prefix}_labels"]
            if x.dtype != np.uint8 or x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
                raise FormatError(
                    f"{path}: {prefix}_images must be uint8 (N, H, W) or (N, H, W, 3), got {x.dtype} {x.shape}"
                )
            if len(x) == 0:
                raise FormatError(f"{path}: {prefix}_images is empty")
            if len(y) != len(x) or y.reshape(len(y), -1).shape[1] != 1:
                raise FormatError(f"{path}: {prefix}_labels must be (N, 1) with N = {len(x)}, got {y.shape}")
            if not np.issubdtype(y.dtype, np.integer):
                raise FormatError(f"{path}: {prefix}_labels must be integers, got {y.dtype}")
            labels = y.reshape(-1).astype(np.int64)
            top = n_classes if n_classes is not None else np.iinfo(np.int64).max
            bad = np.flatnonzero((labels < 0) | (labels >= top))
            if len(bad):
                bound = f"[0, {n_classes})" if n_classes is not None else ">= 0"
                raise FormatError(f"{path}: {prefix}_labels[{bad[0]}] = {labels[bad[0]]}, labels must be {bound}")
            out[split] = Dataset.from_dict({"image": _resize(x, size), "label": labels}, features=task_features(size))
    return DatasetDict(out)


def load_caption_jsonl(path: Path, image_root: Path, size: int, rows: int | None = None, seed: int = 0) -> Dataset:
    """A PMC-OA / ROCO-style jsonl (``{"image": ..., "caption": ...}`` per line) as a database table;
    image paths are relative to ``image_root`` and may not leave it. ``rows``: read that many lines,
    drawn at random with ``seed`` (only their images are opened), instead of every line."""
    from PIL import Image, UnidentifiedImageError

    root = Path(image_root).resolve()
    lines = [(n, line) for n, line in enumerate(Path(path).read_text().splitlines(), 1) if line.strip()]
    if rows is not None and rows < len(lines):
        keep = np.sort(np.random.default_rng([seed, 17]).choice(len(lines), rows, replace=False))
        lines = [lines[i] for i in keep]
    captions, pictures = [], []
    for number, line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise FormatError(f"{path}:{number}: not a JSON object ({err.msg})") from err
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("image"), str)
            or not isinstance(row.get("caption"), str)
        ):
            raise FormatError(f"{path}:{number}: each line needs string fields 'image' and 'caption'")
        file = (root / row["image"]).resolve()
        if not file.is_relative_to(root) or not file.is_file():
            raise FormatError(f"{path}:{number}: image {row['image']!r} not found under {root}")
        if not row["caption"].strip():
            raise FormatError(f"{path}:{number}: the caption is empty")
        try:
            with Image.open(file) as img:
                pictures.append(np.asarray(img.convert("RGB").resize((size, size), 2)))
        except (UnidentifiedImageError, OSError) as err:  # OSError: a truncated or unreadable file
            raise FormatError(f"{path}:{number}: {row['image']!r} is not a readable image ({err})") from err
        captions.append(row["caption"].strip().lower())
    if not captions:
        raise FormatError(f"{path}: no captions")
    n = len(captions)
    table = {
        "image": np.stack(pictures).transpose(0, 3, 1, 2),
        "caption": captions,
        "domain": [""] * n,
        "finding": [""] * n,
        "size": [""] * n,
    }
    return Dataset.from_dict(table, features=database_features(size))


def released_world(
    *,
    tasks: tuple[str, ...],
    image_size: int,
    database_size: int,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    root: Path | None = None,
) -> DatasetDict:
    """The ``paper`` profile's data, in :func:`build_world`'s layout: ``database_size`` PMC-OA pairs
    and, per task, ``n_train`` / ``n_val`` / ``n_test`` images drawn from its MedMNIST file's train /
    val / test splits (every task the same count, so per-example means stay per-task means). Each
    file is reached through its manifest (``verified_path``): a missing, unpinned or corrupted file
    stops with the manifest's instructions before anything is read."""
    medmnist, pmc = load_manifest("medmnist"), load_manifest("pmc_oa")
    files = {t: verified_path(medmnist, f"medmnist/{world.TASKS[t].source}.npz", root) for t in tasks}
    jsonl = verified_path(pmc, pmc.files[0].path, root)
    out = {"database": load_caption_jsonl(jsonl, jsonl.parent, image_size, rows=database_size, seed=seed)}
    rng = np.random.default_rng([seed, 29])
    for task, path in files.items():
        splits = load_medmnist(path, image_size, len(world.TASKS[task].classes))
        for split, source, n in (("train", "train", n_train), ("val", "validation", n_val), ("test", "test", n_test)):
            if len(splits[source]) < n:
                raise FormatError(f"{path}: {source} holds {len(splits[source])} images, the profile draws {n}")
            out[split_name(task, split)] = splits[source].select(np.sort(rng.permutation(len(splits[source]))[:n]))
    return DatasetDict(out)
