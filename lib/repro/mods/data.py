"""MODS's data: a synthetic set written in the MMSA pickle schema, and the MMSA pickle reader. Both
become one ``datasets.DatasetDict`` (``train``, ``valid``, ``test``) of model-ready examples with the
same typed features (:func:`features`: padded sequences, their masks, the label and the dominant
modality), so the miniature and the ``paper`` profile feed one code path. Introduced in
``notebooks/mods/01_data.ipynb``.

**MMSA schema** (thuiar/MMSA's ``data_loader.py``, MMSA-FET's writer): a dict with ``train``,
``valid`` and ``test``, each a dict of numpy arrays over N utterances: ``text`` (N, T_l, D_t) float
features (BERT for MOSI), ``text_bert`` (N, 3, T_l) token ids / attention mask / segment ids,
``audio`` (N, T_a, D_a), ``vision`` (N, T_v, D_v), ``audio_lengths`` and ``vision_lengths`` (N,)
(unaligned files only), ``raw_text``, ``id`` and ``annotations`` (strings), ``classification_labels``
(0 negative, 1 neutral, 2 positive) and ``regression_labels`` (N,) in [-3, 3]. Aligned files have
all three sequences at the text's length and no length fields.

**The synthetic phenomenon.** Each utterance has a label y in [-3, 3] (multiples of 1/3, as averaged
annotations are) and a hidden dominant modality. The dominant modality expresses y; the other two
express a distractor sentiment correlated only ``distractor_corr`` with y. Each modality is a
sequence of *events*: a share of them carry the modality's sentiment along a sentiment direction
together with an expressiveness cue (the dominant modality shows an "expressive" direction, the
others an equally strong "flat" one), the rest are filler. Acoustic and visual sequences are long,
redundant (each event is repeated ``redundancy`` frames on average) and noisy; text is short and
cleaner. Which modality dominates is therefore readable only from *what* a modality shows, not from
its energy: norms and variances are matched by construction (the evaluation reports a trivial
probe on those statistics). The generator never writes the answer into the features; the
``dominant`` key (ours, not MMSA's; ignored by MMSA) exists only to score the selector.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Array2D, Dataset, DatasetDict, Features, Sequence, Value

from repro.core.data import Manifest, load_manifest, restricted_load, verified_path
from repro.core.steps import atomic_path
from repro.mods.config import ModsConfig

MODALITIES = ("text", "audio", "vision")  # index = the dominant-modality code
LABEL_RANGE = 3.0  # MOSI / MOSEI sentiment in [-3, 3] (SIMS: [-1, 1])
SPLITS = ("train", "valid", "test")
TEXT_NOISE = 0.3  # text is cleaner than acoustic/visual frames
TEXT_SIGNAL_FRACTION = 0.3
SENTIMENT_GAIN = 1.5  # a fully positive event moves 1.5 units along the sentiment direction
ANNOTATIONS = np.array(["Negative", "Neutral", "Positive"])


@dataclass(frozen=True)
class SynthSpec:
    """The generator's knobs (a slice of the config)."""

    text_len: int = 24
    av_len: int = 96
    text_dim: int = 32
    audio_dim: int = 16
    vision_dim: int = 20
    noise: float = 1.0
    redundancy: int = 4
    signal_fraction: float = 0.25
    distractor_corr: float = 0.3

    @classmethod
    def from_config(cls, cfg: ModsConfig) -> SynthSpec:
        """The generator's slice of a config (the fields of the same names)."""
        return cls(**{f: getattr(cfg, f) for f in cls.__dataclass_fields__})

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.text_dim, self.audio_dim, self.vision_dim)


def world(spec: SynthSpec, seed: int) -> list[np.ndarray]:
    """Per modality three orthonormal directions: sentiment, expressive cue, flat cue (rows)."""
    rng = np.random.default_rng([seed, 7919])
    return [np.linalg.qr(rng.standard_normal((d, 3)))[0].T for d in spec.dims]


def sentiment_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Labels in [-3, 3] on a 1/3 grid (MOSI averages annotators' integer scores)."""
    return np.round(rng.uniform(-3, 3, n) * 3) / 3


def _sequences(
    directions: np.ndarray,
    expressed: np.ndarray,
    expressive: np.ndarray,
    lengths: np.ndarray,
    max_len: int,
    repeats: np.ndarray,
    signal_fraction: float,
    noise: float,
    rng: np.random.Generator,
    noise_rng: np.random.Generator,
) -> np.ndarray:
    """(N, max_len, D) frames: events repeated ``repeats`` frames each, zero after each length."""
    n, dim = len(expressed), directions.shape[1]
    sentiment, cue_on, cue_off = directions
    n_events = -(-max_len // repeats.min())
    carries = rng.random((n, n_events)) < signal_fraction
    carries[np.arange(n), rng.integers(0, np.maximum(1, lengths // repeats))] = True  # at least one
    filler = rng.standard_normal((n, n_events, dim)) / np.sqrt(dim)
    cue = np.where(expressive[:, None], 1.0, 0.0) * cue_on + np.where(expressive[:, None], 0.0, 1.0) * cue_off
    signal = SENTIMENT_GAIN * (expressed / 3)[:, None] * sentiment + cue
    events = np.where(carries[..., None], signal[:, None, :] + 0.3 * filler, filler)
    event_of_frame = np.minimum(np.arange(max_len)[None, :] // repeats[:, None], n_events - 1)
    frames = np.take_along_axis(events, event_of_frame[..., None], axis=1)
    frames = frames + noise * noise_rng.standard_normal(frames.shape) / np.sqrt(dim)
    frames[np.arange(max_len)[None, :] >= lengths[:, None]] = 0.0
    return frames.astype(np.float32)


def generate_split(
    spec: SynthSpec, n: int, seed: int, *, language_always: bool, noise_scale: float = 1.0, world_seed: int = 0
) -> dict[str, np.ndarray]:
    """One split in the MMSA schema (unaligned). The noise comes from its own stream, so the same
    ``seed`` at another ``noise_scale`` gives the same labels, dominants and events (a paired sweep)."""
    rng, noise_rng = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    dirs = world(spec, world_seed)
    y = sentiment_labels(n, rng)
    dominant = np.zeros(n, np.int64) if language_always else rng.integers(0, 3, n)
    rho = spec.distractor_corr
    split: dict[str, np.ndarray] = {}
    for m, name in enumerate(MODALITIES):
        distractor = np.clip(rho * y + np.sqrt(1 - rho**2) * sentiment_labels(n, rng), -3, 3)
        expressed = np.where(dominant == m, y, distractor)
        if name == "text":
            max_len, repeats = spec.text_len, np.ones(n, np.int64)
            lengths = rng.integers(max(1, spec.text_len // 2), spec.text_len + 1, n)
            fraction, noise = TEXT_SIGNAL_FRACTION, TEXT_NOISE * spec.noise * noise_scale
        else:
            max_len = spec.av_len
            lengths = rng.integers(max(1, int(0.6 * spec.av_len)), spec.av_len + 1, n)
            repeats = rng.integers(max(1, spec.redundancy // 2), spec.redundancy + spec.redundancy // 2 + 1, n)
            fraction, noise = spec.signal_fraction, spec.noise * noise_scale
        split[name] = _sequences(
            dirs[m], expressed, dominant == m, lengths, max_len, repeats, fraction, noise, rng, noise_rng
        )
        if name == "text":
            text_lengths = lengths
        else:
            split[f"{name}_lengths"] = lengths.astype(np.int64)
    split["text_bert"] = _text_bert(text_lengths, spec.text_len, rng)
    split["raw_text"] = np.array([f"synthetic utterance {seed}-{i}" for i in range(n)])
    split["id"] = np.array([f"synth{seed}$_${i}" for i in range(n)])
    cls = np.sign(y).astype(np.int64) + 1
    split["annotations"] = ANNOTATIONS[cls]
    split["classification_labels"] = cls.astype(np.float32)
    split["regression_labels"] = y.astype(np.float32)
    split["dominant"] = dominant  # ours, not MMSA's: only to score the selector
    return split


def _text_bert(lengths: np.ndarray, max_len: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 3, T_l) as MMSA stores it: token ids ([CLS] ... [SEP], 0 after), attention mask, segment ids."""
    n = len(lengths)
    positions = np.arange(max_len)[None, :]
    mask = (positions < lengths[:, None]).astype(np.float32)
    ids = rng.integers(1000, 30000, (n, max_len)).astype(np.float32)
    ids[:, 0] = 101
    ids[np.arange(n), lengths - 1] = 102
    return np.stack([ids * mask, mask, np.zeros_like(mask)], axis=1)


def synthetic_dataset(
    spec: SynthSpec, sizes: Mapping[str, int], data_seed: int, *, language_always: bool
) -> dict[str, dict[str, np.ndarray]]:
    """Splits of these ``sizes`` (train, valid, test) in the MMSA schema (the data step's varying
    set and its control)."""
    offset = 100 if language_always else 0
    return {
        split: generate_split(
            spec, n, seed=data_seed * 1000 + offset + i, language_always=language_always, world_seed=data_seed
        )
        for i, (split, n) in enumerate(sizes.items())
    }


def noise_sweep(
    spec: SynthSpec, n_test: int, scales: tuple[float, ...], data_seed: int
) -> dict[str, dict[str, np.ndarray]]:
    """The varying set's test split (``n_test`` utterances) regenerated at each noise multiplier
    (same labels and events)."""
    return {
        f"noise{scale:g}": generate_split(
            spec, n_test, seed=data_seed * 1000 + 2, language_always=False, noise_scale=scale, world_seed=data_seed
        )
        for scale in scales
    }


# ----------------------------------------------------------------------------------------------
# MMSA pickles


def save_pickle(obj: Any, path: Path) -> None:
    """Write an MMSA-style pickle atomically (numpy arrays and plain containers only)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(pickle.dumps(obj, protocol=4))


def read_pickle(path: Path) -> dict:
    """An MMSA pickle through the restricted unpickler (numpy arrays and containers, nothing else).
    Real files reach this only through :func:`load_mmsa`, after their sha256 matched."""
    data = restricted_load(Path(path))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an MMSA pickle is a dict of splits, got {type(data).__name__}")
    return data


def load_mmsa(name: str, rel: str, root: Path | None = None, manifest: Manifest | None = None) -> DatasetDict:
    """A real MMSA pickle (``data_manifests/<name>.yaml``), opened only after its sha256 matched, as
    the same ``DatasetDict`` the generator's sets become (:func:`to_dataset`)."""
    manifest = manifest or load_manifest(name)
    path = verified_path(manifest, rel, root)
    data = read_pickle(path)
    missing = [s for s in SPLITS if s not in data]
    if missing:
        raise ValueError(f"{path}: not an MMSA pickle, splits {missing} missing (found {sorted(data)})")
    return to_dataset({split: data[split] for split in SPLITS}, f"{path.name}")


def features(lengths: Mapping[str, int], dims: Mapping[str, int]) -> Features:
    """Model-ready examples: a padded (T, D) float32 sequence and a (T,) boolean mask per modality,
    the label (float32 in [-3, 3]) and the dominant modality (int64; -1 where unknown)."""
    columns = {}
    for m in MODALITIES:
        columns[m] = Array2D(shape=(lengths[m], dims[m]), dtype="float32")
        columns[f"{m}_mask"] = Sequence(Value("bool"), length=lengths[m])
    return Features({**columns, "label": Value("float32"), "dominant": Value("int64")})


def to_dataset(splits: Mapping[str, Mapping[str, Any]], where: str = "data") -> DatasetDict:
    """MMSA splits (the generator's or a real file's) -> a ``DatasetDict`` of :func:`tensors`'
    model inputs with typed :func:`features` (float32 sequences are stored exactly)."""
    out = {}
    for name, split in splits.items():
        rows = {k: v.numpy() for k, v in tensors(split, f"{where}/{name}").items()}
        shapes = {m: rows[m].shape for m in MODALITIES}
        feats = features({m: s[1] for m, s in shapes.items()}, {m: s[2] for m, s in shapes.items()})
        out[name] = Dataset.from_dict(rows, features=feats)
    return DatasetDict(out)


def dataset_tensors(dataset: Dataset) -> dict[str, torch.Tensor]:
    """Every column of a split as one tensor (the training and evaluation input)."""
    return dict(dataset.with_format("torch")[:])


def tensors(split: Mapping[str, Any], where: str = "split") -> dict[str, torch.Tensor]:
    """Model inputs from one MMSA split: sequences (float32), boolean masks, labels, and the
    dominant modality where known (-1 otherwise). Checks every field it uses and names what is wrong.

    Masks: unaligned files give ``audio_lengths`` / ``vision_lengths``; the text mask is
    ``text_bert``'s attention-mask row when present, else the non-zero rows of ``text``; aligned
    files (no lengths) share the text mask. -inf audio values become 0, as MMSA's loader does (and
    nothing else: MMSA zeroes no other value); any other non-finite value, a label outside [-3, 3]
    (MOSI / MOSEI's range; SIMS' [-1, 1] lies inside it) or a length that is not a whole number is an
    error that names the field.
    """
    missing = [k for k in ("text", "audio", "vision", "regression_labels") if k not in split]
    if missing:
        raise ValueError(f"{where}: MMSA fields {missing} missing (found {sorted(split)})")
    seqs = {}
    for key in MODALITIES:
        arr = np.asarray(split[key])
        if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{where}: {key!r} must be a numeric (N, T, D) array, got {arr.dtype} {arr.shape}")
        arr = arr.astype(np.float32)  # a copy: the caller's arrays are left as they are
        if key == "audio":
            arr[arr == -np.inf] = 0.0
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(f"{where}: {key!r} has {int(bad.sum())} non-finite values (only -inf in audio is zeroed)")
        seqs[key] = arr
    n = len(seqs["text"])
    labels = np.asarray(split["regression_labels"], dtype=np.float32).reshape(-1)
    if not np.isfinite(labels).all() or np.abs(labels).max(initial=0) > LABEL_RANGE:
        raise ValueError(f"{where}: regression_labels must be finite and in [-{LABEL_RANGE}, {LABEL_RANGE}]")
    sizes = {k: len(v) for k, v in seqs.items()} | {"regression_labels": len(labels)}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{where}: fields disagree on the number of utterances: {sizes}")
    out = {k: torch.from_numpy(v) for k, v in seqs.items()}
    out["text_mask"] = _text_mask(split, seqs["text"], where)
    aligned = "audio_lengths" not in split and "vision_lengths" not in split
    for key in ("audio", "vision"):
        length = seqs[key].shape[1]
        if aligned:
            if length != seqs["text"].shape[1]:
                raise ValueError(f"{where}: no {key}_lengths, yet {key} ({length}) is not aligned to text")
            out[f"{key}_mask"] = out["text_mask"].clone()
            continue
        if f"{key}_lengths" not in split:
            raise ValueError(f"{where}: unaligned file without {key}_lengths")
        lengths = np.asarray(split[f"{key}_lengths"]).reshape(-1)
        if not np.issubdtype(lengths.dtype, np.number) or not np.array_equal(lengths, np.round(lengths)):
            raise ValueError(f"{where}: {key}_lengths must be whole numbers, got {lengths.dtype} {lengths[:5]}")
        lengths = lengths.astype(np.int64)
        if len(lengths) != n or lengths.min(initial=0) < 0 or lengths.max(initial=0) > length:
            raise ValueError(f"{where}: {key}_lengths must be N={n} values in [0, {length}]")
        out[f"{key}_mask"] = _mask(lengths, length)
    out["label"] = torch.from_numpy(labels)
    out["dominant"] = torch.from_numpy(np.asarray(split.get("dominant", np.full(n, -1)), dtype=np.int64))
    return out


def _mask(lengths: np.ndarray, length: int) -> torch.Tensor:
    """Valid positions; an empty sequence keeps its first (zero) frame so attention stays defined."""
    mask = torch.arange(length)[None, :] < torch.as_tensor(np.maximum(lengths, 1), dtype=torch.long)[:, None]
    return mask


def _text_mask(split: Mapping[str, Any], text: np.ndarray, where: str) -> torch.Tensor:
    bert = split.get("text_bert")
    if bert is not None:
        bert = np.asarray(bert)
        if bert.ndim != 3 or bert.shape[0] != len(text) or bert.shape[1] != 3:
            raise ValueError(f"{where}: text_bert must be (N, 3, T_l), got {bert.shape}")
        if bert.shape[2] == text.shape[1]:
            mask = torch.from_numpy(bert[:, 1] > 0)
            mask[:, 0] = True
            return mask
    mask = torch.from_numpy(np.abs(text).sum(-1) > 0)
    mask[:, 0] = True
    return mask
