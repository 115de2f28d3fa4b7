"""LingoLoop's data: procedural scenes with captions whose words carry part-of-speech tags by
construction, the POS -> P(EOS) table, and a COCO captions (``captions_val2017.json``) loader.
Introduced in ``notebooks/lingoloop/01_data.ipynb``.

No tagger data can be read offline, so the caption grammar owns the tags. The phenomenon LingoLoop
exploits is that an end-of-sequence token follows some parts of speech far more often than others.
The honesty guard (docs/papers/lingoloop.md): if EOS only ever followed a noun, POS weighting would
equal uniform weighting. So the grammar has five sentence templates that end after five different
parts of speech (noun, adjective, verb, adverb, number), each of those parts of speech also occurs
mid-sentence, and the templates are drawn at unequal rates: P(EOS | POS) differs per POS and is
zero after determiners, prepositions and conjunctions.

A scene is a 32x32 RGB image: one to three copies of a shape (circle, square, triangle) of one
colour and size in one half of the image (left, right, top, bottom), on one of five background
textures. The texture decides the first clause's template (so the clean victim can learn where its
sentence ends); ``noise`` (Gaussian pixel noise) is the generator's difficulty knob.

Captions are open-ended, as real captions are: after each clause the caption continues with
"and <the next clause>" with probability ``CONTINUE_PROB * CONTINUE_DECAY**(k - 1)`` after clause k
(0.6, 0.57, 0.54, ...), the k-th clause using template ``(t + 2k) mod 5``, so a chain that never
stops cycles through the five templates (a loop of five clauses, ~55 tokens). Where the caption
stops is visual: a strip along the top edge of the scene has one of six colours. For a chain of
at most five clauses it names the template of the last clause (the first clause with that template
is the last one), so at every clause end the victim compares the clause it has just written (its
last word's part of speech says which template) with the strip and chooses between EOS and "and":
a local decision, the one an energy-latency attack fights over. A longer chain (the decaying tail,
~5% of scenes) shows the sixth colour, and its caption is cut after ``MAX_CLAUSES`` = 6 clauses with
no EOS, as long training texts are cut at a context length: the victim never sees where such a
caption ends. The six colours are corners of the RGB cube, 1.0 apart in at least one channel, so no
perturbation inside an L_inf ball of eps < 0.5 can repaint one code as another: an attack has to
lengthen captions through the victim's features, not by redrawing its length cue (issue 31: grey
shades 0.1 apart inside eps 0.125 let end-token attacks repaint the strip, and 3 of 12 evaluation
scenes sat one shade from "never stop").
(Earlier designs: a grey strip of six shades 0.1 apart, see above; at most two clauses, so no attack
could go past ~25 tokens and "outputs at the cap" and loops could not be tested; then one white
tick per extra clause, which asked a 2-layer decoder to count its own clauses and was not learned
at the cpu budget: its captions all stopped after one clause and no perturbation moved its EOS;
before both, EOS fixed by the grammar alone, with gradients of ~1e-6.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Array3D, ClassLabel, Dataset, Features, Sequence, Value

from repro.core.data import Manifest, verified_path

# ----------------------------------------------------------------------------------------------
# lexicon and grammar

SPECIAL = ("<pad>", "<bos>", "<eos>", "<image>")
PAD, BOS, EOS, IMAGE = range(4)
COUNTS = ("one", "two", "three")
SIZES = ("small", "big")
COLORS = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1)}
SHAPES = ("circle", "square", "triangle")
PLACES = ("left", "right", "top", "bottom")
LEXICON = {
    **{w: "NUM" for w in COUNTS},
    **{w: "ADJ" for w in (*SIZES, *COLORS)},
    **{w: "NOUN" for w in (*SHAPES, *(s + "s" for s in SHAPES), *PLACES, "picture")},
    **{w: "VERB" for w in ("is", "are", "glow", "glows", "rest", "rests", "number", "numbers")},
    **{w: "ADV" for w in ("very", "quietly")},
    **{w: "DET" for w in ("a", "the")},
    **{w: "PREP" for w in ("on", "of", "in")},
    "and": "CONJ",
}
POS_TAGS = ("BOS", "DET", "NUM", "ADJ", "NOUN", "VERB", "ADV", "PREP", "CONJ", "SPECIAL")
# template -> the POS its sentence ends on (the texture of the background decides the template)
TEMPLATE_END = ("NOUN", "ADJ", "VERB", "ADV", "NUM")
TEMPLATE_PROBS = (0.3, 0.25, 0.2, 0.15, 0.1)  # unequal on purpose: EOS rates differ per POS
CONTINUE_PROB = 0.6  # P(a second clause)
CONTINUE_DECAY = 0.95  # each further clause is this much less likely than the one before
NAMED_CLAUSES = 5  # chains up to this long end where the strip says (one cycle of the templates)
MAX_CLAUSES = 6  # longer chains are cut here, with no EOS (the tail the victim never sees end)
CHAIN_LIMIT = 64  # where the draw of a chain's length stops (P(reaching it) < 1e-20)
# the top strip's colour per last-clause template, and for a chain longer than NAMED_CLAUSES: corners
# of the RGB cube, every pair 1.0 apart in some channel (no eps < 0.5 turns one into another)
END_COLOURS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0), (0.0, 1.0, 1.0))
LONG_COLOUR = (1.0, 0.0, 1.0)
STRIP_ROWS = 2  # rows of the top strip


@dataclass(frozen=True)
class Vocab:
    """Word-level vocabulary: the four special tokens, then the lexicon's words (sorted)."""

    words: tuple[str, ...]

    @classmethod
    def build(cls) -> Vocab:
        return cls((*SPECIAL, *sorted(LEXICON)))

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, caption: str) -> list[int]:
        index = self.index
        unknown = [w for w in caption.split() if w not in index]
        if unknown:
            raise ValueError(f"words outside the vocabulary: {unknown}")
        return [index[w] for w in caption.split()]

    def decode(self, ids, stop_at_eos: bool = True) -> str:
        words = []
        for i in ids:
            if stop_at_eos and int(i) == EOS:
                break
            if int(i) != PAD:
                words.append(self.words[int(i)])
        return " ".join(words)

    def pos_of_ids(self) -> np.ndarray:
        """POS index (into POS_TAGS) of every token id; BOS is its own tag, other specials SPECIAL."""
        tags = [("BOS" if w == "<bos>" else "SPECIAL") if w in SPECIAL else LEXICON[w] for w in self.words]
        return np.array([POS_TAGS.index(t) for t in tags], dtype=np.int64)


def caption(template: int, count: int, size: str, color: str, shape: str, place: str) -> str:
    """One sentence about a scene: 9-12 words, ending after the template's part of speech."""
    n, plural = COUNTS[count - 1], count > 1
    noun = shape + ("s" if plural else "")
    be, glow, rest, number = ("are", "glow", "rest", "number") if plural else ("is", "glows", "rests", "numbers")
    words = {
        0: f"{n} {size} {color} {noun} {be} on the {place} of the picture",
        1: f"in the picture the {noun} on the {place} {be} {size} and {color}",
        2: f"{n} {size} {color} {noun} on the {place} of the picture {glow}",
        3: f"{n} {size} {color} {noun} {rest} on the {place} very quietly",
        4: f"the {size} {color} {noun} on the {place} of the picture {number} {n}",
    }[template]
    return words


def chained_caption(template: int, clauses: int, **attrs) -> str:
    """``clauses`` clauses joined by "and", the k-th (from 0) with template ``(template + 2k) mod 5``."""
    return " and ".join(caption((template + 2 * k) % len(TEMPLATE_END), **attrs) for k in range(clauses))


def n_clauses(rng) -> int:
    """1 + the number of continuations, each ``CONTINUE_DECAY`` times less likely than the last
    (open-ended: the caption of a chain longer than ``MAX_CLAUSES`` is cut, see :func:`make_scenes`)."""
    k = 1
    while k < CHAIN_LIMIT and rng.random() < CONTINUE_PROB * CONTINUE_DECAY ** (k - 1):
        k += 1
    return k


# ----------------------------------------------------------------------------------------------
# scenes


def _background(template: int, size: int) -> np.ndarray:
    """One grey texture per template: plain, horizontal stripes, vertical stripes, checks, dots."""
    yy, xx = np.mgrid[:size, :size]
    pattern = {
        0: np.zeros((size, size)),
        1: (yy // 2) % 2,
        2: (xx // 2) % 2,
        3: ((yy // 4) + (xx // 4)) % 2,
        4: ((yy % 4 == 0) & (xx % 4 == 0)).astype(float),
    }[template]
    return 0.12 + 0.22 * pattern


def _shape_mask(shape: str, cy: float, cx: float, r: float, size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] + 0.5
    if shape == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    if shape == "square":
        return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    # triangle, apex up
    return (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)


def last_template(template: int, clauses: int) -> int:
    """The template of a chain's last clause."""
    return (template + 2 * (clauses - 1)) % len(TEMPLATE_END)


def strip_colour(template: int, clauses: int) -> tuple[float, float, float]:
    """The top strip's RGB colour: the last clause's template for chains of up to ``NAMED_CLAUSES``,
    else ``LONG_COLOUR``."""
    return END_COLOURS[last_template(template, clauses)] if clauses <= NAMED_CLAUSES else LONG_COLOUR


def render(
    template: int,
    count: int,
    size: str,
    color: str,
    shape: str,
    place: str,
    rng,
    image_size: int = 32,
    clauses: int = 1,
):
    """A float image (3, S, S) in [0, 1]: ``count`` shapes spread along the chosen half, under a
    strip on the top edge whose colour tells where the caption ends (:func:`strip_colour`)."""
    img = np.repeat(_background(template, image_size)[None], 3, axis=0)
    half = image_size / 2
    radius = (2.6 if size == "small" else 4.2) * image_size / 32
    along = (np.arange(count) + 0.5) * image_size / count + rng.uniform(-1, 1, count)
    across = half / 2 + rng.uniform(-1.5, 1.5, count) + (half if place in ("right", "bottom") else 0)
    for a, c in zip(along, across):
        cy, cx = (a, c) if place in ("left", "right") else (c, a)
        mask = _shape_mask(shape, cy, cx, radius, image_size)
        img[:, mask] = np.asarray(COLORS[color])[:, None]
    img[:, :STRIP_ROWS] = np.asarray(strip_colour(template, clauses))[:, None, None]  # drawn last: never hidden
    return img


@dataclass(frozen=True)
class SceneSet:
    """Images (N, 3, S, S) float32 in [0, 1], caption token ids (N, L) padded with PAD and ending
    in EOS (but the cut ones, longer than ``MAX_CLAUSES`` clauses), each scene's template (its first
    sentence's) and its caption text."""

    images: np.ndarray
    tokens: np.ndarray
    templates: np.ndarray
    captions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)


def make_scenes(n: int, seed: int, image_size: int = 32, noise: float = 0.03) -> SceneSet:
    """``n`` seeded scenes with their captions; ``noise`` is the std of Gaussian pixel noise."""
    rng = np.random.default_rng(seed)
    vocab = Vocab.build()
    images, captions, templates, ends = [], [], [], []
    for _ in range(n):
        t = int(rng.choice(len(TEMPLATE_END), p=TEMPLATE_PROBS))
        attrs = dict(
            count=int(rng.integers(1, 4)),
            size=SIZES[rng.integers(len(SIZES))],
            color=list(COLORS)[rng.integers(len(COLORS))],
            shape=SHAPES[rng.integers(len(SHAPES))],
            place=PLACES[rng.integers(len(PLACES))],
        )
        clauses = n_clauses(rng)
        images.append(render(t, **attrs, rng=rng, image_size=image_size, clauses=clauses))
        captions.append(chained_caption(t, min(clauses, MAX_CLAUSES), **attrs))
        templates.append(t)
        ends.append(clauses <= NAMED_CLAUSES)
    x = np.clip(np.stack(images) + noise * rng.standard_normal((n, 3, image_size, image_size)), 0, 1)
    encoded = [vocab.encode(c) + [EOS] * end for c, end in zip(captions, ends)]
    tokens = np.full((n, max(map(len, encoded))), PAD, dtype=np.int64)
    for i, ids in enumerate(encoded):
        tokens[i, : len(ids)] = ids
    return SceneSet(x.astype(np.float32), tokens, np.array(templates), tuple(captions))


def scene_features(image_size: int, caption_len: int) -> Features:
    """The typed columns of a scene table: the image as stored (uint8 pixels, exactly what the float
    images round to), the caption's token ids padded to the set's longest, the first clause's
    template (named by the part of speech it ends on) and the caption text."""
    return Features(
        {
            "image": Array3D((3, image_size, image_size), "uint8"),
            "tokens": Sequence(Value("int64"), length=caption_len),
            "template": ClassLabel(names=list(TEMPLATE_END)),
            "caption": Value("string"),
        }
    )


def to_dataset(scenes: SceneSet) -> Dataset:
    """A scene set as a ``datasets.Dataset`` with :func:`scene_features` (pixels stored as uint8)."""
    features = scene_features(scenes.images.shape[-1], scenes.tokens.shape[1])
    columns = {
        "image": (scenes.images * 255).round().astype(np.uint8),
        "tokens": scenes.tokens,
        "template": scenes.templates,
        "caption": list(scenes.captions),
    }
    return Dataset.from_dict(columns, features=features)


def from_dataset(dataset: Dataset) -> SceneSet:
    """A ``Dataset`` with :func:`scene_features` back as a :class:`SceneSet` (float images in [0, 1])."""
    rows = dataset.with_format("numpy")[:]
    images = rows["image"].astype(np.float32) / 255
    return SceneSet(images, rows["tokens"].astype(np.int64), rows["template"], tuple(map(str, rows["caption"])))


# ----------------------------------------------------------------------------------------------
# the POS statistics table


def eos_table(tokens: np.ndarray, pos_of_id: np.ndarray, eos_id: int = EOS, bos_pos: int | None = None) -> np.ndarray:
    """P(EOS | POS of the previous token) per POS tag, from caption token ids (N, L).

    Each row is read as ``<bos> w_1 ... w_k <eos> <pad>...``; a position counts once for the POS of
    the token before it (the first word's predecessor is BOS). Tags never seen get 0.
    """
    tokens = np.asarray(tokens)
    bos_pos = POS_TAGS.index("BOS") if bos_pos is None else bos_pos
    prev = np.concatenate([np.full((len(tokens), 1), -1), tokens[:, :-1]], axis=1)
    valid = np.ones_like(tokens, dtype=bool)
    ended = np.cumsum(tokens == eos_id, axis=1) - (tokens == eos_id)  # EOS seen strictly before
    valid &= (ended == 0) & (tokens != PAD)  # a cut caption has no EOS: its padding is no position
    prev_pos = np.where(prev < 0, bos_pos, pos_of_id[np.clip(prev, 0, None)])
    n_tags = max(len(POS_TAGS), int(pos_of_id.max()) + 1)
    total = np.bincount(prev_pos[valid], minlength=n_tags).astype(float)
    eos = np.bincount(prev_pos[valid & (tokens == eos_id)], minlength=n_tags).astype(float)
    return np.divide(eos, total, out=np.zeros_like(eos), where=total > 0)


def pos_weights(table: np.ndarray) -> np.ndarray:
    """w(POS) = P(EOS | POS) / sum over POS: the weights of LingoLoop's POS-weighted EOS loss."""
    if table.sum() <= 0:
        raise ValueError("the EOS table is all zeros: no caption ended")
    return table / table.sum()


def token_weights(table: np.ndarray, pos_of_id: np.ndarray) -> torch.Tensor:
    """w(POS(token)) for every token id (V,): looked up by the previous token in the attack."""
    return torch.as_tensor(pos_weights(table)[pos_of_id], dtype=torch.float32)


# ----------------------------------------------------------------------------------------------
# COCO captions (the paper's evaluation data)

COCO_ANNOTATIONS_ZIP = "annotations_trainval2017.zip"
COCO_IMAGES_ZIP = "val2017.zip"
COCO_CAPTIONS_MEMBER = "annotations/captions_val2017.json"


@dataclass(frozen=True)
class CocoImage:
    id: int
    file_name: str
    captions: tuple[str, ...]


def parse_coco_captions(text: str | bytes, source: str = "captions file") -> list[CocoImage]:
    """Images and their captions from COCO captions JSON (``captions_val2017.json`` format):
    ``{"images": [{"id", "file_name", ...}], "annotations": [{"id", "image_id", "caption"}], ...}``.
    Images without a caption are dropped; a caption naming an unknown image is an error."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: not valid JSON ({err}); truncated, or not a COCO captions file") from err
    if not isinstance(doc, dict) or not {"images", "annotations"} <= set(doc):
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{source}: a COCO captions file needs 'images' and 'annotations', found {found}")
    images = {}
    for i, img in enumerate(doc["images"]):
        missing = {"id", "file_name"} - set(img)
        if missing:
            raise ValueError(f"{source}: images[{i}] lacks {sorted(missing)}")
        images[img["id"]] = img["file_name"]
    captions: dict[int, list[str]] = {}
    for i, ann in enumerate(doc["annotations"]):
        missing = {"image_id", "caption"} - set(ann)
        if missing:
            raise ValueError(f"{source}: annotations[{i}] lacks {sorted(missing)}")
        if ann["image_id"] not in images:
            raise ValueError(f"{source}: annotations[{i}] refers to unknown image_id {ann['image_id']}")
        if not isinstance(ann["caption"], str):
            raise ValueError(f"{source}: annotations[{i}] caption is {ann['caption']!r}, not text")
        captions.setdefault(ann["image_id"], []).append(ann["caption"].strip())
    return [CocoImage(i, images[i], tuple(captions[i])) for i in sorted(captions)]


def decode_image(data: bytes, size: int) -> torch.Tensor:
    """An encoded image as RGB float (3, size, size) in [0, 1]: shorter side resized to ``size``,
    centre crop (what CLIP-style processors do; the attack then perturbs these pixels)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        scale = size / min(im.size)
        im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))), Image.BICUBIC)
        left, top = (im.width - size) // 2, (im.height - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1).contiguous()


def coco_eval_set(manifest: Manifest, n: int, size: int, root: Path | None = None):
    """The first ``n`` captioned COCO val2017 images (by id), read straight from the two official zips
    after their sha256 matched the manifest (nothing unverified is opened, nothing is extracted):
    ``(images (n, 3, size, size), [CocoImage])``."""
    import zipfile

    with zipfile.ZipFile(verified_path(manifest, COCO_ANNOTATIONS_ZIP, root)) as z:
        entries = parse_coco_captions(z.read(COCO_CAPTIONS_MEMBER), COCO_CAPTIONS_MEMBER)[:n]
    with zipfile.ZipFile(verified_path(manifest, COCO_IMAGES_ZIP, root)) as z:
        images = [decode_image(z.read(f"val2017/{e.file_name}"), size) for e in entries]
    return torch.stack(images), entries
