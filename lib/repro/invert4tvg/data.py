"""Feature videos with verb-contrast distractors, and the real annotation formats.

Introduced in ``notebooks/invert4tvg/01_data.ipynb``.

The generator (:func:`make_videos`) writes "videos" of ``frames`` steps of ``feature_dim`` features.
Each holds a target segment "person {verb} the {object}" and ``distractors`` segments that show the
*same object* under the *opposite verb* (open/close, pick/drop), so a policy that ignores
the verb can do no better than picking one of the segments at random. Every frame is
``background + noise``, where ``background`` is one random vector per video (scale ``background``)
and ``noise`` is drawn per frame; a frame inside a segment adds ``object_code + verb_strength *
verb_code``. The codes are fixed random unit vectors (a "world" shared by every split); nothing in a
frame says which segment is the target: only the query's verb does. The control set (``contrast="object"``)
swaps the roles: distractors keep the verb and change the object, so the verb is not needed.

Real formats, written and read here (tests use fixtures in exactly these formats):

* Charades-STA annotation lines ``VID start end##sentence`` (times in seconds);
* the TimeZero / Invert4TVG JSON ``{vid: {duration, timestamps: [[s, e]], sentences, verb, Missing, action}}``;
* one ``<vid>.npy`` feature array per video (``(frames, feature_dim)`` float), resampled to the
  profile's frame count.

Both the generator and the real loader return a ``datasets.Dataset`` with :data:`FEATURES`, so the
rest of the pipeline has one code path.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VERB_PAIRS = (("open", "close"), ("pick", "drop"))
VERBS = tuple(v for pair in VERB_PAIRS for v in pair)
OPPOSITE = {a: b for pair in VERB_PAIRS for a, b in (pair, pair[::-1])}
OBJECTS = ("door", "box", "drawer", "laptop")
WORLD_SEED = 2025  # the object/verb codes: one "world" for every split and data seed
CONTRASTS = ("verb", "object")


def features_schema(frames: int, feature_dim: int):
    """The typed columns of a TVG table (procedural or real)."""
    from datasets import Array2D, Features, Sequence, Value

    return Features(
        {
            "vid": Value("string"),
            "duration": Value("float32"),
            "features": Array2D(shape=(frames, feature_dim), dtype="float32"),
            "start": Value("int32"),  # target segment in frame units, [start, end): what training sees
            "end": Value("int32"),
            "start_s": Value("float32"),  # the annotation as released, in seconds: what scoring sees
            "end_s": Value("float32"),
            "sentence": Value("string"),
            "verb": Value("string"),
            "object": Value("string"),
            "distractor_start": Sequence(Value("int32")),
            "distractor_end": Sequence(Value("int32")),
            "distractor_sentence": Sequence(Value("string")),
        }
    )


def sentence(verb: str, obj: str) -> str:
    return f"person {verb} the {obj}"


def world_codes(feature_dim: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Unit-norm random codes per object and per verb (fixed by :data:`WORLD_SEED`)."""
    rng = np.random.default_rng(WORLD_SEED)
    codes = rng.normal(size=(len(OBJECTS) + len(VERBS), feature_dim))
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    return dict(zip(OBJECTS, codes[: len(OBJECTS)])), dict(zip(VERBS, codes[len(OBJECTS) :]))


def place_segments(rng: np.random.Generator, frames: int, lengths: Sequence[int]) -> list[tuple[int, int]]:
    """Non-overlapping ``[start, end)`` segments of the given lengths, in random order and gaps."""
    free = frames - int(sum(lengths))
    gaps = rng.multinomial(free, np.full(len(lengths) + 1, 1 / (len(lengths) + 1)))
    order = rng.permutation(len(lengths))
    spans, t = {}, 0
    for slot, k in enumerate(order):
        t += int(gaps[slot])
        spans[int(k)] = (t, t + int(lengths[k]))
        t += int(lengths[k])
    return [spans[k] for k in range(len(lengths))]


def make_videos(
    n: int,
    seed: int,
    *,
    frames: int,
    feature_dim: int,
    min_len: int,
    max_len: int,
    distractors: int,
    noise: float,
    verb_strength: float,
    contrast: str = "verb",
    background: float = 0.5,
):
    """``n`` procedural videos as a ``datasets.Dataset`` (see the module docstring)."""
    from datasets import Dataset

    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, not {contrast!r}")
    rng = np.random.default_rng(seed)
    object_code, verb_code = world_codes(feature_dim)
    rows = {k: [] for k in features_schema(frames, feature_dim)}
    for i in range(n):
        verb, obj = VERBS[rng.integers(len(VERBS))], OBJECTS[rng.integers(len(OBJECTS))]
        if contrast == "verb":
            others = [(OPPOSITE[verb], obj)] * distractors
        else:
            pool = [o for o in OBJECTS if o != obj]
            others = [(verb, pool[j]) for j in rng.choice(len(pool), size=distractors, replace=False)]
        lengths = rng.integers(min_len, max_len + 1, size=1 + distractors)
        spans = place_segments(rng, frames, lengths)
        x = rng.normal(size=feature_dim) * background + noise * rng.normal(size=(frames, feature_dim))
        for (v, o), (s, e) in zip([(verb, obj), *others], spans):
            x[s:e] += object_code[o] + verb_strength * verb_code[v]
        rows["vid"].append(f"{contrast[0]}{seed}_{i:05d}")
        rows["duration"].append(float(frames))
        rows["features"].append(x.astype(np.float32))
        rows["start"].append(spans[0][0])
        rows["end"].append(spans[0][1])
        rows["start_s"].append(float(spans[0][0]))  # duration = frames: one frame is one second
        rows["end_s"].append(float(spans[0][1]))
        rows["sentence"].append(sentence(verb, obj))
        rows["verb"].append(verb)
        rows["object"].append(obj)
        rows["distractor_start"].append([s for s, _ in spans[1:]])
        rows["distractor_end"].append([e for _, e in spans[1:]])
        rows["distractor_sentence"].append([sentence(v, o) for v, o in others])
    return Dataset.from_dict(rows, features=features_schema(frames, feature_dim))


# ----------------------------------------------------------------------------------------------
# the word-level vocabulary (timestamp tokens included)

SPECIALS = (
    "<pad>",
    "<eos>",
    "<sep>",
    "<answer>",
    "</answer>",
    "<think>",
    "</think>",
    "<mask>",
    "[tvg]",
    "[vc]",
    "[ar]",
    "[vd]",
)
FUNCTION_WORDS = ("person", "the", "to", "from")


@dataclass(frozen=True)
class Vocab:
    """Words, the specials, and timestamp tokens ``t0 .. t{frames}`` (frame indices)."""

    words: tuple[str, ...]

    @classmethod
    def build(cls, frames: int, content: Iterable[str] = (*VERBS, *OBJECTS)) -> Vocab:
        extra = sorted(set(content) - set(SPECIALS) - set(FUNCTION_WORDS))
        stamps = tuple(f"t{k}" for k in range(frames + 1))
        return cls((*SPECIALS, *FUNCTION_WORDS, *stamps, *extra))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def stamp(self, k: int) -> int:
        return self.index[f"t{k}"]

    def encode(self, words: Sequence[str]) -> list[int]:
        index = self.index
        unknown = [w for w in words if w not in index]
        if unknown:
            raise KeyError(f"words not in the vocabulary: {unknown}")
        return [index[w] for w in words]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]


# ----------------------------------------------------------------------------------------------
# real formats: Charades-STA lines, the TimeZero JSON, per-video .npy features

_CHARADES_LINE = re.compile(r"^(\S+) (\S+) (\S+)##(.+)$")

# Closed word classes of English (determiners, pronouns, auxiliaries and modals, prepositions,
# conjunctions; Quirk et al., *A Comprehensive Grammar of the English Language*, 1985, ch. 2), the
# subject nouns of Charades-STA's queries ("person", "a man") and the sentence adverbs its annotators
# open with ("lastly", "then"): none of them is the query's action. The verb is the first other word.
FUNCTION_WORDS_EN = frozenset(
    """a an the this that these those some another other same each every their his her its my your our
    they he she it we you i someone somebody one them him
    is are was were be been being am does do did has have had can could will would may might shall should
    in on at to from into onto off of with by for through up down out over under near around about
    behind across along while as before after then also again first next lastly finally now still just
    and or but so
    person persons people man men woman women guy girl boy lady""".split()
)


def normalise(sentence: str) -> str:
    """One normalisation for every reader: stripped, lower case, single spaces, no final period
    (as the official loader reads ``sentences``)."""
    return " ".join(sentence.strip().lower().removesuffix(".").split())


def verb_word(sentence: str) -> str | None:
    """The query's action as written: the first word that is not a function word
    (:data:`FUNCTION_WORDS_EN`), e.g. "sitting" in "a person is sitting on a chair"; None if none."""
    for word in normalise(sentence).split():
        if word.isalpha() and word not in FUNCTION_WORDS_EN:
            return word
    return None


@functools.lru_cache(maxsize=4096)  # rewards call it on every answer word
def verb_lemma(word: str) -> str:
    """The dictionary form of ``word`` read as a verb ("sits", "sitting", "sat" -> "sit"), from
    lemminflect's bundled English lexicon (offline; spaCy's lemmatiser, which the official reward uses,
    needs a downloaded model). simplemma, tried first, reads "sitting" and "closing" as nouns."""
    from lemminflect import getLemma

    lemmas = getLemma(word.lower(), upos="VERB")
    return lemmas[0] if lemmas else word.lower()


@dataclass(frozen=True)
class Annotation:
    """One query of a real annotation file: the sentence normalised (:func:`normalise`), times in
    seconds as released (an end beyond the duration is kept: scoring uses it)."""

    vid: str
    start: float
    end: float
    sentence: str
    duration: float | None = None
    verb: str | None = None


def checked(path, vid: str, start, end, duration=None) -> tuple[float, float]:
    """``(start, end)`` as floats, or a ValueError naming the file and the video: two finite numbers,
    ``0 <= start < end``, and a finite positive duration when one is given."""
    where = f"{path}: video {vid!r}"
    try:
        s, e = float(start), float(end)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: timestamp ({start!r}, {end!r}) is not two numbers") from None
    if not (np.isfinite(s) and np.isfinite(e) and 0 <= s < e):
        raise ValueError(f"{where}: timestamp ({s}, {e}) needs 0 <= start < end")
    if duration is not None:
        try:
            d = float(duration)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: duration {duration!r} is not a number") from None
        if not (np.isfinite(d) and d > 0):
            raise ValueError(f"{where}: duration {d} must be a positive number of seconds")
    return s, e


def write_charades_sta(path: Path, annotations: Iterable[Annotation]) -> None:
    """Charades-STA's ``VID start end##sentence`` lines (times with one decimal, a final period, as
    released)."""
    lines = [f"{a.vid} {a.start:.1f} {a.end:.1f}##{a.sentence}." for a in annotations]
    Path(path).write_text("\n".join(lines) + "\n")


def read_charades_sta(path: Path) -> list[Annotation]:
    """Parse Charades-STA lines; a malformed line raises naming the file, line number and video."""
    out = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        match = _CHARADES_LINE.match(line.strip())
        if not match:
            raise ValueError(f"{path}:{number}: not a Charades-STA line 'VID start end##sentence': {line!r}")
        vid, start, end, text = match.groups()
        s, e = checked(f"{path}:{number}", vid, start, end)
        out.append(Annotation(vid, s, e, normalise(text)))
    return out


def write_timezero_json(path: Path, annotations: Iterable[Annotation]) -> None:
    """The Invert4TVG JSON as its loader reads it: per video ``duration``, and per query
    ``timestamps``, ``sentences``, ``verb`` (the action as written) and ``Missing`` (the sentence
    without it), with ``action`` 0 (a grounding entry; the official Verb Completion copies are the
    ``<vid>_c`` entries with ``action`` 1)."""
    doc: dict[str, dict] = {}
    for a in annotations:
        verb = a.verb or verb_word(a.sentence)
        entry = doc.setdefault(
            a.vid, {"duration": a.duration, "timestamps": [], "sentences": [], "verb": [], "Missing": [], "action": 0}
        )
        entry["timestamps"].append([a.start, a.end])
        entry["sentences"].append(a.sentence + ".")
        entry["verb"].append(verb)
        entry["Missing"].append(" ".join(w for w in a.sentence.split() if w != verb) + ".")
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")


def read_timezero_json(path: Path) -> list[Annotation]:
    """Parse the TimeZero / Invert4TVG JSON (``verb``, ``Missing`` and ``action`` optional); the
    official Verb Completion copies (``action`` 1) are skipped: the kit builds every task from the
    grounding entry. Errors name the file and the video."""
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: expected an object keyed by video id")
    out = []
    for vid, entry in doc.items():
        missing = [k for k in ("duration", "timestamps", "sentences") if k not in entry]
        if missing:
            raise ValueError(f"{path}: video {vid!r} lacks fields {missing}")
        if entry.get("action", 0) == 1:
            continue
        stamps, texts = entry["timestamps"], entry["sentences"]
        verbs = entry.get("verb") or [None] * len(texts)
        if not (len(stamps) == len(texts) == len(verbs)):
            raise ValueError(f"{path}: video {vid!r} has {len(stamps)} timestamps but {len(texts)} sentences")
        for stamp, text, verb in zip(stamps, texts, verbs):
            if not isinstance(stamp, Sequence) or len(stamp) != 2:
                raise ValueError(f"{path}: video {vid!r}: timestamp {stamp!r} is not [start, end]")
            s, e = checked(path, vid, *stamp, entry["duration"])
            word = normalise(verb) if verb else None
            out.append(Annotation(vid, s, e, normalise(text), float(entry["duration"]), word))
    return out


def verb_of(annotation: Annotation) -> str:
    """The query's action as written: the annotation's ``verb`` if given, else :func:`verb_word`.
    A sentence of function words only raises (no action to ground or to mask)."""
    word = annotation.verb or verb_word(annotation.sentence)
    if word is None:
        raise ValueError(f"video {annotation.vid!r}: no action word in {annotation.sentence!r}")
    return word


def resample(features: np.ndarray, frames: int) -> np.ndarray:
    """Average-pool (or repeat) a ``(n, d)`` feature array onto ``frames`` equal time bins."""
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"a feature file must hold a non-empty (frames, dim) array, got shape {features.shape}")
    edges = np.linspace(0, len(features), frames + 1)
    out = np.empty((frames, features.shape[1]), np.float32)
    for k in range(frames):
        lo = int(np.floor(edges[k]))
        hi = max(lo + 1, int(np.ceil(edges[k + 1])))
        out[k] = features[lo:hi].mean(0)
    return out


def to_frames(start: float, end: float, duration: float, frames: int) -> tuple[int, int]:
    """Seconds to ``[start, end)`` frame indices on a grid of ``frames`` steps (at least one frame); an
    end beyond the duration is clipped to the last frame: the training target only (scoring keeps the
    annotation's seconds)."""
    s = int(np.clip(np.floor(start / duration * frames), 0, frames - 1))
    e = int(np.clip(np.ceil(end / duration * frames), s + 1, frames))
    return s, e


def load_real(
    annotations: Sequence[Annotation],
    feature_path,
    *,
    frames: int,
    feature_dim: int,
    durations: Mapping[str, float] | None = None,
):
    """Annotations plus per-video features as a TVG table with :func:`features_schema`.

    ``feature_path(vid)`` returns the verified path of ``<vid>.npy`` (see
    :func:`repro.core.data.verified_path`); it is read with ``allow_pickle=False`` and must hold finite
    numbers. Charades-STA lines carry no duration: ``durations`` (seconds per video) supplies it.
    ``start``/``end`` are the frames training sees; ``start_s``/``end_s`` the annotation as released,
    which scoring uses. Real data has no distractor annotations, so the verb probe is skipped.
    """
    from datasets import Dataset

    rows = {k: [] for k in features_schema(frames, feature_dim)}
    for a in annotations:
        duration = a.duration or (durations or {}).get(a.vid)
        if not duration or not np.isfinite(duration) or duration <= 0:
            raise ValueError(f"video {a.vid!r}: duration {duration!r}; give a positive one in the JSON or in durations")
        path = feature_path(a.vid)
        x = np.load(path, allow_pickle=False)
        if x.ndim != 2 or x.shape[1] != feature_dim:
            raise ValueError(f"{path}: features of {a.vid!r} have shape {x.shape}; expected (n, {feature_dim})")
        if not np.isfinite(x).all():
            raise ValueError(
                f"{path}: features of {a.vid!r} hold {int((~np.isfinite(x)).sum())} NaN or infinite values"
            )
        s, e = to_frames(a.start, a.end, duration, frames)
        words = normalise(a.sentence).split()
        rows["vid"].append(a.vid)
        rows["duration"].append(float(duration))
        rows["features"].append(resample(x.astype(np.float32), frames))
        rows["start"].append(s)
        rows["end"].append(e)
        rows["start_s"].append(a.start)
        rows["end_s"].append(a.end)
        rows["sentence"].append(" ".join(words))
        rows["verb"].append(verb_of(a))
        rows["object"].append(words[-1])
        rows["distractor_start"].append([])
        rows["distractor_end"].append([])
        rows["distractor_sentence"].append([])
    return Dataset.from_dict(rows, features=features_schema(frames, feature_dim))


def annotations_of(table) -> list[Annotation]:
    """The targets of a TVG table as annotations in seconds (to write the real formats)."""
    return [
        Annotation(r["vid"], r["start_s"], r["end_s"], r["sentence"], r["duration"], r["verb"])
        for r in table.remove_columns("features")
    ]
