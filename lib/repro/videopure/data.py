"""VideoPure's data: moving-digit clips (the miniature) and PNG frame folders (the real format).
Introduced in ``notebooks/videopure/01_data.ipynb``.

Moving digits: scikit-learn's real 8x8 digit glyphs (0..16 scaled to [0, 1]) placed at a random
height on a ``canvas x canvas`` frame and moved horizontally by ``speed`` pixels per frame on a
torus (the glyph wraps around the border), plus Gaussian pixel noise (``noise``, the difficulty
knob). The class is digit x direction: ``2 * digit_index + (1 if moving right else 0)``, so a single
frame cannot name the class (the start position is uniform on the torus, so neither a frame nor the
clip's mean frame carries the direction; ``tests/videopure`` checks a probe for it). Train, validation
and test clips are drawn from disjoint glyphs (a stratified split of the 1797 glyphs); validation
clips (the gates', and pilots') are drawn like the test clips, never from them. The flow is known by
construction (``dx`` pixels per frame), but the purifier never reads it: it estimates the flow from
the clip it purifies (:func:`repro.videopure.flow.estimate_shifts`); the ground truth only scores the
warping error.

Real format (the ``frames`` data source): UCF-101-style frame folders, ``<root>/<class>/<clip>/<i>.png``
(VideoPure's ``clean_videos/<label>/<i>.png`` is one such clip folder per class), with a
``SHA256SUMS`` file at the root in ``sha256sum`` format. The manifest pins the hash of ``SHA256SUMS``
and every frame is checked against it before it is decoded. Both sources become one
``datasets.DatasetDict`` (``train``, ``validation``, ``test``) with the same typed features.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from datasets import Array4D, ClassLabel, Dataset, DatasetDict, Features, Value

from repro.core.data import DataUnavailableError, Manifest, data_root, load_manifest, verified_path
from repro.videopure.config import VideoSpec

GLYPH = 8
DIRECTIONS = ("left", "right")
SUMS = "SHA256SUMS"


def class_names(digits: tuple[int, ...]) -> list[str]:
    return [f"{d}_{direction}" for d in digits for direction in DIRECTIONS]


def features(frames: int, canvas: int, classes: list[str]) -> Features:
    return Features(
        {
            "video": Array4D(shape=(frames, 1, canvas, canvas), dtype="float32"),
            "label": ClassLabel(names=classes),
            "dx": Value("int32"),  # horizontal flow in pixels per frame (ground truth or estimated)
            "source_id": Value("int32"),  # glyph index (moving digits) or clip index (frame folders)
        }
    )


def glyph_split(
    digits: tuple[int, ...], test_fraction: float, seed: int, validation_fraction: float = 0.15
) -> dict[str, np.ndarray]:
    """Disjoint train/validation/test glyphs of the chosen digits, stratified: float32 (N, 8, 8) in [0, 1]
    (the test split is drawn first, so it does not depend on ``validation_fraction``)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    keep = np.isin(bunch.target, digits)
    images, targets, ids = (bunch.images[keep] / 16.0).astype(np.float32), bunch.target[keep], np.flatnonzero(keep)
    index = np.array([digits.index(int(t)) for t in targets], dtype=np.int64)
    tr, te = train_test_split(np.arange(len(images)), test_size=test_fraction, stratify=index, random_state=seed)
    share = validation_fraction / (1 - test_fraction)
    tr, va = train_test_split(tr, test_size=share, stratify=index[tr], random_state=seed)
    out = {}
    for part, rows in (("train", tr), ("validation", va), ("test", te)):
        out |= {f"{part}_glyphs": images[rows], f"{part}_digit": index[rows], f"{part}_ids": ids[rows]}
    return out


def render_clips(
    glyphs: np.ndarray, direction: np.ndarray, x0: np.ndarray, y0: np.ndarray, spec: VideoSpec, rng
) -> np.ndarray:
    """Clips (N, T, 1, C, C) in [0, 1]: glyph n at row ``y0[n]``, column ``x0[n] + t * dx`` (mod C)."""
    n, c, t = len(glyphs), spec.canvas, spec.frames
    canvas = np.zeros((n, c, c), dtype=np.float32)
    rows = y0[:, None] + np.arange(GLYPH)[None]
    canvas[np.arange(n)[:, None, None], rows[:, :, None], np.arange(GLYPH)[None, None]] = glyphs
    dx = np.where(direction == 1, spec.speed, -spec.speed)
    shift = (x0[:, None] + np.arange(t)[None] * dx[:, None]) % c  # (N, T)
    cols = (np.arange(c)[None, None] - shift[:, :, None]) % c  # source column of every target column
    clips = canvas[np.arange(n)[:, None, None, None], np.arange(c)[None, None, :, None], cols[:, :, None, :]]
    clips = clips + spec.noise * rng.standard_normal(clips.shape).astype(np.float32)
    return np.clip(clips, 0, 1)[:, :, None].astype(np.float32)


def moving_digits(spec: VideoSpec, test_fraction: float, seed: int, validation_fraction: float = 0.15) -> DatasetDict:
    """The miniature's dataset. Train: ``clips_per_glyph`` clips per training glyph; validation and test:
    one clip per glyph, directions alternating so every class is equally represented."""
    rng = np.random.default_rng(seed)
    glyphs = glyph_split(spec.digits, test_fraction, seed, validation_fraction)
    parts = {}
    for part in ("train", "validation", "test"):
        repeat = spec.clips_per_glyph if part == "train" else 1
        g = np.repeat(glyphs[f"{part}_glyphs"], repeat, axis=0)
        digit = np.repeat(glyphs[f"{part}_digit"], repeat)
        ids = np.repeat(glyphs[f"{part}_ids"], repeat)
        n = len(g)
        direction = rng.integers(0, 2, n) if part == "train" else np.arange(n) % 2
        x0, y0 = rng.integers(0, spec.canvas, n), rng.integers(0, spec.canvas - GLYPH + 1, n)
        clips = render_clips(g, direction, x0, y0, spec, rng)
        order = rng.permutation(n) if part == "train" else _interleave(2 * digit + direction)
        parts[part] = {
            "video": clips[order],
            "label": (2 * digit + direction)[order],
            "dx": np.where(direction == 1, spec.speed, -spec.speed)[order],
            "source_id": ids[order],
        }
    return to_dataset(parts, spec.frames, spec.canvas, class_names(spec.digits))


def _interleave(labels: np.ndarray) -> np.ndarray:
    """An order that cycles through the classes, so the first n test clips (the fixed evaluation
    subset) are stratified."""
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[members] = np.arange(len(members))
    return np.lexsort((labels, rank))


def to_dataset(parts: dict[str, dict[str, np.ndarray]], frames: int, canvas: int, classes: list[str]) -> DatasetDict:
    feats = features(frames, canvas, classes)
    return DatasetDict(
        {
            part: Dataset.from_dict({k: np.ascontiguousarray(v) for k, v in cols.items()}, features=feats)
            for part, cols in parts.items()
        }
    )


# ----------------------------------------------------------------------------------------------
# real format: frame-PNG folders


def read_sums(path: Path) -> dict[str, str]:
    """``sha256sum`` output: ``<64 hex>  <relative path>`` per line -> {path: digest}."""
    sums = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        rel = rel.lstrip("*")
        if not sep or len(digest) != 64 or not rel or any(ch not in "0123456789abcdef" for ch in digest):
            raise ValueError(f"{path}:{number}: expected '<sha256>  <path>', got {line!r}")
        sums[rel] = digest
    return sums


def read_frame_folders(root: Path, frames: int, canvas: int, sums: dict[str, str] | None = None) -> dict:
    """Clips from ``<root>/<class>/<clip>/<i>.png``: grey, resized to ``canvas``, in [0, 1]; the first
    ``frames`` frames of each clip. Read strictly, each bad case an error naming the clip: frame
    indices contiguous from 0 or 1 with one file per index (``1.png`` beside ``01.png`` is refused),
    8-bit or 16-bit grey / colour PNGs (16-bit scaled by 65535, not clipped), every path inside
    ``root`` after resolving links. Classes in numeric order where every name is a number, else in
    sorted order. With ``sums``, every frame must be listed there and match its sha256 before it is
    decoded."""
    root = Path(root)
    inside = root.resolve()
    classes = class_folders(root)
    videos, labels = [], []
    for label, name in enumerate(classes):
        clips = sorted(p for p in (root / name).iterdir() if p.is_dir())
        if not clips:
            raise ValueError(f"{root / name}: class folder holds no clip folders")
        for clip in clips:
            video = []
            for path in clip_frames(clip, inside, frames):
                data = path.read_bytes()
                if sums is not None:
                    _check_frame(root, path, data, sums)
                video.append(decode_frame(clip, path, data, canvas))
            videos.append(np.stack(video))
            labels.append(label)
    return {"video": np.stack(videos), "label": np.array(labels, dtype=np.int64), "classes": classes}


def class_folders(root: Path) -> list[str]:
    """The class folder names: numeric order when every name is a number (``9`` before ``10``)."""
    names = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(names) < 2:
        raise ValueError(f"{root}: expected one folder per class (at least two), found {sorted(names)}")
    return sorted(names, key=int) if all(n.isdigit() for n in names) else sorted(names)


def clip_frames(clip: Path, inside: Path, frames: int) -> list[Path]:
    """The clip's first ``frames`` frame files in index order, after the strict checks (read_frame_folders)."""
    if not clip.resolve().is_relative_to(inside):
        raise ValueError(f"{clip}: the clip folder resolves outside the data folder ({clip.resolve()})")
    pngs = [p for p in clip.iterdir() if p.suffix.lower() == ".png"]
    if any(not p.stem.isdigit() for p in pngs):
        raise ValueError(f"{clip}: frame files must be named <index>.png")
    by_index: dict[int, list[str]] = {}
    for p in pngs:
        by_index.setdefault(int(p.stem), []).append(p.name)
    twice = {i: sorted(names) for i, names in by_index.items() if len(names) > 1}
    if twice:
        raise ValueError(f"{clip}: more than one file per frame index: {twice}")
    indices = sorted(by_index)
    if indices and (indices[0] not in (0, 1) or indices != list(range(indices[0], indices[0] + len(indices)))):
        first, last = indices[0], indices[-1]
        missing = sorted(set(range(first, last + 1)) - set(indices))
        got = f"got {first}..{last}, missing {missing}"
        raise ValueError(f"{clip}: frame indices must run contiguously from 0 or 1; {got}")
    if len(indices) < frames:
        raise ValueError(f"{clip}: {len(indices)} frames, the profile needs {frames}")
    paths = [clip / by_index[i][0] for i in indices[:frames]]
    for path in paths:
        if not path.resolve().is_relative_to(inside):
            raise ValueError(f"{clip}: frame {path.name} resolves outside the data folder ({path.resolve()})")
    return paths


SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")


def decode_frame(clip: Path, path: Path, data: bytes, canvas: int) -> np.ndarray:
    """One PNG as (1, canvas, canvas) grey in [0, 1]: 8-bit modes through PIL's grey conversion,
    16-bit grey divided by 65535 (PIL's ``convert("L")`` would clip it to white)."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(data)) as img:
            if img.format != "PNG":
                raise ValueError(f"{clip}: {path.name} is {img.format}, not a PNG")
            if img.mode in SIXTEEN_BIT:
                grey = Image.fromarray(np.asarray(img, dtype=np.float32) / 65535.0, mode="F")
                return np.asarray(grey.resize((canvas, canvas), Image.BILINEAR), dtype=np.float32)[None].clip(0, 1)
            if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
                raise ValueError(f"{clip}: {path.name} has PNG mode {img.mode!r}; expected 8-bit or 16-bit")
            grey = img.convert("L").resize((canvas, canvas), Image.BILINEAR)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{clip}: {path.name} is not a readable PNG ({err})") from err
    return np.asarray(grey, dtype=np.float32)[None] / 255.0


def _check_frame(root: Path, path: Path, data: bytes, sums: dict[str, str]) -> None:
    rel = path.relative_to(root).as_posix()
    if rel not in sums:
        raise DataUnavailableError("frames", path, f"{rel} is not listed in {SUMS}", f"regenerate {SUMS}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sums[rel]:
        raise DataUnavailableError(
            "frames", path, "sha256 mismatch", "extract the frames again", expected=sums[rel], actual=actual
        )


def frame_folders(
    spec: VideoSpec,
    test_fraction: float,
    seed: int,
    max_shift: int,
    manifest: Manifest | None = None,
    root: Path | None = None,
    validation_fraction: float = 0.15,
) -> DatasetDict:
    """The ``frames`` data source: the manifest's frame folders, hash-checked, split stratified into
    train/validation/test. The flow (``dx``) is estimated from each clip (no ground truth exists)."""
    import torch
    from sklearn.model_selection import train_test_split

    from repro.videopure.flow import estimate_shifts

    manifest = manifest or load_manifest("ucf101_frames")
    root = (root or data_root()).resolve()
    sums_path = verified_path(manifest, manifest.files[0].path, root)
    folder = sums_path.parent
    clips = read_frame_folders(folder, spec.frames, spec.canvas, read_sums(sums_path))
    shifts = estimate_shifts(torch.from_numpy(clips["video"]), max_shift)
    dx = shifts[..., 1].float().mean(1).round().int().numpy()
    ids, y = np.arange(len(clips["label"])), clips["label"]
    tr, te = train_test_split(ids, test_size=test_fraction, stratify=y, random_state=seed)
    share = validation_fraction / (1 - test_fraction)
    tr, va = train_test_split(tr, test_size=share, stratify=y[tr], random_state=seed)
    parts = {
        part: {"video": clips["video"][idx], "label": y[idx], "dx": dx[idx], "source_id": idx}
        for part, idx in (("train", tr), ("validation", va[_interleave(y[va])]), ("test", te[_interleave(y[te])]))
    }
    return to_dataset(parts, spec.frames, spec.canvas, clips["classes"])
