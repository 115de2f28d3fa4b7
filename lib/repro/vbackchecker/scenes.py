"""Procedural scenes, their scene graphs, and a grammar of referring descriptions over them.

A scene is a dark canvas with a few coloured shapes (shape, colour, size, position); every object has
an exact mask. A description names a target object by its attributes and by one or more spatial
relations to other objects, e.g. ``the big red circle left of the blue square and above the green
triangle``. :func:`matches` evaluates a description against the scene graph, so the generator knows
exactly which objects a description refers to: one (a grounded positive) or none (a hallucination).

Hard negatives are made by one *swap operator* applied to a grounded description: an object swap
(the target's shape), an attribute swap (its colour or its size) or a relation swap (left/right or
above/below flipped). A swap is kept only if the new description matches no object at all, so its
label is exact. The generator decides which operators a split may use; it never decides what the
image looks like given the label (positives and negatives of a scene share its image).

Introduced in ``notebooks/vbackchecker/01_data.ipynb``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (60, 90, 235)}
SIZES = {"small": 0.065, "big": 0.105}  # radius as a share of the image side (a cell is 0.25 wide)
GRID = 4  # objects sit in distinct cells of a GRID x GRID layout (one cell per image patch token)
RELATIONS = ("left of", "right of", "above", "below")
OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}

# swap operator -> error type (R^2-HalBench's levels: 1 object, 2 attribute, 3 relation)
OPERATORS = {"shape": "object", "colour": "attribute", "size": "attribute", "left_right": "relation",
             "above_below": "relation"}  # fmt: skip
ERROR_TYPES = ("object", "attribute", "relation")
TYPE_CODE = {"none": 0, "object": 1, "attribute": 2, "relation": 3}
MIN_GAP = 0.15  # a relation holds only when one axis separates the centres by this much more than the other


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: str
    x: float  # centre, as a share of the image side
    y: float

    @property
    def phrase(self) -> str:
        return f"{self.size} {self.colour} {self.shape}"


@dataclass(frozen=True)
class Desc:
    """``the <size> <colour> <shape>`` followed by relation clauses ``(relation, colour, shape)``."""

    size: str
    colour: str
    shape: str
    relations: tuple[tuple[str, str, str], ...]

    @property
    def text(self) -> str:
        clauses = " and ".join(f"{rel} the {colour} {shape}" for rel, colour, shape in self.relations)
        return f"the {self.size} {self.colour} {self.shape} {clauses}".strip()


def relation(a: Obj, b: Obj) -> str | None:
    """The relation of ``a`` to ``b`` on the axis where their centres differ most, if it is clear."""
    dx, dy = a.x - b.x, a.y - b.y
    if abs(abs(dx) - abs(dy)) < MIN_GAP:
        return None  # diagonal neighbours: neither relation is clear
    if abs(dx) > abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def matches(objects: tuple[Obj, ...], desc: Desc) -> list[int]:
    """Indices of the objects that satisfy every part of ``desc`` (the scene-graph semantics)."""
    found = []
    for i, o in enumerate(objects):
        if (o.shape, o.colour, o.size) != (desc.shape, desc.colour, desc.size):
            continue
        if all(
            any(j != i and (p.colour, p.shape) == (colour, shape) and relation(o, p) == rel
                for j, p in enumerate(objects))
            for rel, colour, shape in desc.relations
        ):  # fmt: skip
            found.append(i)
    return found


# ----------------------------------------------------------------------------------------------
# scenes


def sample_objects(rng: np.random.Generator, n: int) -> tuple[Obj, ...]:
    """``n`` objects with random attributes in distinct cells of the ``GRID x GRID`` layout, each centred
    in its cell up to a small jitter, so every object lies within one image patch."""
    cells = rng.choice(GRID * GRID, size=n, replace=False)
    jitter = rng.uniform(-0.02, 0.02, (n, 2))
    sizes, shapes, colours = (
        rng.integers(0, len(SIZES), n),
        rng.integers(0, len(SHAPES), n),
        rng.integers(0, len(COLOURS), n),
    )
    names, size_names = list(COLOURS), list(SIZES)
    return tuple(
        Obj(
            SHAPES[shapes[k]],
            names[colours[k]],
            size_names[sizes[k]],
            float((cells[k] % GRID + 0.5) / GRID + jitter[k, 0]),
            float((cells[k] // GRID + 0.5) / GRID + jitter[k, 1]),
        )
        for k in range(n)
    )


@functools.cache
def pixel_centres(side: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = (np.mgrid[0:side, 0:side] + 0.5) / side
    return yy, xx


def object_mask(o: Obj, side: int) -> np.ndarray:
    """The exact boolean mask of one object on a ``side x side`` grid (pixel centres)."""
    yy, xx = pixel_centres(side)
    r = SIZES[o.size]
    dx, dy = xx - o.x, yy - o.y
    if o.shape == "circle":
        return dx**2 + dy**2 <= r**2
    if o.shape == "square":
        return (np.abs(dx) <= 0.82 * r) & (np.abs(dy) <= 0.82 * r)
    # triangle, apex up: the width grows linearly from the apex to the base
    return (dy >= -r) & (dy <= 0.8 * r) & (np.abs(dx) <= 0.6 * (dy + r))


def render(
    objects: tuple[Obj, ...], side: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The RGB image (uint8) and the stacked object masks (n, side, side) of a scene."""
    image = np.full((side, side, 3), 24.0)
    masks = np.stack([object_mask(o, side) for o in objects]) if objects else np.zeros((0, side, side), bool)
    for o, m in zip(objects, masks):
        image[m] = COLOURS[o.colour]
    image += rng.normal(0.0, 255 * noise, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), masks


# ----------------------------------------------------------------------------------------------
# descriptions


def describe(objects: tuple[Obj, ...], target: int, n_relations: int, rng: np.random.Generator) -> Desc | None:
    """A description of ``target`` with ``n_relations`` clauses that refers to it alone (or None)."""
    t = objects[target]
    anchors = [(rel, p) for j, p in enumerate(objects) if j != target and (rel := relation(t, p)) is not None]
    if len(anchors) < n_relations:
        return None
    picked = rng.choice(len(anchors), size=n_relations, replace=False)
    clauses = tuple((anchors[k][0], anchors[k][1].colour, anchors[k][1].shape) for k in sorted(picked))
    desc = Desc(t.size, t.colour, t.shape, clauses)
    return desc if matches(objects, desc) == [target] else None


def swap(desc: Desc, operator: str, rng: np.random.Generator) -> Desc | None:
    """``desc`` with one part changed by ``operator`` (None when the operator does not apply)."""
    if operator == "shape":
        return replace(desc, shape=str(rng.choice([s for s in SHAPES if s != desc.shape])))
    if operator == "colour":
        return replace(desc, colour=str(rng.choice([c for c in COLOURS if c != desc.colour])))
    if operator == "size":
        return replace(desc, size="small" if desc.size == "big" else "big")
    axis = ("left of", "right of") if operator == "left_right" else ("above", "below")
    slots = [k for k, (rel, _, _) in enumerate(desc.relations) if rel in axis]
    if not slots:
        return None
    k = int(rng.choice(slots))
    rel, colour, shape = desc.relations[k]
    relations = desc.relations[:k] + ((OPPOSITE[rel], colour, shape),) + desc.relations[k + 1 :]
    return replace(desc, relations=relations)


def hard_negative(
    objects: tuple[Obj, ...], desc: Desc, operators: tuple[str, ...], rng: np.random.Generator
) -> tuple[Desc, str] | None:
    """A swap of ``desc`` by one of ``operators`` (tried in random order) that matches no object."""
    for operator in rng.permutation(list(operators)):
        swapped = swap(desc, str(operator), rng)
        if swapped is not None and not matches(objects, swapped):
            return swapped, str(operator)
    return None


def reason(original: Desc, swapped: Desc, operator: str) -> str:
    """Why the swapped description is a hallucination, in the words of the scene graph."""
    if operator == "shape":
        return f"the {original.colour} object is a {original.shape} , not a {swapped.shape}"
    if operator == "colour":
        return f"the {original.shape} is {original.colour} , not {swapped.colour}"
    if operator == "size":
        return f"the {original.colour} {original.shape} is {original.size} , not {swapped.size}"
    changed = next(k for k, (a, b) in enumerate(zip(original.relations, swapped.relations)) if a != b)
    rel, colour, shape = original.relations[changed]
    return f"the {original.shape} is {rel} the {colour} {shape} , not {swapped.relations[changed][0]} it"
