"""The miniature's medical world: four imaging domains, their findings, captions and the MGTIL-mini
task stream. Pure numpy, no torch. Introduced in ``notebooks/mgtil/01_data.ipynb``.

**Images.** Each domain is drawn by a small vectorised renderer on a unit square (so any image size
works): a chest x-ray (grey lung fields, bright findings), a histopathology slide (pink tissue whose
texture is the finding), a fundus photograph (orange retina, an optic disc whose cup-to-disc ratio
grades glaucoma, or lesions), a dermoscopy image (skin with one lesion). Findings that have a size
come in ``small`` and ``large`` (radius x0.75 and x1.3). Every sample jitters position, radius,
intensity and noise, so no pixel is a label.

**Captions.** A database caption names the modality and the finding from one of a few templates; it
names the size only with probability ``attribute_rate`` (fine attributes are rare in figure
captions, which is what makes the fine-grained tasks hard for the pretrained model).

**Tasks and the shift.** A task is a classification problem inside one domain. Its images pass
through the task's *acquisition*: a contrast change, a colour cast and extra noise whose strength is
``shift`` (0 = the database's own rendering). That shift is what continual fine-tuning has to learn
and what makes it forget: the generator encodes the phenomenon (a pretrained model that transfers,
downstream shifts that reward adaptation), never which method should win.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODALITY = {
    "xray": "chest x-ray",
    "pathology": "histopathology slide",
    "fundus": "fundus photograph",
    "dermoscopy": "dermoscopy image",
}
DOMAINS = tuple(MODALITY)  # the procedural world's domains (the released stream's are added below)
FINDINGS = {
    "xray": ("normal lungs", "nodule", "effusion", "mass"),
    "pathology": ("tumor", "stroma", "lymphocytes", "necrosis"),
    "fundus": ("healthy disc", "mild cupping", "severe cupping", "drusen", "hemorrhage"),
    "dermoscopy": ("nevus", "melanoma", "keratosis", "vascular lesion"),
}
SIZED = {"nodule", "effusion", "mass", "nevus", "melanoma", "keratosis", "vascular lesion", "drusen", "hemorrhage"}
SIZES = ("small", "large")
TEMPLATES = (
    "a {modality} showing {finding}",
    "{finding} seen on a {modality}",
    "{modality} of a patient with {finding}",
    "figure : {modality} with {finding}",
)
PROMPT = "a {modality} showing {finding}"
GENERAL_QUERY = "a medical image"


@dataclass(frozen=True)
class Task:
    """One classification task: a name, its domain, its class names (finding, or "size finding"),
    and whether the paper would call it fine-grained or hard (used to report the fine-grained Avg)."""

    name: str
    domain: str
    classes: tuple[str, ...]
    fine: bool = False

    source: str = ""  # the released stream's MedMNIST subset (its file is data_manifests/medmnist.yaml's)

    def prompts(self) -> list[str]:
        return [PROMPT.format(modality=MODALITY[self.domain], finding=c) for c in self.classes]

    def parse(self, label: str) -> tuple[str, str | None]:
        """(finding, size or None) of a class name."""
        head, _, tail = label.partition(" ")
        return (tail, head) if head in SIZES else (label, None)


TASKS = {
    "xray": Task("xray", "xray", FINDINGS["xray"]),
    "derm": Task("derm", "dermoscopy", FINDINGS["dermoscopy"]),
    "glaucoma": Task("glaucoma", "fundus", ("healthy disc", "mild cupping", "severe cupping"), fine=True),
    "tissue": Task("tissue", "pathology", FINDINGS["pathology"]),
    "derm_size": Task(
        "derm_size",
        "dermoscopy",
        tuple(f"{s} {f}" for f in FINDINGS["dermoscopy"] for s in SIZES),
        fine=True,
    ),
}
# Order I mixes cross-domain switches, the fine-grained grading task and, last, the hard 8-class task;
# order II visits the same tasks with the hard ones early.
ORDERS = {
    "order1": ("xray", "derm", "glaucoma", "tissue", "derm_size"),
    "order2": ("glaucoma", "derm_size", "tissue", "xray", "derm"),
}
CONTROL_STREAM = "noshift"  # the control: order I with no acquisition shift

# The released stream (the `paper` profile): six MedMNIST subsets as tasks, their class names as the
# medmnist package's INFO gives them (RetinaMNIST's labels are the 0-4 diabetic-retinopathy grades, named
# here; BloodMNIST's immature granulocytes without INFO's parenthesis). The paper's MGTIL benchmark uses
# other datasets at full resolution; these are the subsets the medmnist manifest pins. Order: domain
# switches, the fine-grained grading task third, the 8-class task last.
MODALITY |= {
    "colon": "colon pathology slide",
    "dermatoscopy": "dermatoscopy image",
    "retina": "retinal fundus photograph",
    "oct": "retinal oct scan",
    "chest": "pediatric chest x-ray",
    "blood": "blood cell microscopy image",
}
DR_GRADES = ("no", "mild", "moderate", "severe", "proliferative")
RELEASED = {
    "path": Task(
        "path",
        "colon",
        (
            "adipose",
            "background",
            "debris",
            "lymphocytes",
            "mucus",
            "smooth muscle",
            "normal colon mucosa",
            "cancer-associated stroma",
            "colorectal adenocarcinoma epithelium",
        ),
        source="pathmnist",
    ),
    "derma": Task(
        "derma",
        "dermatoscopy",
        (
            "actinic keratoses and intraepithelial carcinoma",
            "basal cell carcinoma",
            "benign keratosis-like lesions",
            "dermatofibroma",
            "melanoma",
            "melanocytic nevi",
            "vascular lesions",
        ),
        source="dermamnist",
    ),
    "retina": Task("retina", "retina", tuple(f"{g} diabetic retinopathy" for g in DR_GRADES), True, "retinamnist"),
    "oct": Task(
        "oct", "oct", ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"), source="octmnist"
    ),
    "pneumonia": Task("pneumonia", "chest", ("normal", "pneumonia"), source="pneumoniamnist"),
    "blood": Task(
        "blood",
        "blood",
        (
            "basophil",
            "eosinophil",
            "erythroblast",
            "immature granulocytes",
            "lymphocyte",
            "monocyte",
            "neutrophil",
            "platelet",
        ),
        True,
        "bloodmnist",
    ),
}
TASKS |= RELEASED
ORDERS["medmnist"] = ("path", "derma", "retina", "oct", "pneumonia", "blood")


def tasks_of(orders) -> tuple[str, ...]:
    """The tasks the given orders visit, first appearance first."""
    return tuple(dict.fromkeys(t for order in orders for t in ORDERS[order]))


def vocabulary(captions, domains=DOMAINS) -> list[str]:
    """The texts the tokenizer learns its words from: the captions and the domain and general query
    templates (of ``domains``: the stream's). Task prompts are not added: their words must come from
    captions (a test checks it; a prompt word no caption holds reads as [UNK])."""
    return [*captions, *(f"a {MODALITY[d]}" for d in domains), GENERAL_QUERY]


# ----------------------------------------------------------------------------------------------
# rendering


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size
    return np.meshgrid(c, c, indexing="ij")  # yy, xx


def _disk(yy, xx, cy, cx, r, soft: float = 0.04) -> np.ndarray:
    """(n, S, S) soft disks; cy, cx, r are (n,)."""
    d = np.sqrt((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2)
    return np.clip((r[:, None, None] - d) / soft + 0.5, 0.0, 1.0)


def _size_scale(findings: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    return np.where(sizes == "small", 0.75, np.where(sizes == "large", 1.3, 1.0))


def render(domain: str, findings: np.ndarray, sizes: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Images of one domain, (n, 3, S, S) float32 in [0, 1]; ``sizes`` holds "small", "large" or ""."""
    n = len(findings)
    yy, xx = _grid(size)
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731 (a local shorthand for per-sample jitter)
    scale = _size_scale(findings, sizes) * u(0.9, 1.1)
    img = np.zeros((n, 3, size, size))
    if domain == "xray":
        lungs = _disk(yy, xx, u(0.45, 0.55), u(0.27, 0.33), np.full(n, 0.22)) + _disk(
            yy, xx, u(0.45, 0.55), u(0.67, 0.73), np.full(n, 0.22)
        )
        grey = 0.55 - 0.3 * lungs
        cy, cx = u(0.35, 0.6), np.where(rng.random(n) < 0.5, u(0.25, 0.35), u(0.65, 0.75))
        spot = {
            "nodule": _disk(yy, xx, cy, cx, 0.07 * scale),
            "mass": _disk(yy, xx, cy, cx, 0.14 * scale),
            "effusion": (yy[None] > (0.78 - 0.12 * scale)[:, None, None]) * lungs,
        }
        for name, mask in spot.items():
            grey = grey + 0.4 * (findings == name)[:, None, None] * mask
        img[:] = grey[:, None]
    elif domain == "pathology":
        base = np.array([0.92, 0.65, 0.78])[None, :, None, None]
        freq, phase = u(5.5, 6.5)[:, None, None], u(0, 2 * np.pi)[:, None, None]
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (yy + xx)[None] + phase)
        dots = (np.sin(2 * np.pi * freq * yy[None] + phase) * np.sin(2 * np.pi * freq * xx[None] + phase)) > 0.5
        sparse = rng.random((n, size, size)) < 0.08
        texture = {
            "tumor": dots * 1.0,
            "stroma": stripes,
            "lymphocytes": sparse * 1.0,
            "necrosis": 0.3 * rng.random((n, size, size)),
        }
        purple = np.array([0.45, 0.2, 0.55])[None, :, None, None]
        ink = sum((findings == k)[:, None, None] * v for k, v in texture.items())[:, None]
        img[:] = base * (1 - 0.6 * ink) + purple * 0.6 * ink
    elif domain == "fundus":
        retina = _disk(yy, xx, np.full(n, 0.5), np.full(n, 0.5), np.full(n, 0.46))[:, None]
        img[:] = retina * np.array([0.8, 0.35, 0.12])[None, :, None, None]
        dy, dx, dr = u(0.45, 0.55), u(0.62, 0.7), np.full(n, 0.15)
        disc = _disk(yy, xx, dy, dx, dr)[:, None]
        cup_ratio = np.select([findings == "mild cupping", findings == "severe cupping"], [0.55, 0.8], 0.3)
        cup = _disk(yy, xx, dy, dx, dr * cup_ratio * u(0.9, 1.1))[:, None]
        img = img * (1 - disc) + disc * np.array([0.95, 0.75, 0.35])[None, :, None, None]
        img = img * (1 - cup) + cup * np.array([1.0, 0.97, 0.85])[None, :, None, None]
        lesion = _disk(yy, xx, u(0.3, 0.7), u(0.25, 0.45), 0.07 * scale)[:, None]
        colour = np.where((findings == "drusen")[:, None], [[1.0, 0.9, 0.3]], [[0.45, 0.02, 0.02]])[:, :, None, None]
        has = np.isin(findings, ("drusen", "hemorrhage"))[:, None, None, None]
        img = np.where(has, img * (1 - lesion) + lesion * colour, img)
    elif domain == "dermoscopy":
        img[:] = np.array([0.88, 0.72, 0.62])[None, :, None, None]
        cy, cx = u(0.42, 0.58), u(0.42, 0.58)
        angle = np.arctan2(yy[None] - cy[:, None, None], xx[None] - cx[:, None, None])
        wobble = 1 + 0.35 * (findings == "melanoma")[:, None, None] * np.sin(4 * angle + u(0, 6)[:, None, None])
        d = np.sqrt((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2) / wobble
        lesion = np.clip(((0.2 * scale)[:, None, None] - d) / 0.04 + 0.5, 0, 1)[:, None]
        colours = {
            "nevus": [0.45, 0.28, 0.15],
            "melanoma": [0.22, 0.15, 0.2],
            "keratosis": [0.65, 0.5, 0.3],
            "vascular lesion": [0.7, 0.15, 0.3],
        }
        colour = np.stack([np.array(colours[f]) for f in findings])[:, :, None, None]
        speckle = (findings == "keratosis")[:, None, None, None] * 0.15 * rng.standard_normal((n, 1, size, size))
        img = img * (1 - lesion) + lesion * (colour + speckle)
    else:
        raise ValueError(f"unknown domain {domain!r}; domains: {', '.join(DOMAINS)}")
    img = img * u(0.9, 1.1)[:, None, None, None] + 0.04 * rng.standard_normal(img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def acquisition(images: np.ndarray, shift: float, task_seed: int, rng: np.random.Generator) -> np.ndarray:
    """The task's scanner: contrast ``1 - 0.6 shift``, a colour cast of up to ``0.3 shift`` per channel
    (fixed per task), and extra noise ``0.08 shift``. ``shift = 0`` returns the images unchanged."""
    if shift == 0:
        return images
    cast = np.random.default_rng([task_seed, 31]).uniform(-0.3, 0.3, 3)[None, :, None, None]
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    out = mean + (1 - 0.6 * shift) * (images - mean) + shift * cast
    out = out + 0.08 * shift * rng.standard_normal(images.shape)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(images * 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# the database and the task data


def database(n: int, size: int, attribute_rate: float, seed: int) -> dict[str, np.ndarray]:
    """``n`` image-caption pairs spread over the four domains (the "PubMed" stand-in)."""
    rng = np.random.default_rng([seed, 101])
    domains = rng.choice(DOMAINS, n)
    images = np.zeros((n, 3, size, size), np.float32)
    findings = np.empty(n, dtype=object)
    sizes = np.full(n, "", dtype=object)
    for domain in DOMAINS:
        idx = np.flatnonzero(domains == domain)
        findings[idx] = rng.choice(FINDINGS[domain], len(idx))
        sized = np.isin(findings[idx], list(SIZED))
        sizes[idx] = np.where(sized, rng.choice(SIZES, len(idx)), "")
        images[idx] = render(domain, findings[idx], sizes[idx], size, rng)
    named = (sizes != "") & (rng.random(n) < attribute_rate)
    templates = rng.integers(0, len(TEMPLATES), n)
    captions = [
        TEMPLATES[t].format(modality=MODALITY[d], finding=f"{s} {f}" if use else f)
        for t, d, f, s, use in zip(templates, domains, findings, sizes, named)
    ]
    return {
        "image": to_uint8(images),
        "caption": np.array(captions),
        "domain": domains.astype(str),
        "finding": findings.astype(str),
        "size": sizes.astype(str),
    }


def task_split(task: Task, n: int, size: int, shift: float, seed: int, split: str) -> dict[str, np.ndarray]:
    """``n`` images of ``task`` with balanced labels, after the task's acquisition shift. ``split`` is
    "train", "val" or "test": the three are drawn alike from their own generator streams, so the
    validation split (where every weight and gate is chosen) is distributed like the test split."""
    rng = np.random.default_rng([seed, sum(map(ord, task.name)), {"train": 1, "test": 2, "val": 3}[split]])
    labels = rng.permutation(np.arange(n) % len(task.classes))
    parsed = [task.parse(task.classes[i]) for i in labels]
    findings = np.array([f for f, _ in parsed], dtype=object)
    sizes = np.array([s or "" for _, s in parsed], dtype=object)
    if not any(s for _, s in parsed):  # coarse tasks: sized findings still come in both sizes
        sizes = np.where(np.isin(findings, list(SIZED)), rng.choice(SIZES, n), "")
    images = render(task.domain, findings, sizes, size, rng)
    images = acquisition(images, shift, sum(map(ord, task.name)), rng)
    return {"image": to_uint8(images), "label": labels.astype(np.int64)}
