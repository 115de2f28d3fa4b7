"""The real formats: COCO instance masks (through ``pycocotools``), gRefCOCO-style refs (gRefCOCO,
R-Instruct and R^2-HalBench are all released this way) and the kit's R^2-HalBench meta file. The
procedural splits are written in these formats and read back through the same loaders, so the miniature
and real data take one code path into the tables of :mod:`repro.vbackchecker.data`.

* COCO instances JSON: ``images`` (``id``, ``file_name``, ``height``, ``width``) and ``annotations``
  (``id``, ``image_id``, ``segmentation`` as polygons, an uncompressed or compressed RLE dict, or a
  list of RLE dicts as R-Instruct and R^2-HalBench ship them); an RLE's ``size`` must be the image's.
* gRefCOCO-style refs JSON: a list of ``{ref_id, ann_id, image_id, split, sentences: [{sent, ...}]}``;
  ``ann_id`` is an id or a list of ids, ``[-1]`` (or ``-1``, ``[]``) for no target, as G_REFER, ReLA
  and GSVA read it; ``no_target``, when present, must agree. A no-target sentence of R-Instruct carries
  ``response_error: {error_type, error_reason}`` (the official keys; the miniature adds
  ``swap_operator``): an error type of object / attribute / relation makes it a hard negative, anything
  else an unrelated (easy) one. R^2-HalBench in this form (:func:`halbench_from_refs`): a sentence is
  hallucinated when its ref's ``ann_id`` is ``[-1]``.
* R^2-HalBench meta JSON (the kit's flat form): a list of ``{image, model, object_id, caption,
  with_hallucination, hallucination_type}`` with type 0 none, 1 object, 2 attribute, 3 relation
  (``swap_operator`` is an optional extra of the miniature).

Malformed input raises :class:`FormatError` naming the file, the entry and the field; image names are
read only inside the image folder (:func:`image_reader`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repro.core.steps import write_json

TYPE_NAMES = {0: "none", 1: "object", 2: "attribute", 3: "relation"}
ERROR_LEVELS = ("object", "attribute", "relation")
REF_KEYS = ("ref_id", "ann_id", "image_id", "split", "sentences")  # no_target: optional, from ann_id
HALBENCH_KEYS = ("image", "model", "object_id", "caption", "with_hallucination", "hallucination_type")


class FormatError(ValueError):
    """A real-format file is malformed (missing field, wrong type, dangling id)."""


# ----------------------------------------------------------------------------------------------
# masks (pycocotools: the format's reference implementation)


def encode_masks(masks: np.ndarray) -> list[str]:
    """``(n, H, W)`` binary masks -> compressed COCO RLE strings."""
    import pycocotools.mask as coco_mask

    if len(masks) == 0:
        return []
    rles = coco_mask.encode(np.asfortranarray(np.asarray(masks, np.uint8).transpose(1, 2, 0)))
    return [r["counts"].decode("ascii") for r in rles]


def decode_masks(counts: Sequence[str], height: int, width: int) -> np.ndarray:
    """Compressed COCO RLE strings -> ``(n, H, W)`` uint8 masks."""
    import pycocotools.mask as coco_mask

    if not counts:
        return np.zeros((0, height, width), np.uint8)
    rles = [{"size": [height, width], "counts": c.encode("ascii")} for c in counts]
    return coco_mask.decode(rles).transpose(2, 0, 1)


def annotation_mask(ann: Mapping[str, Any], height: int, width: int) -> np.ndarray:
    """One COCO annotation's segmentation -> ``(H, W)``: polygons (each an even list of >= 6
    coordinates), an uncompressed or compressed RLE dict, or a list of RLE dicts (merged); an RLE must
    have the image's ``size``."""
    import pycocotools.mask as coco_mask

    seg, where = ann.get("segmentation"), f"annotation {ann.get('id')}"
    parts = seg if isinstance(seg, list) and seg and all(isinstance(p, Mapping) for p in seg) else None
    if parts is not None or isinstance(seg, Mapping):
        rles = []
        for part in parts or [seg]:
            if "counts" not in part or "size" not in part:
                raise FormatError(f"{where}: an RLE needs 'counts' and 'size'")
            if list(part["size"]) != [height, width]:
                raise FormatError(f"{where}: RLE size {list(part['size'])} is not the image's {[height, width]}")
            counts = part["counts"]
            rles.append(coco_mask.frPyObjects(dict(part), height, width) if isinstance(counts, list)
                        else {"size": [height, width],
                              "counts": counts.encode("ascii") if isinstance(counts, str) else counts})  # fmt: skip
        return coco_mask.decode(coco_mask.merge(rles, intersect=False))
    if isinstance(seg, list):
        if not seg or not all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 for p in seg):
            raise FormatError(f"{where}: polygons need an even number (>= 6) of coordinates each")
        return coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(seg, height, width)))
    raise FormatError(f"{where}: segmentation must be polygons, an RLE dict or a list of RLE dicts")


def image_reader(folder: Path) -> Callable[[str], np.ndarray]:
    """A reader of RGB images by file name, confined to ``folder``: an absolute name or one that climbs
    out (``../../etc/passwd``) raises instead of being opened."""
    from PIL import Image

    root = Path(folder).resolve()

    def read(name: str) -> np.ndarray:
        path = (root / name).resolve()
        if Path(name).is_absolute() or not path.is_relative_to(root):
            raise FormatError(f"image file_name {name!r} leaves the image folder {root}")
        if not path.is_file():
            raise FormatError(f"image {name!r} not found in {root}")
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))

    return read


# ----------------------------------------------------------------------------------------------
# reading


def read_json_list(path: Path, keys: Sequence[str], what: str) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise FormatError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, list):
        raise FormatError(f"{path}: a {what} file holds a JSON list")
    for i, entry in enumerate(data):
        missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise FormatError(f"{path}: entry {i} lacks {missing} (a {what} entry has {list(keys)})")
    return data


def read_instances(path: Path) -> dict[str, Any]:
    """COCO instances JSON -> ``{"images": {id: info}, "anns": {image_id: [ann, ...]}}``."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise FormatError(f"{path}: not valid JSON ({err})") from err
    for key in ("images", "annotations"):
        if key not in data:
            raise FormatError(f"{path}: COCO instances need {key!r}")
    images = {}
    for img in data["images"]:
        missing = [k for k in ("id", "file_name", "height", "width") if k not in img]
        if missing:
            raise FormatError(f"{path}: image {img.get('id')} lacks {missing}")
        images[img["id"]] = img
    anns: dict[int, list] = {i: [] for i in images}
    for ann in data["annotations"]:
        if ann.get("image_id") not in images or "id" not in ann:
            raise FormatError(f"{path}: annotation {ann.get('id')} has no id or an unknown image_id")
        anns[ann["image_id"]].append(ann)
    return {"images": images, "anns": anns}


def read_refs(path: Path) -> list[dict]:
    """gRefCOCO-style refs, each with ``no_target`` derived from ``ann_id`` (and checked against the
    file's own ``no_target`` where it has one)."""
    refs = read_json_list(path, REF_KEYS, "gRefCOCO refs")
    for ref in refs:
        where = f"{path}: ref {ref['ref_id']}"
        if not isinstance(ref["sentences"], list) or not all(
            isinstance(s, dict) and "sent" in s for s in ref["sentences"]
        ):
            raise FormatError(f"{where}: sentences must be a list of {{sent, ...}}")
        try:
            targets = ann_ids(ref["ann_id"])
        except (TypeError, ValueError) as err:
            raise FormatError(f"{where}: ann_id {ref['ann_id']!r}: {err}") from err
        if "no_target" in ref and bool(ref["no_target"]) == bool(targets):
            raise FormatError(f"{where}: no_target={ref['no_target']} but ann_id={ref['ann_id']}")
        ref["no_target"] = not targets
        for k, sentence in enumerate(ref["sentences"]):
            error = sentence.get("response_error")
            if error is not None and not (isinstance(error, dict) and "error_type" in error):
                raise FormatError(f"{where}: sentence {k}: response_error must be {{error_type, error_reason}}")
    return refs


def read_halbench(path: Path) -> list[dict]:
    items = read_json_list(path, HALBENCH_KEYS, "R^2-HalBench meta")
    for i, item in enumerate(items):
        if item["hallucination_type"] not in TYPE_NAMES:
            raise FormatError(f"{path}: entry {i}: hallucination_type must be one of {sorted(TYPE_NAMES)}")
        if bool(item["with_hallucination"]) != (item["hallucination_type"] != 0):
            raise FormatError(f"{path}: entry {i}: with_hallucination disagrees with hallucination_type")
    return items


def ann_ids(value: Any) -> list[int]:
    """The annotation ids of a ref: ``[]`` for no target (``-1``, ``[-1]`` or ``[]``)."""
    ids = value if isinstance(value, list) else [value]
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ValueError("ids must be integers")
    if -1 in ids and len(ids) > 1:
        raise ValueError("-1 (no target) mixed with annotation ids")
    if any(i < -1 for i in ids):
        raise ValueError("ids must be >= 0, or -1 for no target")
    return [i for i in ids if i >= 0]


class SceneIndex:
    """Scenes of a COCO instances file, resized to ``side``, in first-use order: the scene table."""

    def __init__(self, instances: Mapping[str, Any], read_image: Callable[[str], np.ndarray], side: int,
                 source: Path | str = "instances"):  # fmt: skip
        self.instances, self.read_image, self.side, self.source = instances, read_image, side, source
        self.rows: list[dict] = []
        self.position: dict[int, int] = {}

    def scene(self, image_id: int) -> int:
        if image_id not in self.position:
            if image_id not in self.instances["images"]:
                raise FormatError(f"{self.source}: image_id {image_id} is not in the COCO instances file")
            info = self.instances["images"][image_id]
            anns = self.instances["anns"][image_id]
            try:
                masks = np.stack([annotation_mask(a, info["height"], info["width"]) for a in anns]) if anns else None
            except FormatError as err:
                raise FormatError(f"{self.source}: image {image_id}: {err}") from err
            image, masks = resize(self.read_image(info["file_name"]), masks, self.side)
            self.position[image_id] = len(self.rows)
            self.rows.append(
                {
                    "image_id": len(self.rows),
                    "file_name": info["file_name"],
                    "image": image,
                    "masks": encode_masks(masks),
                    "objects": [str(a.get("caption", a.get("category_id", ""))) for a in anns],
                }
            )
        return self.position[image_id]

    def object_index(self, image_id: int, ann_id: int) -> int:
        for k, ann in enumerate(self.instances["anns"][image_id]):
            if ann["id"] == ann_id:
                return k
        raise FormatError(f"{self.source}: annotation {ann_id} is not an annotation of image {image_id}")


def resize(image: np.ndarray, masks: np.ndarray | None, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (bilinear) and masks (nearest) to ``side x side``; a no-op when already that size."""
    image = np.asarray(image, np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise FormatError(f"images must be H x W x 3 RGB, got shape {image.shape}")
    masks = np.zeros((0, *image.shape[:2]), np.uint8) if masks is None else masks
    if image.shape[:2] == (side, side):
        return image, masks
    from PIL import Image

    small = np.asarray(Image.fromarray(image).resize((side, side), Image.BILINEAR))
    small_masks = [np.asarray(Image.fromarray(m * 255).resize((side, side), Image.NEAREST)) > 127 for m in masks]
    return small, np.stack(small_masks).astype(np.uint8) if small_masks else np.zeros((0, side, side), np.uint8)


def refs_rows(refs: Sequence[dict], index: SceneIndex, split: str | None = None) -> list[dict]:
    """One table row per sentence of the refs of ``split`` (all refs when None), refs as
    :func:`read_refs` returns them."""
    rows = []
    for ref in refs:
        if split is not None and ref["split"] != split:
            continue
        try:
            scene = index.scene(ref["image_id"])
            targets = [index.object_index(ref["image_id"], a) for a in ann_ids(ref["ann_id"])]
        except FormatError as err:
            raise FormatError(f"ref {ref['ref_id']}: {err}") from err
        for sentence in ref["sentences"]:
            error = sentence.get("response_error") or {}
            kind_of_error = str(error.get("error_type", "")).strip(". ").lower()
            hard = kind_of_error in ERROR_LEVELS
            rows.append(
                {
                    "image_id": scene,
                    "targets": targets,
                    "sentence": sentence["sent"],
                    "no_target": not targets,
                    "kind": "positive" if targets else ("hard" if hard else "easy"),
                    "error_type": "none" if targets else (kind_of_error if hard else "unrelated"),
                    "operator": error.get("swap_operator", ""),
                    "reason": error.get("error_reason", ""),
                    "model": "",
                }
            )
    return rows


def halbench_from_refs(refs: Sequence[dict], index: SceneIndex) -> list[dict]:
    """R^2-HalBench as released in gRefCOCO form: one benchmark row per sentence, hallucinated when its
    ref's ``ann_id`` is ``[-1]``; the level from ``response_error.error_type`` where the sentence has
    one, else ``unrelated`` (counted in Acc, Neg.Acc and Pos.Acc, in no per-level score)."""
    rows = refs_rows(refs, index)
    for row in rows:
        row["kind"] = "hard" if row["no_target"] else "positive"
    return rows


def halbench_rows(items: Sequence[dict], index: SceneIndex, image_ids: Mapping[str, int],
                  source: Path | str = "R^2-HalBench meta") -> list[dict]:  # fmt: skip
    """One row per benchmark item; ``image_ids`` maps the item's image file name to its COCO id."""
    rows = []
    for i, item in enumerate(items):
        if item["image"] not in image_ids:
            raise FormatError(f"{source}: entry {i}: image {item['image']!r} is not in the instances file")
        coco_id = image_ids[item["image"]]
        hallucinated = bool(item["with_hallucination"])
        try:
            scene = index.scene(coco_id)
            about = index.object_index(coco_id, int(item["object_id"]))  # the object it describes, or misdescribes
        except FormatError as err:
            raise FormatError(f"{source}: entry {i}: {err}") from err
        targets = [] if hallucinated else [about]
        rows.append(
            {
                "image_id": scene,
                "targets": targets,
                "sentence": item["caption"],
                "no_target": hallucinated,
                "kind": "hard" if hallucinated else "positive",
                "error_type": TYPE_NAMES[item["hallucination_type"]],
                "operator": item.get("swap_operator", ""),
                "reason": item.get("reason", ""),
                "model": item["model"],
            }
        )
    return rows


# ----------------------------------------------------------------------------------------------
# writing (the miniature's splits in the real formats)


def write_instances(path: Path, scenes: Sequence[dict]) -> None:
    """COCO instances for procedural scenes: one annotation per object, compressed RLE; the
    annotation id of object ``k`` of image ``i`` is ``100 * i + k``."""
    images, anns = [], []
    for s in scenes:
        side = s["image"].shape[0]
        images.append({"id": s["image_id"], "file_name": s["file_name"], "height": side, "width": side})
        for k, (counts, name) in enumerate(zip(s["masks"], s["objects"])):
            anns.append(
                {
                    "id": 100 * s["image_id"] + k,
                    "image_id": s["image_id"],
                    "segmentation": {"size": [side, side], "counts": counts},
                    "iscrowd": 0,
                    "caption": name,
                }
            )
    write_json(path, {"images": images, "annotations": anns, "categories": []})


def write_refs(path: Path, rows: Sequence[dict], split: str) -> None:
    refs = []
    for k, r in enumerate(rows):
        error = None if r["kind"] == "positive" else {"error_type": r["error_type"], "error_reason": r["reason"],
                                                       "swap_operator": r["operator"]}  # fmt: skip
        refs.append(
            {
                "ref_id": k,
                "ann_id": [100 * r["image_id"] + t for t in r["targets"]] or [-1],
                "image_id": r["image_id"],
                "split": split,
                "sentences": [{"sent": r["sentence"], "response_error": error}],
            }
        )
    write_json(path, refs)


def write_halbench(path: Path, rows: Sequence[dict], file_names: Mapping[int, str], objects: Mapping[int, int]) -> None:
    """``objects[row]``: the annotation id the caption is about (its target, or the object it misdescribes)."""
    codes = {v: k for k, v in TYPE_NAMES.items()}
    items = []
    for k, r in enumerate(rows):
        items.append(
            {
                "image": file_names[r["image_id"]],
                "model": r["model"],
                "object_id": objects[k],
                "caption": r["sentence"],
                "with_hallucination": bool(r["no_target"]),
                "hallucination_type": codes[r["error_type"]],
                "swap_operator": r["operator"],
                "reason": r["reason"],
            }
        )
    write_json(path, items)
