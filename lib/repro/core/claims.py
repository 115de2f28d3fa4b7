"""Claims as data, and the kit's verdict rule.

A paper's ``claims.py`` lists :class:`Claim` objects, fixed before the first ``cpu`` run. The
evaluate step measures, for every arm a claim names (a method, or a method under a condition), a
per-unit score array of shape ``(n_seeds, n_examples)`` in the metric's units (e.g. 0 or 100 per
image for an accuracy in points). :func:`decide` then draws a paired bootstrap: the same resampled
seeds and the same resampled examples for every arm, and computes the claim's effect on each draw.

Verdict (DESIGN.md, Claims), with ``[lo, hi]`` the 95% percentile interval of the effect:

* ``better`` / ``best_of`` / ``argmax`` / ``robust``: *reproduced* when ``lo > margin``, *not
  reproduced* when ``hi < margin`` (the run rules out an effect as large as claimed), otherwise
  *inconclusive*. With ``margin = 0`` this is the usual sign test of the interval.
* ``equivalent``: *reproduced* when ``[lo, hi]`` lies inside ``(-margin, margin)``, *not reproduced*
  when it lies wholly outside, otherwise *inconclusive*.
* ``tracks``: the effect is the ratio ``mean(a) / mean(b)``; *reproduced* when ``[lo, hi]`` lies in
  ``band``, *not reproduced* when it lies wholly outside, otherwise *inconclusive*.

The smallest detectable effect is ``2.8`` bootstrap standard errors (a two-sided 5% test with 80%
power). Introduced in ``04_evaluate.ipynb``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

ClaimType = Literal["better", "best_of", "argmax", "equivalent", "tracks", "robust"]
Verdict = Literal["reproduced", "not reproduced", "inconclusive"]
CLAIMS_SCHEMA_VERSION = "1.0"
DETECTABLE_SE = 2.8  # z_{0.975} + z_{0.80}


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, stated before the run.

    ``a`` is the arm the paper favours and ``b`` the arms it is compared with (for ``argmax``: ``a`` is
    the claimed setting, ``b`` the rest of the sweep). For ``robust``, ``perturbed`` names the arms of
    ``a`` and ``b`` under the fault, in that order; a drop is ``reference - perturbed`` in the metric's
    good direction (its absolute value when ``absolute``: a spread rather than a loss).
    """

    id: str
    text: str
    type: ClaimType
    metric: str
    a: str
    b: tuple[str, ...]
    margin: float = 0.0
    higher_is_better: bool = True
    perturbed: tuple[str, str] | None = None
    absolute: bool = False
    band: tuple[float, float] | None = None
    paper_delta: float | None = None
    paper_numbers: Mapping[str, float] = field(default_factory=dict)
    control: bool = False
    expected: Verdict = "reproduced"
    note: str = ""

    def __post_init__(self) -> None:
        if self.type == "robust" and (self.perturbed is None or len(self.b) != 1):
            raise ValueError(f"claim {self.id}: 'robust' needs one arm in b and perturbed=(a_pert, b_pert)")
        if self.type == "tracks" and (self.band is None or len(self.b) != 1):
            raise ValueError(f"claim {self.id}: 'tracks' needs one arm in b and a band=(low, high)")
        if self.type in ("better", "equivalent") and len(self.b) != 1:
            raise ValueError(f"claim {self.id}: {self.type!r} compares a with exactly one arm")
        if self.type == "equivalent" and self.margin <= 0:
            raise ValueError(f"claim {self.id}: 'equivalent' needs a positive margin")

    @property
    def arms(self) -> tuple[str, ...]:
        return (self.a, *self.b, *(self.perturbed or ()))


@dataclass(frozen=True)
class ClaimResult:
    id: str
    type: str
    metric: str
    effect: float
    ci_low: float
    ci_high: float
    detectable: float
    verdict: Verdict
    arm_means: dict[str, float]
    n_seeds: int
    n_examples: int
    n_boot: int


def bootstrap_means(scores: Mapping[str, np.ndarray], n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Paired bootstrap of each arm's mean: one draw of seeds and examples shared by all arms."""
    shapes = {k: np.shape(v) for k, v in scores.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
        raise ValueError(f"paired bootstrap needs arms of one (seeds, examples) shape, got {shapes}")
    n_seeds, n_examples = next(iter(shapes.values()))
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    examples = rng.integers(0, n_examples, size=(n_boot, n_examples))
    out = {}
    for arm, values in scores.items():
        per_seed = np.asarray(values, dtype=np.float64)
        # mean over resampled examples per seed, then over resampled seeds: (n_boot,)
        by_seed = np.stack([per_seed[s][examples].mean(axis=1) for s in range(n_seeds)], axis=1)
        out[arm] = np.take_along_axis(by_seed, seeds, axis=1).mean(axis=1)
    return out


def effect(claim: Claim, means: Mapping[str, np.ndarray]) -> np.ndarray:
    """The claim's effect from arm means (works on scalars and on bootstrap draws alike)."""
    sign = 1.0 if claim.higher_is_better else -1.0
    a = np.asarray(means[claim.a], dtype=np.float64)
    bs = [np.asarray(means[b], dtype=np.float64) for b in claim.b]
    if claim.type in ("better", "best_of", "argmax"):
        return np.min([sign * (a - b) for b in bs], axis=0)
    if claim.type == "equivalent":
        return a - bs[0]
    if claim.type == "tracks":
        return a / bs[0]
    a_pert, b_pert = (np.asarray(means[p], dtype=np.float64) for p in claim.perturbed)
    drop_a, drop_b = sign * (a - a_pert), sign * (bs[0] - b_pert)
    if claim.absolute:
        drop_a, drop_b = np.abs(drop_a), np.abs(drop_b)
    return drop_b - drop_a


def verdict(claim: Claim, lo: float, hi: float) -> Verdict:
    """The kit's rule (module docstring) applied to the interval ``[lo, hi]``."""
    if claim.type == "equivalent":
        inside, outside = (-claim.margin < lo and hi < claim.margin), (lo > claim.margin or hi < -claim.margin)
    elif claim.type == "tracks":
        low, high = claim.band
        inside, outside = (low <= lo and hi <= high), (hi < low or lo > high)
    else:
        inside, outside = lo > claim.margin, hi < claim.margin
    return "reproduced" if inside else "not reproduced" if outside else "inconclusive"


def decide(claim: Claim, scores: Mapping[str, np.ndarray], n_boot: int = 2000, seed: int = 0) -> ClaimResult:
    """Measure one claim: point effect, 95% paired-bootstrap interval, detectable effect, verdict."""
    missing = [arm for arm in claim.arms if arm not in scores]
    if missing:
        raise KeyError(f"claim {claim.id}: no scores for arms {missing}; measured: {sorted(scores)}")
    arms = {arm: np.asarray(scores[arm], dtype=np.float64) for arm in claim.arms}
    draws = effect(claim, bootstrap_means(arms, n_boot, seed))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    point = effect(claim, {arm: v.mean() for arm, v in arms.items()})
    n_seeds, n_examples = next(iter(arms.values())).shape
    return ClaimResult(
        id=claim.id,
        type=claim.type,
        metric=claim.metric,
        effect=float(point),
        ci_low=float(lo),
        ci_high=float(hi),
        detectable=float(DETECTABLE_SE * draws.std(ddof=1)),
        verdict=verdict(claim, float(lo), float(hi)),
        arm_means={arm: float(v.mean()) for arm, v in arms.items()},
        n_seeds=int(n_seeds),
        n_examples=int(n_examples),
        n_boot=n_boot,
    )


# ----------------------------------------------------------------------------------------------
# claims.json


def schema() -> dict[str, Any]:
    return json.loads(resources.files("repro.core").joinpath("claims.schema.json").read_text())


def claims_document(
    *,
    paper: str,
    run: Mapping[str, Any],
    claims: Sequence[Claim],
    scores: Mapping[str, Mapping[str, np.ndarray]],
    table: Sequence[Mapping[str, Any]],
    budget: Mapping[str, Mapping[str, Any]],
    cannot_show: Sequence[str],
    n_boot: int = 2000,
) -> dict[str, Any]:
    """Decide every claim and assemble the ``claims.json`` document (validated against the schema).

    ``scores`` maps metric -> arm -> ``(n_seeds, n_examples)``; ``table`` holds the rows of the
    results table (chance and oracle rows included); ``budget`` the ledger per method.
    """
    decided = []
    for claim in claims:
        if claim.metric not in scores:
            raise KeyError(f"claim {claim.id}: metric {claim.metric!r} not measured; measured: {sorted(scores)}")
        result = decide(claim, scores[claim.metric], n_boot=n_boot)
        decided.append(_claim_entry(claim, result))
    doc = {
        "schema_version": CLAIMS_SCHEMA_VERSION,
        "paper": paper,
        "run": dict(run),
        "claims": decided,
        "table": [dict(row) for row in table],
        "budget": {k: dict(v) for k, v in budget.items()},
        "cannot_show": list(cannot_show),
    }
    validate(doc)
    return doc


def _claim_entry(claim: Claim, result: ClaimResult) -> dict[str, Any]:
    stated = asdict(claim)
    stated["b"] = list(claim.b)
    stated["paper_numbers"] = dict(claim.paper_numbers)
    for key in ("perturbed", "band"):
        stated[key] = list(stated[key]) if stated[key] is not None else None
    measured = asdict(result)
    measured.pop("id"), measured.pop("type"), measured.pop("metric")
    stated["result"] = measured
    if claim.control:
        stated["result"]["as_expected"] = result.verdict == claim.expected
    return stated


def validate(doc: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``doc`` does not follow the claims schema."""
    import jsonschema

    jsonschema.validate(doc, schema())


def load_claims(path: Path) -> dict[str, Any]:
    """Read and validate a ``claims.json``."""
    from .steps import read_json

    doc = read_json(path)
    validate(doc)
    return doc


def claim_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per claim: ours beside the paper's delta, interval, detectable effect, verdict (and,
    for a control, whether it came out as expected). The report and the notebooks show these rows."""
    rows = []
    for c in doc["claims"]:
        r = c["result"]
        verdict = r["verdict"]
        if c["control"]:
            verdict += f" (expected {c['expected']}: {'as expected' if r.get('as_expected') else 'NOT as expected'})"
        rows.append(
            {
                "claim": c["id"] + (" (control)" if c["control"] else ""),
                "type": c["type"],
                "metric": c["metric"],
                "A vs B": f"{c['a']} vs {', '.join(c['b'])}",
                "ours": r["effect"],
                "95% CI": f"[{r['ci_low']:.3g}, {r['ci_high']:.3g}]",
                "detectable": r["detectable"],
                "margin": str(c["band"]) if c["type"] == "tracks" else c["margin"],
                "paper delta": "-" if c["paper_delta"] is None else c["paper_delta"],
                "verdict": verdict,
            }
        )
    return rows


def claims_frame(doc: Mapping[str, Any]):
    """The claims table as a DataFrame (notebooks)."""
    import pandas as pd

    return pd.DataFrame(claim_rows(doc)).round(3)
