"""The real formats: COCO instance masks (through ``pycocotools``), gRefCOCO-style refs and the
R^2-HalBench meta file. The procedural splits are written in these formats and read back through the
same loaders, so the miniature and real data take one code path into the tables of
:mod:`repro.vbackchecker.data`.

* COCO instances JSON: ``images`` (``id``, ``file_name``, ``height``, ``width``) and ``annotations``
  (``id``, ``image_id``, ``segmentation`` as polygons, uncompressed RLE or compressed RLE).
* gRefCOCO-style refs JSON: a list of ``{ref_id, ann_id, image_id, split, no_target, sentences:
  [{sent, response_error}]}``; ``ann_id`` is an id or a list of ids (``-1`` or ``[]`` for no target);
  ``response_error`` is ``null`` for a grounded sentence, else ``{type, operator, reason}``.
* R^2-HalBench meta JSON: a list of ``{image, model, object_id, caption, with_hallucination,
  hallucination_type}`` with type 0 none, 1 object, 2 attribute, 3 relation (``swap_operator`` is an
  optional extra of the miniature).

Malformed input raises :class:`FormatError` naming the file, the entry and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repro.core.steps import write_json

TYPE_NAMES = {0: "none", 1: "object", 2: "attribute", 3: "relation"}
REF_KEYS = ("ref_id", "ann_id", "image_id", "split", "no_target", "sentences")
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
    """One COCO annotation's segmentation (polygons, uncompressed or compressed RLE) -> ``(H, W)``."""
    import pycocotools.mask as coco_mask

    seg = ann.get("segmentation")
    if isinstance(seg, list):
        if not seg or not all(isinstance(p, list) and len(p) >= 6 for p in seg):
            raise FormatError(f"annotation {ann.get('id')}: polygons need >= 3 points each")
        rle = coco_mask.merge(coco_mask.frPyObjects(seg, height, width))
    elif isinstance(seg, Mapping) and "counts" in seg and "size" in seg:
        if isinstance(seg["counts"], list):
            rle = coco_mask.frPyObjects(seg, height, width)
        else:
            rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
    else:
        raise FormatError(f"annotation {ann.get('id')}: segmentation must be polygons or an RLE dict")
    return coco_mask.decode(rle)


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
    refs = read_json_list(path, REF_KEYS, "gRefCOCO refs")
    for ref in refs:
        if not isinstance(ref["sentences"], list) or not all("sent" in s for s in ref["sentences"]):
            raise FormatError(f"{path}: ref {ref['ref_id']}: sentences must be a list of {{sent, ...}}")
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
    ids = value if isinstance(value, list) else [value]
    return [int(i) for i in ids if int(i) >= 0]


class SceneIndex:
    """Scenes of a COCO instances file, resized to ``side``, in first-use order: the scene table."""

    def __init__(self, instances: Mapping[str, Any], read_image: Callable[[str], np.ndarray], side: int):
        self.instances, self.read_image, self.side = instances, read_image, side
        self.rows: list[dict] = []
        self.position: dict[int, int] = {}

    def scene(self, image_id: int) -> int:
        if image_id not in self.position:
            if image_id not in self.instances["images"]:
                raise FormatError(f"image_id {image_id} is not in the COCO instances file")
            info = self.instances["images"][image_id]
            anns = self.instances["anns"][image_id]
            masks = np.stack([annotation_mask(a, info["height"], info["width"]) for a in anns]) if anns else None
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
        raise FormatError(f"annotation {ann_id} is not an annotation of image {image_id}")


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
    """One table row per sentence of the refs of ``split`` (all refs when None)."""
    rows = []
    for ref in refs:
        if split is not None and ref["split"] != split:
            continue
        scene = index.scene(ref["image_id"])
        targets = [index.object_index(ref["image_id"], a) for a in ann_ids(ref["ann_id"])]
        if bool(ref["no_target"]) == bool(targets):
            raise FormatError(f"ref {ref['ref_id']}: no_target={ref['no_target']} but ann_id={ref['ann_id']}")
        for sentence in ref["sentences"]:
            error = sentence.get("response_error") or {}
            kind = "positive" if targets else ("hard" if error.get("operator") else "easy")
            rows.append(
                {
                    "image_id": scene,
                    "targets": targets,
                    "sentence": sentence["sent"],
                    "no_target": not targets,
                    "kind": kind,
                    "error_type": error.get("type", "none" if targets else "unrelated"),
                    "operator": error.get("operator", ""),
                    "reason": error.get("reason", ""),
                    "model": "",
                }
            )
    return rows


def halbench_rows(items: Sequence[dict], index: SceneIndex, image_ids: Mapping[str, int]) -> list[dict]:
    """One row per benchmark item; ``image_ids`` maps the item's image file name to its COCO id."""
    rows = []
    for i, item in enumerate(items):
        if item["image"] not in image_ids:
            raise FormatError(f"R^2-HalBench entry {i}: image {item['image']!r} is not in the instances file")
        coco_id = image_ids[item["image"]]
        scene = index.scene(coco_id)
        hallucinated = bool(item["with_hallucination"])
        targets = [] if hallucinated else [index.object_index(coco_id, int(item["object_id"]))]
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
        error = None if r["kind"] == "positive" else {"type": r["error_type"], "operator": r["operator"],
                                                       "reason": r["reason"]}  # fmt: skip
        refs.append(
            {
                "ref_id": k,
                "ann_id": [100 * r["image_id"] + t for t in r["targets"]] or [-1],
                "image_id": r["image_id"],
                "split": split,
                "no_target": not r["targets"],
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
