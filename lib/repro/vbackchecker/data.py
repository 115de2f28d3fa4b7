"""The R-Instruct training set, a gRefCOCO-style referring set and a mini R^2-HalBench, procedurally.

Every split is a table of *rows* (one description each) over a table of *scenes* (image and object
masks); both are ``datasets`` tables with typed features (:data:`SCENE_FEATURES`, :data:`ROW_FEATURES`)
in one ``DatasetDict`` saved with ``save_to_disk``. The real formats (:mod:`repro.vbackchecker.formats`)
load into the same features, so the miniature and real data share every later step.

* ``train`` / ``val`` (R-Instruct): per scene, grounded positives with their masks, hard negatives made
  by the *training* swap operators (each with its error type and reason), and easy no-target
  expressions (a description of an object of another random scene that matches nothing here: what a
  gRefCOCO-style grounder is trained to reject). Which rows an arm trains on is the arm's choice.
* ``bench`` (mini R^2-HalBench): fresh scenes captioned by simulated *describers* that differ in
  hallucination rate and caption length (rate and length are crossed, so length says nothing about
  the label); hallucinations use *every* operator, including the ones held out of training.
* ``refer`` (gRefCOCO-style): fresh scenes, one grounded expression and one no-target expression each.

Introduced in ``notebooks/vbackchecker/01_data.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.core.steps import write_json
from repro.vbackchecker import formats
from repro.vbackchecker.formats import decode_masks, encode_masks
from repro.vbackchecker.scenes import (
    ERROR_TYPES,
    OPERATORS,
    Desc,
    Obj,
    describe,
    hard_negative,
    matches,
    reason,
    render,
    sample_objects,
)

SPLITS = ("train", "val", "bench", "refer")


@dataclass(frozen=True)
class Describer:
    """A simulated captioning model: how often it hallucinates and how many relation clauses it writes."""

    name: str
    hallucination_rate: float
    clauses: int


DESCRIBERS = (
    Describer("terse-careful", 0.3, 1),
    Describer("terse-sloppy", 0.6, 1),
    Describer("verbose-careful", 0.3, 2),
    Describer("verbose-sloppy", 0.6, 2),
)


def scene_features(side: int):
    from datasets import Array3D, Features, Sequence, Value

    return Features(
        {
            "image_id": Value("int32"),
            "file_name": Value("string"),
            "image": Array3D(shape=(side, side, 3), dtype="uint8"),
            "masks": Sequence(Value("string")),  # one COCO RLE (pycocotools "counts") per object
            "objects": Sequence(Value("string")),
        }
    )


def row_features():
    from datasets import Features, Sequence, Value

    return Features(
        {
            "image_id": Value("int32"),
            "targets": Sequence(Value("int32")),  # object indices in the scene; empty: no target
            "sentence": Value("string"),
            "no_target": Value("bool"),
            "kind": Value("string"),  # positive | hard | easy
            "error_type": Value("string"),  # none | object | attribute | relation | unrelated
            "operator": Value("string"),  # the swap operator of a hard negative ("" otherwise)
            "reason": Value("string"),
            "model": Value("string"),  # the describer (bench), "" elsewhere
        }
    )


@dataclass
class Draft:
    """Scenes and rows of one split while they are generated (plain Python, then one table)."""

    scenes: list[dict]
    rows: list[dict]


def make_scene(image_id: int, side: int, noise: float, max_objects: int, rng: np.random.Generator):
    n = int(rng.integers(3, max_objects + 1))
    objects = sample_objects(rng, n)
    image, masks = render(objects, side, noise, rng)
    scene = {
        "image_id": image_id,
        "file_name": f"{image_id:08d}.png",
        "image": image,
        "masks": encode_masks(masks),
        "objects": [o.phrase for o in objects],
    }
    return objects, scene


def row(image_id: int, sentence: str, targets=(), kind="positive", error_type="none", operator="", why="", model=""):
    return {
        "image_id": image_id,
        "targets": list(targets),
        "sentence": sentence,
        "no_target": not targets,
        "kind": kind,
        "error_type": error_type,
        "operator": operator,
        "reason": why,
        "model": model,
    }


def positive(objects, rng, clauses: int) -> tuple[int, Desc] | None:
    for target in rng.permutation(len(objects)):
        desc = describe(objects, int(target), clauses, rng)
        if desc is not None:
            return int(target), desc
    return None


def easy_negative(objects: tuple[Obj, ...], rng, clauses: int, tries: int = 20) -> Desc | None:
    """A grounded description of an object of a random other scene that matches nothing here."""
    for _ in range(tries):
        other = sample_objects(rng, len(objects))
        found = positive(other, rng, clauses)
        if found is not None and not matches(objects, found[1]):
            return found[1]
    return None


def instruct_split(first_id: int, n_scenes: int, cfg_side: int, noise: float, max_objects: int,
                   per_scene: int, operators: tuple[str, ...], rng) -> Draft:  # fmt: skip
    """R-Instruct rows: per scene ``per_scene`` positives, as many hard and as many easy negatives."""
    draft = Draft([], [])
    for k in range(n_scenes):
        image_id = first_id + k
        objects, scene = make_scene(image_id, cfg_side, noise, max_objects, rng)
        draft.scenes.append(scene)
        for _ in range(per_scene):
            clauses = int(rng.integers(1, 3))
            found = positive(objects, rng, clauses)
            if found is None:
                continue
            target, desc = found
            draft.rows.append(row(image_id, desc.text, [target]))
            neg = hard_negative(objects, desc, operators, rng)
            if neg is not None:
                swapped, op = neg
                draft.rows.append(row(image_id, swapped.text, (), "hard", OPERATORS[op], op, reason(desc, swapped, op)))
            easy = easy_negative(objects, rng, clauses)
            if easy is not None:
                draft.rows.append(row(image_id, easy.text, (), "easy", "unrelated", "", "no such object in the image"))
    return draft


def bench_split(first_id: int, n_scenes: int, side: int, noise: float, max_objects: int, rng) -> Draft:
    """Mini R^2-HalBench: every describer captions one object of every scene, hallucinating at its rate
    with an error type drawn uniformly and an operator drawn uniformly within the type."""
    draft = Draft([], [])
    by_type = {t: tuple(op for op, kind in OPERATORS.items() if kind == t) for t in ERROR_TYPES}
    for k in range(n_scenes):
        image_id = first_id + k
        objects, scene = make_scene(image_id, side, noise, max_objects, rng)
        draft.scenes.append(scene)
        for describer in DESCRIBERS:
            found = positive(objects, rng, describer.clauses)
            if found is None:
                continue
            target, desc = found
            if rng.random() >= describer.hallucination_rate:
                draft.rows.append(row(image_id, desc.text, [target], model=describer.name) | {"about": target})
                continue
            level = str(rng.choice(ERROR_TYPES))
            neg = hard_negative(objects, desc, by_type[level], rng)
            if neg is None:  # e.g. no clause on the drawn relation axis: caption it correctly instead
                draft.rows.append(row(image_id, desc.text, [target], model=describer.name) | {"about": target})
                continue
            swapped, op = neg
            why = reason(desc, swapped, op)
            draft.rows.append(row(image_id, swapped.text, (), "hard", level, op, why, describer.name))
            draft.rows[-1]["about"] = target
            continue
    return draft


def refer_split(first_id: int, n_scenes: int, side: int, noise: float, max_objects: int, rng) -> Draft:
    """gRefCOCO-style: per scene one grounded expression and one no-target expression (any operator)."""
    draft = Draft([], [])
    for k in range(n_scenes):
        image_id = first_id + k
        objects, scene = make_scene(image_id, side, noise, max_objects, rng)
        draft.scenes.append(scene)
        found = positive(objects, rng, int(rng.integers(1, 3)))
        if found is None:
            continue
        target, desc = found
        draft.rows.append(row(image_id, desc.text, [target]))
        neg = hard_negative(objects, desc, tuple(OPERATORS), rng)
        if neg is not None:
            swapped, op = neg
            draft.rows.append(row(image_id, swapped.text, (), "hard", OPERATORS[op], op, reason(desc, swapped, op)))
    return draft


def generate(
    n_scenes: dict[str, int],
    side: int,
    noise: float,
    max_objects: int,
    per_scene: int,
    train_operators: tuple[str, ...],
    seed: int,
) -> dict[str, Draft]:
    """Every split from one seed; image ids are unique across splits (one scene table)."""
    unknown = sorted(set(train_operators) - set(OPERATORS))
    if unknown:
        raise ValueError(f"unknown swap operators {unknown}; valid: {', '.join(OPERATORS)}")
    rng = np.random.default_rng(seed)
    drafts, first = {}, 0
    for split in SPLITS:
        n = n_scenes[split]
        if split in ("train", "val"):
            drafts[split] = instruct_split(first, n, side, noise, max_objects, per_scene, train_operators, rng)
        elif split == "bench":
            drafts[split] = bench_split(first, n, side, noise, max_objects, rng)
        else:
            drafts[split] = refer_split(first, n, side, noise, max_objects, rng)
        first += n
    return drafts


FILES = {"instances": "instances.json", "bench": "r2halbench_meta.json", "refs": "grefs.json"}


def write_splits(drafts: dict[str, Draft], folder: Path) -> dict[str, Path]:
    """The splits in the real formats: COCO instances (RLE masks) for every scene, gRefCOCO-style refs
    for ``train``, ``val`` and ``refer``, and the R^2-HalBench meta file for ``bench``."""
    folder = Path(folder)
    scenes = [s for d in drafts.values() for s in d.scenes]
    formats.write_instances(folder / FILES["instances"], scenes)
    refs = []
    for split in ("train", "val", "refer"):
        start = len(refs)
        formats.write_refs(folder / "tmp.json", drafts[split].rows, split)
        part = formats.read_refs(folder / "tmp.json")
        refs += [ref | {"ref_id": start + k} for k, ref in enumerate(part)]
    (folder / "tmp.json").unlink()
    write_json(folder / FILES["refs"], refs)
    bench = drafts["bench"].rows
    names = {s["image_id"]: s["file_name"] for s in drafts["bench"].scenes}
    formats.write_halbench(folder / FILES["bench"], bench, names, [100 * r["image_id"] + r["about"] for r in bench])
    return {k: folder / v for k, v in FILES.items()}


def load_splits(
    files: dict[str, Path], read_image: Callable[[str], np.ndarray], side: int, splits: dict[str, str] | None = None
):
    """One ``DatasetDict`` from the real-format files (``instances`` and ``refs`` and / or a benchmark):
    ``scenes`` (in first-use order) and one row table per split. ``splits`` maps a table split to the
    refs' ``split`` value (default: ``train``, ``val``, ``refer`` to themselves; a real gRefCOCO would map
    ``refer`` to ``val``); ``bench`` comes from the R^2-HalBench meta file (``files["bench"]``) or from
    R^2-HalBench as released, in refs form (``files["bench_refs"]``). Splits with no source are empty
    tables. ``read_image`` reads an image by its file name (:func:`repro.vbackchecker.formats.image_reader`
    for a folder)."""
    from datasets import Dataset, DatasetDict

    splits = splits if splits is not None else {s: s for s in ("train", "val", "refer")}
    instances = formats.read_instances(files["instances"])
    index = formats.SceneIndex(instances, read_image, side, source=files["instances"])
    rows = {}
    if "refs" in files:
        refs = formats.read_refs(files["refs"])
        rows = {split: formats.refs_rows(refs, index, source) for split, source in splits.items()}
    if "bench" in files:
        by_name = {info["file_name"]: i for i, info in instances["images"].items()}
        rows["bench"] = formats.halbench_rows(formats.read_halbench(files["bench"]), index, by_name, files["bench"])
    if "bench_refs" in files:
        rows["bench"] = formats.halbench_from_refs(formats.read_refs(files["bench_refs"]), index)
    columns = {name: [s[name] for s in index.rows] for name in scene_features(side)}
    columns["image"] = np.stack(columns["image"]) if index.rows else np.zeros((0, side, side, 3), np.uint8)
    tables = {"scenes": Dataset.from_dict(columns, features=scene_features(side))}
    features = row_features()
    for split in SPLITS:
        part = rows.get(split, [])
        tables[split] = Dataset.from_dict({name: [r[name] for r in part] for name in features}, features=features)
    return DatasetDict(tables)


REAL_FILES = {
    "rinstruct": {"refs": "rinstruct/grefs(unc).json", "instances": "rinstruct/instances.json"},
    "grefcoco": {"refs": "grefcoco/grefs(unc).json", "instances": "grefcoco/instances.json"},
    "r2halbench": {"bench_refs": "r2halbench/grefs(unc).json", "instances": "r2halbench/instances.json"},
}
IMAGE_FOLDERS = {"rinstruct": "images", "grefcoco": "train2014", "r2halbench": "images"}  # beside instances.json
RELEASED_SPLITS = {"rinstruct": {"train": "train", "val": "val"}, "grefcoco": {"refer": "val"}, "r2halbench": {}}


def real_files(manifest_name: str) -> dict[str, Path]:
    """The real-format files of a manifest (``grefcoco`` or ``r2halbench``), each checked against its
    pinned sha256 (:func:`repro.core.data.verified_path`) before anything reads it."""
    from repro.core.data import load_manifest, verified_path

    if manifest_name not in REAL_FILES:
        raise ValueError(f"no real files known for {manifest_name!r}; known: {', '.join(REAL_FILES)}")
    manifest = load_manifest(manifest_name)
    return {role: verified_path(manifest, rel) for role, rel in REAL_FILES[manifest_name].items()}


def load_released(side: int):
    """The ``paper`` profile's data: R-Instruct (``train``, ``val``), gRefCOCO val (``refer``) and
    R^2-HalBench (``bench``), each checked against its manifest (a missing or unpinned file raises the
    manifest's instructions) and read through the same loaders as the miniature, into one
    ``DatasetDict`` with one scene table (image ids renumbered across the three sources)."""
    from datasets import DatasetDict, concatenate_datasets

    parts = {}
    for name, splits in RELEASED_SPLITS.items():
        files = real_files(name)
        reader = formats.image_reader(files["instances"].parent / IMAGE_FOLDERS[name])
        parts[name] = load_splits(files, reader, side, splits=splits)
    scenes, tables, offset = [], {split: [] for split in SPLITS}, 0
    for part in parts.values():
        shift = lambda batch, k=offset: {"image_id": [i + k for i in batch["image_id"]]}  # noqa: E731
        scenes.append(part["scenes"].map(shift, batched=True))
        for split in SPLITS:
            tables[split].append(part[split].map(shift, batched=True))
        offset += len(part["scenes"])
    out = {"scenes": concatenate_datasets(scenes)}
    return DatasetDict(out | {split: concatenate_datasets(t) for split, t in tables.items()})


def draft_images(drafts: dict[str, Draft]) -> Callable[[str], np.ndarray]:
    """An image reader over the generated scenes (the miniature's stand-in for an image folder)."""
    images = {s["file_name"]: s["image"] for d in drafts.values() for s in d.scenes}
    return images.__getitem__


# ----------------------------------------------------------------------------------------------
# tensors for training and evaluation


@dataclass
class SceneTensors:
    """Images ``(n, side, side, 3)`` uint8 and masks ``(n, max_objects, side, side)`` uint8, indexed by
    image id (the scene table's row order)."""

    images: np.ndarray
    masks: np.ndarray


def scene_tensors(scenes) -> SceneTensors:
    ids = np.asarray(scenes["image_id"])
    if not np.array_equal(ids, np.arange(len(ids))):
        raise ValueError("scene table must list image ids 0..n-1 in order")
    images = scenes.with_format("numpy")[:]["image"]
    side = images.shape[1]
    rles = scenes["masks"]
    masks = np.zeros((len(ids), max(map(len, rles)), side, side), np.uint8)
    for i, counts in enumerate(rles):
        masks[i, : len(counts)] = decode_masks(counts, side, side)
    return SceneTensors(images, masks)


def target_masks(rows, scenes: SceneTensors) -> np.ndarray:
    """The union of each row's target masks ``(n_rows, side, side)`` (all zeros for no target)."""
    out = np.zeros((len(rows), *scenes.images.shape[1:3]), bool)
    for i, (image_id, targets) in enumerate(zip(rows["image_id"], rows["targets"])):
        for t in targets:
            out[i] |= scenes.masks[image_id, t].astype(bool)
    return out
