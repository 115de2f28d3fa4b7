"""Client partitions of real data, and the real-format loaders. Introduced in
``notebooks/dflmoe/01_data.ipynb``.

* sklearn digits (1797 x 64, real) split over clients by Dirichlet label skew: for each class, the
  share of each client is drawn from Dir(alpha) (alpha 0.1: most clients see two or three digits;
  alpha 100: near IID). Each client's share is split into its own test (20%), validation (10%) and
  train set, so a client is scored on its own label mix (the gates on its validation set).
* sklearn breast cancer (569 x 30, real, medical) with feature skew: samples go to clients at
  random (labels stay near IID), and each client sees its features through its own site transform
  ``x * exp(s) + b`` with ``s, b ~ N(0, feature_shift)`` per feature (as if each hospital's
  measurement pipeline were calibrated differently; reconstruction: the paper names no mechanism).
* Real formats for the ``paper`` profile: class-per-folder images (BreaKHis layout; patient ids
  parsed from BreaKHis file names become the client groups) and a CSV of features plus a label
  column (UCI WDBC, the source of sklearn's breast cancer). Files are reached through the
  manifests' hash checks (``repro.core.data.verified_path``).

A :class:`Task` holds flat float32 features (images flattened; ``image_shape`` says how to fold them
back for a CNN body) and int64 labels per client. On disk it is a ``datasets.DatasetDict`` (``train``,
``val``, ``test``; one row per example with its ``client``) with typed features (:func:`task_features`: the
image as an ``Array3D`` or the feature vector, the label a ``ClassLabel``): the miniature's tasks and
the real formats' are saved and read back through the same :func:`save_task` / :func:`load_task`.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import (
    Array3D,
    ClassLabel,
    Dataset,
    DatasetDict,
    Features,
    Sequence,
    Value,
)

from repro.core import tables
from repro.core.data import Manifest, data_root, load_manifest, verified_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# SOB_B_A-14-22549AB-40-001.png: biopsy, benign/malignant, tumour type, patient, magnification, index
BREAKHIS_NAME = re.compile(r"^SOB_([BM])_([A-Z]+)-(\d+-[0-9A-Z]+)-(\d+)-(\d+)$")
PARTS = ("train", "val", "test")
SPLIT_KEYS = tuple(f"{xy}_{part}" for part in PARTS for xy in "xy")
VAL_FRACTION = 0.1  # of each client's share, cut from its training part: what the gates are measured on


@dataclass
class Task:
    """One federated data set: per-client train/validation/test arrays."""

    name: str
    clients: list[dict[str, np.ndarray]]
    n_classes: int
    image_shape: tuple[int, ...] | None = None  # (C, H, W) when the features are flattened images

    @property
    def in_dim(self) -> int:
        return int(self.clients[0]["x_train"].shape[1])

    def sizes(self, part: str = "train") -> np.ndarray:
        return np.array([len(c[f"y_{part}"]) for c in self.clients])

    def label_counts(self, part: str = "train") -> np.ndarray:
        """(n_clients, n_classes) label histogram (the heatmap in 01_data)."""
        return np.stack([np.bincount(c[f"y_{part}"], minlength=self.n_classes) for c in self.clients])


# ----------------------------------------------------------------------------------------------
# partitions


def dirichlet_partition(
    y: np.ndarray, n_clients: int, alpha: float, rng: np.random.Generator, min_size: int = 25
) -> list[np.ndarray]:
    """Indices per client: each class is spread over clients with proportions ~ Dir(alpha); the draw
    is repeated until every client holds at least ``min_size`` samples (the usual FL recipe)."""
    classes = np.unique(y)
    if len(y) < n_clients * min_size:
        raise ValueError(f"{len(y)} samples cannot give {n_clients} clients {min_size} each")
    for _attempt in range(1000):
        parts: list[list[int]] = [[] for _ in range(n_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(n_clients, alpha))) * len(idx)).astype(int)[:-1]
            for client, chunk in enumerate(np.split(idx, cuts)):
                parts[client] += chunk.tolist()
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.array(p, dtype=np.int64)) for p in parts]
    raise ValueError(f"no Dirichlet({alpha}) draw gave every client {min_size} samples in 1000 tries")


def group_partition(groups: np.ndarray, n_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Whole groups (patients) per client, so a client is a site with its own patients."""
    names = rng.permutation(np.unique(groups))
    if len(names) < n_clients:
        raise ValueError(f"{len(names)} groups cannot be spread over {n_clients} clients")
    owner = {g: i % n_clients for i, g in enumerate(names)}
    assignment = np.array([owner[g] for g in groups])
    return [np.flatnonzero(assignment == c) for c in range(n_clients)]


def split_clients(
    x: np.ndarray, y: np.ndarray, parts: list[np.ndarray], test_fraction: float, rng: np.random.Generator
) -> list[dict[str, np.ndarray]]:
    """Each client's indices shuffled and cut into its own test set (at least one sample), then a
    validation set (``VAL_FRACTION`` of the share, at least one sample) from what is left, and the
    rest for training. The test cut comes first, so the test sets do not depend on the validation's."""
    clients = []
    for idx in parts:
        idx = rng.permutation(idx)
        n_test = max(1, int(round(test_fraction * len(idx))))
        n_val = max(1, int(round(VAL_FRACTION * len(idx))))
        test, val, train = idx[:n_test], idx[n_test : n_test + n_val], idx[n_test + n_val :]
        clients.append(
            {f"{xy}_{part}": (x if xy == "x" else y)[i] for part, i in zip(PARTS, (train, val, test)) for xy in "xy"}
        )
    return clients


def site_transform(clients: list[dict[str, np.ndarray]], shift: float, rng: np.random.Generator) -> None:
    """Feature skew in place: client c sees ``x * exp(s_c) + b_c`` (per feature, s, b ~ N(0, shift))."""
    dim = clients[0]["x_train"].shape[1]
    for client in clients:
        scale, offset = np.exp(rng.normal(0, shift, dim)), rng.normal(0, shift, dim)
        for part in PARTS:
            client[f"x_{part}"] = (client[f"x_{part}"] * scale + offset).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# the miniature's tasks (sklearn's bundled real data)


def digits_task(alpha: float, n_clients: int, test_fraction: float, seed: int, min_size: int = 25) -> Task:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    rng = np.random.default_rng([seed, int(alpha * 1000)])
    parts = dirichlet_partition(y, n_clients, alpha, rng, min_size)
    name = f"digits-a{alpha:g}"
    return Task(name, split_clients(x, y, parts, test_fraction, rng), 10, (1, 8, 8))


def breast_cancer_task(n_clients: int, test_fraction: float, shift: float, seed: int) -> Task:
    """Standardised with the pooled training statistics, then each client's site transform."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    rng = np.random.default_rng([seed, 569])
    parts = np.array_split(rng.permutation(len(data.target)), n_clients)
    clients = split_clients(data.data.astype(np.float32), data.target.astype(np.int64), parts, test_fraction, rng)
    train = np.concatenate([c["x_train"] for c in clients])
    mean, std = train.mean(0), train.std(0) + 1e-8
    for c in clients:
        for part in PARTS:
            c[f"x_{part}"] = (c[f"x_{part}"] - mean) / std
    site_transform(clients, shift, rng)
    return Task("breast_cancer", clients, 2)


# ----------------------------------------------------------------------------------------------
# real formats


def read_image_folder(root: Path, image_size: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Class-per-folder images (BreaKHis: ``benign/``, ``malignant/``, with any nesting below).

    Returns grey images resized to ``image_size`` and flattened to [0, 1] floats, labels (classes in
    sorted folder order), the class names, and a group per image: the BreaKHis patient id when the
    file name follows BreaKHis' pattern, else the image's parent folder.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise ValueError(f"{root}: expected one sub-folder per class (at least two), found {classes}")
    images, labels, groups = [], [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{root / name}: class folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for path in files:
            try:
                with Image.open(path) as img:
                    grey = img.convert("L").resize((image_size, image_size), Image.BILINEAR)
            except (UnidentifiedImageError, OSError) as err:
                raise ValueError(f"{path}: not a readable image ({err})") from err
            images.append(np.asarray(grey, dtype=np.float32).reshape(-1) / 255.0)
            labels.append(label)
            match = BREAKHIS_NAME.match(path.stem)
            groups.append(match.group(3) if match else path.parent.name)
    return np.stack(images), np.array(labels, dtype=np.int64), classes, np.array(groups)


def read_feature_csv(
    path: Path,
    label_column: str = "label",
    drop_columns: tuple[str, ...] = (),
    names: list[str] | None = None,
    classes: tuple[str, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A CSV of numeric features and one label column (``names`` when the file has no header, as
    UCI's ``wdbc.data``). Labels are mapped to 0..K-1 in sorted order; returns x, y and the classes.
    With ``classes`` (a format's label set, e.g. WDBC's B/M) any other label is refused at its line,
    rather than becoming a class of its own."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, header=None if names else "infer", names=names)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from err
    if label_column not in frame.columns:
        raise ValueError(f"{path}: no label column {label_column!r}; columns: {list(frame.columns)[:12]}")
    features = frame.drop(columns=[label_column, *[c for c in drop_columns if c in frame.columns]])
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise ValueError(f"{path}: feature columns must be numeric; not numeric: {bad[:5]}")
    if features.isna().any().any() or frame[label_column].isna().any():
        raise ValueError(f"{path}: missing values in {features.columns[features.isna().any()].tolist()[:5]}")
    labels = frame[label_column].astype(str).str.strip()
    if classes is not None:
        unknown = ~labels.isin(classes)
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            line = row + (1 if names else 2)  # 1-based, after the header when the file has one
            raise ValueError(
                f"{path}, line {line}: label {labels.iloc[row]!r} in column {label_column!r} "
                f"is not one of {list(classes)}"
            )
    found = sorted(labels.unique().tolist())
    if len(found) < 2:
        raise ValueError(f"{path}: the label column holds one class only ({found})")
    kept = list(classes) if classes is not None else found
    y = labels.map({c: i for i, c in enumerate(kept)}).to_numpy(np.int64)
    return features.to_numpy(np.float32), y, kept


WDBC_COLUMNS = ["id", "diagnosis", *[f"f{i}" for i in range(30)]]
WDBC_CLASSES = ("B", "M")  # benign -> 0, malignant -> 1 (sorted, as before the label set was checked)


def breakhis_task(
    n_clients: int, test_fraction: float, image_size: int, seed: int, root: Path | None = None,
    manifest: Manifest | None = None,
) -> Task:  # fmt: skip
    """BreaKHis from its verified archive: extracted once under the data folder, benign vs
    malignant, clients are groups of patients."""
    manifest = manifest or load_manifest("breakhis")
    root = Path(root or data_root())
    archive = verified_path(manifest, manifest.files[0].path, root)
    target = root / "BreaKHis_v1"
    if not target.is_dir():
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")  # 'data' refuses links and paths outside the folder
    x, y, _classes, groups = read_image_folder(target / "histology_slides" / "breast", image_size)
    rng = np.random.default_rng([seed, 7])
    clients = split_clients(x, y, group_partition(groups, n_clients, rng), test_fraction, rng)
    return Task("breakhis", clients, 2, (1, image_size, image_size))


def wdbc_task(
    n_clients: int, test_fraction: float, shift: float, seed: int, root: Path | None = None,
    manifest: Manifest | None = None,
) -> Task:  # fmt: skip
    """UCI WDBC (``wdbc.data``, the CSV behind sklearn's breast cancer), partitioned as the miniature's
    (standardised, then each client's site transform)."""
    manifest = manifest or load_manifest("wdbc")
    path = verified_path(manifest, "wdbc.data", root)
    x, y, _ = read_feature_csv(path, "diagnosis", ("id",), WDBC_COLUMNS, WDBC_CLASSES)
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    rng = np.random.default_rng([seed, 569])
    clients = split_clients(x, y, np.array_split(rng.permutation(len(y)), n_clients), test_fraction, rng)
    site_transform(clients, shift, rng)
    return Task("wdbc", clients, 2)


# ----------------------------------------------------------------------------------------------
# saving


def task_features(n_classes: int, in_dim: int, image_shape: tuple[int, ...] | None) -> Features:
    """One example: its client, its features (a (C, H, W) image or a vector) and its label."""
    x = Array3D(shape=image_shape, dtype="float32") if image_shape else Sequence(Value("float32"), length=in_dim)
    return Features({"client": Value("int64"), "x": x, "label": ClassLabel(num_classes=n_classes)})


def to_dataset(task: Task) -> DatasetDict:
    """The task as ``train``, ``val`` and ``test`` rows, client by client (float32 features stored exactly)."""
    feats = task_features(task.n_classes, task.in_dim, task.image_shape)
    out = {}
    for part in PARTS:
        x = np.concatenate([c[f"x_{part}"] for c in task.clients]).astype(np.float32, copy=False)
        columns = {
            "client": np.concatenate([np.full(len(c[f"y_{part}"]), i) for i, c in enumerate(task.clients)]),
            "x": x.reshape(len(x), *task.image_shape) if task.image_shape else x,
            "label": np.concatenate([c[f"y_{part}"] for c in task.clients]),
        }
        out[part] = Dataset.from_dict(columns, features=feats)
    return DatasetDict(out)


def from_dataset(name: str, dataset: DatasetDict) -> Task:
    """The :class:`Task` a :func:`to_dataset` dict holds (images flattened again)."""
    feats = dataset["train"].features
    image_shape = tuple(feats["x"].shape) if isinstance(feats["x"], Array3D) else None
    missing = [part for part in PARTS if part not in dataset]
    if missing:
        raise ValueError(
            f"task {name}: no {missing} split (written before validation sets existed?): rerun the data step"
        )
    parts = {part: dataset[part].with_format("numpy")[:] for part in PARTS}
    n = 1 + max(int(p["client"].max(initial=-1)) for p in parts.values())
    clients = [{} for _ in range(n)]
    for part, rows in parts.items():
        x, y = rows["x"].reshape(len(rows["x"]), -1), rows["label"].astype(np.int64)
        for i, client in enumerate(clients):
            mine = rows["client"] == i
            client[f"x_{part}"], client[f"y_{part}"] = x[mine], y[mine]
    return Task(name, [{k: c[k] for k in SPLIT_KEYS} for c in clients], feats["label"].num_classes, image_shape)


def save_task(task: Task, path: Path) -> None:
    """``save_to_disk`` of :func:`to_dataset` (the folder's name is the task's)."""
    tables.save(to_dataset(task), path)


def load_task(path: Path) -> Task:
    """A task written by :func:`save_task`."""
    return from_dataset(Path(path).name, tables.load(path))
