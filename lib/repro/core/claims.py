"""Claims as data, and the kit's verdict rule.

A paper's ``claims.py`` lists :class:`Claim` objects, fixed before the first ``cpu`` run. The evaluate
step measures, for every arm a claim names, a per-unit score array of shape ``(n_seeds, n_examples)``
in the metric's units (e.g. 0 or 100 per image for an accuracy in points); the arms of a claim share
their seeds and their test examples, so they are compared *paired*.

The interval (:func:`paired_interval`)
--------------------------------------
For a claim whose effect is linear in the arms (``better``, one pair of ``best_of``/``argmax``,
``equivalent``, a non-absolute ``robust``), the per-unit effect is a matrix ``d[s, i]`` (seed ``s``,
example ``i``). Its mean estimates the effect, and its variance comes from the crossed two-way
random-effects model ``d[s, i] = mu + u_s + v_i + w_si`` (seed, example and interaction terms;
Searle, Casella & McCulloch, *Variance Components*, 1992, ch. 4):

    Var(mean d) = s_u^2 / n + s_v^2 / m + s_w^2 / (n m)
                = E[MS_seed + MS_example - MS_residual] / (n m)

with the usual ANOVA mean squares on ``n - 1``, ``m - 1`` and ``(n - 1)(m - 1)`` degrees of freedom.
The variance splits into a part the seeds carry, ``MS_seed / (n m)`` (``E = s_u^2/n + s_w^2/(n m)``,
on ``n - 1`` degrees of freedom) and a part the shared test examples carry,
``max(MS_example - MS_residual, 0) / (n m)`` (``E = s_v^2/m``, on ``m - 1``); the seed part is floored at
``MS_residual / (n m)`` (a negative estimate of ``s_u^2`` is taken as 0), so seeds whose means tie on
a coarse metric cannot shrink the interval to nothing. The 95% interval adds
the two parts' t half-widths, each on its own degrees of freedom:

    mean +- ( t_{n-1} sqrt(MS_seed / (n m)) + t_{m-1} sqrt(max(MS_example - MS_residual, 0) / (n m)) )

Adding half-widths instead of variances (``sqrt(a + b) <= sqrt(a) + sqrt(b)``) is conservative; it
keeps a part with 1-2 degrees of freedom from being diluted by one with hundreds, where a
Welch-Satterthwaite interval (Satterthwaite, 1946) measured 7% wrong verdicts at 2-3 seeds. When the
arms differ by no example-specific amount it *is* the paired t interval over per-seed means on
``n - 1`` degrees of freedom (Student; e.g. Dietterich, 1998, on comparing learners over runs); with one
seed it is the paired t over examples (examples the only noise); with one number per seed, the t over
seeds. A percentile bootstrap over 3-5 seeds shrinks the seed variance by ``(n-1)/n`` and has no
small-sample correction (15-27% wrong verdicts at a true null); this rule keeps its 95% coverage for
any ratio of seed to example variance, which ``tests/core/test_calibration.py`` checks by simulation
for 1-10 seeds. The price of honesty with 2-3 seeds is a wide interval (``t`` on 1-2 degrees of
freedom): such claims are decided only by large effects.

Claims that are not one linear contrast:

* ``best_of`` / ``argmax`` (A beats each of B1..Bk): the interval of ``min_k effect_k`` is
  ``[min_k lo_k, min_k hi_k]`` with each ``lo_k`` at the one-sided 2.5% level and each ``hi_k`` at
  2.5%/k (Bonferroni): it covers the smallest effect with probability >= 95% whichever rival binds.
* ``tracks``: the ratio ``mean(a) / mean(b)`` by Fieller's method: the ratios ``r`` for which the
  paired interval of ``a - r b`` contains 0.
* ``robust`` with ``absolute``: the spreads ``|drop_a|`` and ``|drop_b|`` bounded from the 97.5%
  intervals of the two (linear) drops, so ``|.|`` adds no upward bias near zero (joint coverage >= 95%).

The verdict, with ``[lo, hi]`` the 95% interval of the effect
------------------------------------------------------------
* ``better`` / ``best_of`` / ``argmax`` / ``robust``: *reproduced* when ``lo > margin``, *not
  reproduced* when ``hi < margin`` (the run rules out an effect as large as claimed), otherwise
  *inconclusive*.
* ``equivalent``: *reproduced* when ``[lo, hi]`` lies inside ``(-margin, margin)``, *not reproduced*
  when it lies wholly outside, otherwise *inconclusive*.
* ``tracks``: *reproduced* when ``[lo, hi]`` lies in ``band``, *not reproduced* when wholly outside.

``detectable`` is the smallest effect (beyond the margin) the run detects with 80% power: the
half-width plus ``z_{0.8} * se``. For an inconclusive claim, :func:`seeds_needed` says about how many seeds
(at this many examples), or failing that how many examples, would decide it at 80% power, from the
observed variance components: "needs ~N seeds" means too few seeds, "not decidable by more seeds"
means the effect is too close to the margin for any size near this one. Introduced in
``04_evaluate.ipynb``.

Not testable: before the rule speaks
------------------------------------
A calibrated rule applied to a testbed that tests nothing still prints a verdict. So a claim's
verdict is **not testable** (with the reason kept in ``result.not_testable``; the rule's own verdict in
``result.rule_verdict``) when any of these holds, checked in this order:

* a :class:`Gate` that covers it failed: a measurement, declared with its threshold before the run and
  taken on validation data per seed, showing that the miniature can test the claim (a model above
  chance, a teacher more robust than a natural one, a victim that reads its cue). A gate passes only
  when every seed passes.
* a *trivial reference* named in ``Claim.trivial`` (a constant answer, a mask over every object, the
  prior class, the input itself) put in place of ``a`` gets the verdict "reproduced" from the same rule
  on the same examples: the claim as stated cannot tell the method from it. ``result.trivial`` keeps
  every reference's verdict.
* the arms are *degenerate*: one of the claim's contrasts is zero on every unit (the arms are
  identical, e.g. both at the metric's floor), so the interval is ``[0, 0]`` by construction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import stats

ClaimType = Literal["better", "best_of", "argmax", "equivalent", "tracks", "robust"]
Verdict = Literal["reproduced", "not reproduced", "inconclusive", "not testable"]
VERDICTS: tuple[str, ...] = ("reproduced", "not reproduced", "inconclusive", "not testable")
CLAIMS_SCHEMA_VERSION = "1.2"
ALPHA = 0.05  # two-sided: 2.5% on each side of the interval
POWER = 0.80  # for `detectable` and `seeds_needed`
INTERVAL = "paired t: seed part on n-1 df + example part on m-1 df (two-way random effects)"


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, stated before the run.

    ``a`` is the arm the paper favours and ``b`` the arms it is compared with (for ``argmax``: ``a`` is
    the claimed setting, ``b`` the rest of the sweep). For ``robust``, ``perturbed`` names the arms of
    ``a`` and ``b`` under the fault, in that order; a drop is ``reference - perturbed`` in the metric's
    good direction (its absolute value when ``absolute``: a spread rather than a loss). ``margin`` is
    the smallest effect that counts as the paper's claim in this miniature (``note`` says why).
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
    trivial: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if self.trivial and self.type == "robust":
            raise ValueError(f"claim {self.id}: trivial references stand in for `a`; a 'robust' claim has none")
        if self.expected == "not testable":
            raise ValueError(f"claim {self.id}: a control cannot expect 'not testable'")
        if self.type == "robust" and (self.perturbed is None or len(self.b) != 1):
            raise ValueError(f"claim {self.id}: 'robust' needs one arm in b and perturbed=(a_pert, b_pert)")
        if self.type == "tracks" and (self.band is None or len(self.b) != 1):
            raise ValueError(f"claim {self.id}: 'tracks' needs one arm in b and a band=(low, high)")
        if self.type in ("better", "equivalent") and len(self.b) != 1:
            raise ValueError(f"claim {self.id}: {self.type!r} compares a with exactly one arm")
        if self.type == "equivalent" and self.margin <= 0:
            raise ValueError(f"claim {self.id}: 'equivalent' needs a positive margin")
        if self.margin < 0:
            raise ValueError(f"claim {self.id}: margin must be >= 0 (it is a distance in the claimed direction)")

    @property
    def arms(self) -> tuple[str, ...]:
        return (self.a, *self.b, *(self.perturbed or ()))

    def with_a(self, arm: str) -> Claim:
        """The same claim with ``arm`` in the favoured place (how a trivial reference is scored)."""
        return replace(self, a=arm, trivial=())


@dataclass(frozen=True)
class Gate:
    """A measurement, declared before the run, that shows the miniature can test the claims in
    ``covers``: it passes when every seed's value is at or beyond ``threshold`` (at or above when
    ``higher_is_better``). Taken on validation data, never on the test split; ``note`` says why the
    threshold is where it is."""

    name: str
    text: str
    covers: tuple[str, ...]
    threshold: float
    higher_is_better: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        if not self.covers:
            raise ValueError(f"gate {self.name}: covers no claim")

    def passes(self, values: Sequence[float]) -> bool:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0 or not np.isfinite(values).all():
            return False
        ok = values >= self.threshold if self.higher_is_better else values <= self.threshold
        return bool(ok.all())

    def entry(self, values: Sequence[float]) -> dict[str, Any]:
        """The gate as ``claims.json`` keeps it: its statement, the value per seed, and pass/fail."""
        return {
            "name": self.name,
            "text": self.text,
            "covers": list(self.covers),
            "threshold": self.threshold,
            "higher_is_better": self.higher_is_better,
            "value": [float(v) for v in values],
            "pass": self.passes(values),
            "note": self.note,
        }


def check_gates(gates: Sequence[Gate], claims: Sequence[Claim]) -> None:
    """Every gate covers claims that exist, and every claim is covered by a gate."""
    ids = {c.id for c in claims}
    for gate in gates:
        unknown = sorted(set(gate.covers) - ids)
        if unknown:
            raise ValueError(f"gate {gate.name}: covers unknown claims {unknown}; claims: {sorted(ids)}")
    uncovered = sorted(ids - {cid for gate in gates for cid in gate.covers})
    if uncovered:
        raise ValueError(f"claims {uncovered} have no gate: say what shows the miniature can test them")
    names = [g.name for g in gates]
    if len(set(names)) != len(names):
        raise ValueError(f"gate names repeat: {names}")


# ----------------------------------------------------------------------------------------------
# The paired interval of one linear effect (vectorised over leading axes: the calibration test
# decides thousands of simulated runs at once)


@dataclass(frozen=True)
class PairedEffect:
    """Mean of a per-unit effect ``d[..., seed, example]`` and its uncertainty in two parts: the
    variance of the mean that the seeds carry (seed and interaction terms, ``seed_part`` on ``df_seed``
    degrees of freedom) and the part that the shared examples carry (``example_part`` on
    ``df_example``), with the variance components they come from (``nan`` where the design cannot
    separate them)."""

    mean: np.ndarray
    seed_part: np.ndarray
    example_part: np.ndarray
    df_seed: float
    df_example: float
    seed_var: np.ndarray
    example_var: np.ndarray
    resid_var: np.ndarray
    n_seeds: int
    n_examples: int

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(self.seed_part + self.example_part)

    @property
    def df(self) -> np.ndarray:
        """Welch-Satterthwaite degrees of freedom of ``se`` (reported; the bounds do not use it)."""
        a, b = self.seed_part, self.example_part
        with np.errstate(divide="ignore", invalid="ignore"):
            df = (a + b) ** 2 / (a**2 / self.df_seed + b**2 / self.df_example)
        return np.nan_to_num(df, nan=1.0, posinf=1.0)

    def half_width(self, alpha: float) -> np.ndarray:
        """One-sided ``1 - alpha`` half-width: each part's t quantile on its own degrees of freedom,
        added (not in quadrature), so a part with 1-2 degrees of freedom is never diluted by one
        with hundreds (the Satterthwaite interval was liberal there: 7% wrong at 2-3 seeds)."""
        with np.errstate(invalid="ignore"):
            return stats.t.ppf(1 - alpha, self.df_seed) * np.sqrt(self.seed_part) + stats.t.ppf(
                1 - alpha, self.df_example
            ) * np.sqrt(self.example_part)

    def bounds(self, alpha_low: float = ALPHA / 2, alpha_high: float = ALPHA / 2) -> tuple[np.ndarray, np.ndarray]:
        """``[lo, hi]`` with ``alpha_low`` below and ``alpha_high`` above (one-sided levels)."""
        return self.mean - self.half_width(alpha_low), self.mean + self.half_width(alpha_high)

    def detectable(self) -> np.ndarray:
        """The smallest effect beyond the decision boundary detected with 80% power."""
        return self.half_width(ALPHA / 2) + stats.norm.ppf(POWER) * self.se


def paired_effect(d: np.ndarray) -> PairedEffect:
    """Two-way random-effects estimate of ``mean(d)`` over its last two axes (seeds, examples)."""
    d = np.asarray(d, dtype=np.float64)
    n, m = d.shape[-2:]
    mean = d.mean(axis=(-2, -1))
    zero, nan = np.zeros_like(mean), np.full_like(mean, np.nan)
    if n * m == 1:
        return PairedEffect(mean, np.full_like(mean, np.inf), zero, 1.0, 1.0, nan, nan, nan, n, m)
    rows, cols = d.mean(axis=-1), d.mean(axis=-2)
    if n == 1:  # examples the only noise: the paired t over examples
        ms_ex = cols.var(axis=-1, ddof=1)
        return PairedEffect(mean, zero, ms_ex / m, 1.0, m - 1.0, nan, ms_ex, nan, n, m)
    ms_seed = m * rows.var(axis=-1, ddof=1)
    if m == 1:  # one number per seed: the t over seeds
        return PairedEffect(mean, ms_seed / n, zero, n - 1.0, 1.0, ms_seed, nan, nan, n, m)
    ms_ex = n * cols.var(axis=-1, ddof=1)
    resid = d - rows[..., None] - cols[..., None, :] + mean[..., None, None]
    ms_res = (resid**2).sum(axis=(-2, -1)) / ((n - 1) * (m - 1))
    return PairedEffect(
        mean=mean,
        # E = s_u^2 / n + s_w^2 / (n m): the paired t over per-seed means, floored at the interaction's
        # share since s_u^2 >= 0. With 0/100 scores the seeds' means can tie exactly (one clip lost on
        # each seed, a different clip each time): without the floor the interval has zero width.
        seed_part=np.maximum(ms_seed, ms_res) / (n * m),
        example_part=np.maximum(ms_ex - ms_res, 0.0) / (n * m),  # E = s_v^2 / m
        df_seed=n - 1.0,
        df_example=m - 1.0,
        seed_var=np.maximum((ms_seed - ms_res) / m, 0.0),
        example_var=np.maximum((ms_ex - ms_res) / n, 0.0),
        resid_var=ms_res,
        n_seeds=n,
        n_examples=m,
    )


# ----------------------------------------------------------------------------------------------
# A claim's effect and interval


def _arrays(claim: Claim, scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [arm for arm in claim.arms if arm not in scores]
    if missing:
        raise KeyError(f"claim {claim.id}: no scores for arms {missing}; measured: {sorted(scores)}")
    arms = {arm: np.asarray(scores[arm], dtype=np.float64) for arm in claim.arms}
    shapes = {arm: v.shape for arm, v in arms.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) < 2:
        raise ValueError(f"claim {claim.id}: paired arms need one (seeds, examples) shape, got {shapes}")
    return arms


def contrasts(claim: Claim, arms: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The per-unit linear effects a claim is made of (one per rival for ``best_of``/``argmax``)."""
    sign = 1.0 if claim.higher_is_better else -1.0
    a = arms[claim.a]
    if claim.type in ("better", "best_of", "argmax"):
        return [sign * (a - arms[b]) for b in claim.b]
    if claim.type == "equivalent":
        return [a - arms[claim.b[0]]]
    if claim.type == "robust":
        a_pert, b_pert = (arms[p] for p in claim.perturbed)
        drop_a, drop_b = sign * (a - a_pert), sign * (arms[claim.b[0]] - b_pert)
        return [drop_a, drop_b] if claim.absolute else [drop_b - drop_a]
    raise ValueError(f"claim {claim.id}: {claim.type!r} is not a linear contrast")


@dataclass(frozen=True)
class Interval:
    effect: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    binding: PairedEffect  # the contrast that decides it (detectable effect, seeds needed)


def interval(claim: Claim, arms: Mapping[str, np.ndarray]) -> Interval:
    """The claim's point effect and 95% interval (module docstring), vectorised over leading axes."""
    if claim.type == "tracks":
        return _ratio_interval(arms[claim.a], arms[claim.b[0]])
    parts = [paired_effect(d) for d in contrasts(claim, arms)]
    if claim.type == "robust" and claim.absolute:
        return _spread_interval(*parts)
    if len(parts) == 1:
        lo, hi = parts[0].bounds()
        return Interval(parts[0].mean, lo, hi, parts[0])
    k = len(parts)
    bounds = [p.bounds(ALPHA / 2, ALPHA / (2 * k)) for p in parts]
    means = np.stack([p.mean for p in parts])
    binding = np.argmin(means, axis=0)
    pick = lambda values: np.take_along_axis(np.stack(values), binding[None], axis=0)[0]
    fields = ("mean", "seed_part", "example_part", "df_seed", "df_example", "seed_var", "example_var", "resid_var")
    chosen = PairedEffect(
        *(pick([np.broadcast_to(getattr(p, f), means.shape[1:]) for p in parts]) for f in fields),
        n_seeds=parts[0].n_seeds,
        n_examples=parts[0].n_examples,
    )
    lo = np.min([b[0] for b in bounds], axis=0)
    hi = np.min([b[1] for b in bounds], axis=0)
    return Interval(means.min(axis=0), lo, hi, chosen)


def _spread_interval(drop_a: PairedEffect, drop_b: PairedEffect) -> Interval:
    """``|drop_b| - |drop_a|`` bounded through the 97.5% intervals of both drops (no |.| bias)."""
    (lo_a, hi_a), (lo_b, hi_b) = drop_a.bounds(ALPHA / 4, ALPHA / 4), drop_b.bounds(ALPHA / 4, ALPHA / 4)

    def abs_range(lo, hi):
        smallest = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
        return smallest, np.maximum(np.abs(lo), np.abs(hi))

    (min_a, max_a), (min_b, max_b) = abs_range(lo_a, hi_a), abs_range(lo_b, hi_b)
    effect = np.abs(drop_b.mean) - np.abs(drop_a.mean)
    nan = np.full_like(effect, np.nan)
    binding = PairedEffect(
        effect, drop_a.seed_part + drop_b.seed_part, drop_a.example_part + drop_b.example_part,
        drop_a.df_seed, drop_a.df_example, nan, nan, nan, drop_a.n_seeds, drop_a.n_examples,
    )  # fmt: skip
    return Interval(effect, min_b - max_a, max_b - min_a, binding)


def _ratio_interval(a: np.ndarray, b: np.ndarray, iters: int = 60) -> Interval:
    """Fieller interval of ``mean(a) / mean(b)``: the ratios ``r`` whose contrast ``a - r b`` has a
    paired interval containing 0, found by bisection (unbounded ends are +-inf)."""
    mean_a, mean_b = a.mean(axis=(-2, -1)), b.mean(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean_a / mean_b
    scale = np.maximum(np.abs(ratio), 1.0)

    def end(bound: int, direction: float) -> np.ndarray:
        def outside(r):  # True where r lies beyond this end of the interval
            return paired_effect(a - r[..., None, None] * b).bounds()[bound] * (1 if bound == 0 else -1) > 0

        step = 0.01 * scale
        far = ratio + direction * step
        found = outside(far)
        for _ in range(iters):
            if found.all():
                break
            step = np.where(found, step, 2 * step)
            far = ratio + direction * step
            found = outside(far)
        near = ratio.copy()
        for _ in range(iters):
            mid = (near + far) / 2
            out = outside(mid)
            far, near = np.where(out, mid, far), np.where(out, near, mid)
        return np.where(found, far, direction * np.inf)

    lo = np.where(mean_b > 0, end(0, -1.0), -np.inf)
    hi = np.where(mean_b > 0, end(1, 1.0), np.inf)
    at_ratio = paired_effect(a - np.nan_to_num(ratio)[..., None, None] * b)
    scale_b = mean_b**2
    binding = PairedEffect(
        ratio, at_ratio.seed_part / scale_b, at_ratio.example_part / scale_b, at_ratio.df_seed, at_ratio.df_example,
        at_ratio.seed_var, at_ratio.example_var, at_ratio.resid_var, at_ratio.n_seeds, at_ratio.n_examples,
    )  # fmt: skip
    return Interval(ratio, lo, hi, binding)


def verdicts(claim: Claim, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The kit's rule (module docstring) on intervals ``[lo, hi]``, elementwise."""
    lo, hi = np.asarray(lo), np.asarray(hi)
    if claim.type == "equivalent":
        inside, outside = (-claim.margin < lo) & (hi < claim.margin), (lo > claim.margin) | (hi < -claim.margin)
    elif claim.type == "tracks":
        low, high = claim.band
        inside, outside = (low <= lo) & (hi <= high), (hi < low) | (lo > high)
    else:
        inside, outside = lo > claim.margin, hi < claim.margin
    return np.where(inside, "reproduced", np.where(outside, "not reproduced", "inconclusive"))


def verdict(claim: Claim, lo: float, hi: float) -> Verdict:
    return str(verdicts(claim, lo, hi))  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# What would decide an inconclusive claim


def seeds_needed(est: PairedEffect, distance: float, max_seeds: int = 200) -> dict[str, Any]:
    """About how many seeds (at this many examples), or else examples (at this many seeds), detect an
    effect ``distance`` away from the decision boundary at 80% power, from ``est``'s variance
    components. With one seed the seed variance is unknown and only examples are counted."""
    n, m, distance = est.n_seeds, est.n_examples, abs(float(distance))
    s_u, s_v, s_w = (float(np.nan_to_num(x)) for x in (est.seed_var, est.example_var, est.resid_var))
    if n == 1:
        s_v = float(np.nan_to_num(est.example_var))  # the within-seed example variance, all of it
    z = stats.norm.ppf(POWER)

    def detects(seeds: int, examples: int) -> bool:  # the interval's half-width plus z_0.8 se
        seed_part = s_u / seeds + s_w / (seeds * examples)
        example_part = s_v / examples
        t_seed = stats.t.ppf(1 - ALPHA / 2, seeds - 1) if seeds > 1 else 0.0
        t_example = stats.t.ppf(1 - ALPHA / 2, examples - 1) if s_v > 0 else 0.0
        half = t_seed * np.sqrt(seed_part) + t_example * np.sqrt(example_part)
        return half + z * np.sqrt(seed_part + example_part) <= distance

    if distance == 0 or not np.isfinite(distance):
        return {"seeds": None, "examples": None, "distance": distance}
    if n > 1:
        for seeds in range(max(n, 2), max_seeds + 1):
            if detects(seeds, m):
                return {"seeds": seeds, "examples": m, "distance": distance}
    for factor in (2, 4, 8, 16, 32, 64) if m > 1 else ():
        if detects(max(n, 1), m * factor):
            return {"seeds": n, "examples": m * factor, "distance": distance}
    return {"seeds": None, "examples": None, "distance": distance}


def _needs(claim: Claim, result_effect: float, binding: PairedEffect) -> dict[str, Any]:
    """Seeds needed at the observed effect and, when stated, at the paper's delta (linear claims)."""
    if claim.type == "equivalent":
        observed = claim.margin - abs(result_effect)
        paper = None
    elif claim.type == "tracks":
        low, high = claim.band
        observed = min(abs(result_effect - low), abs(result_effect - high))
        paper = None
    else:
        observed = result_effect - claim.margin
        paper = None if claim.paper_delta is None else claim.paper_delta - claim.margin
    needs = {"observed": seeds_needed(binding, observed)}
    if paper is not None and paper > 0 and not (claim.type == "robust" and claim.absolute):
        needs["paper_delta"] = seeds_needed(binding, paper)
    return needs


# ----------------------------------------------------------------------------------------------
# Deciding one claim


@dataclass(frozen=True)
class ClaimResult:
    id: str
    type: str
    metric: str
    effect: float
    ci_low: float | None
    ci_high: float | None
    se: float | None
    df: float
    detectable: float | None
    verdict: Verdict
    arm_means: dict[str, float]
    n_seeds: int
    n_examples: int
    interval: str = INTERVAL
    needs: dict[str, Any] | None = None
    rule_verdict: Verdict | None = None
    not_testable: str | None = None
    trivial: dict[str, str] = field(default_factory=dict)


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def degenerate(claim: Claim, arms: Mapping[str, np.ndarray]) -> str | None:
    """Why the claim's arms cannot differ, or None: a contrast that is zero on every unit (for
    ``tracks``, ``a`` equal to ``b``; for an absolute ``robust``, the two drops equal)."""
    if claim.type == "tracks":
        parts = [arms[claim.a] - arms[claim.b[0]]]
    elif claim.type == "robust" and claim.absolute:
        drop_a, drop_b = contrasts(claim, arms)
        parts = [drop_b - drop_a]
    else:
        parts = contrasts(claim, arms)
    for part in parts:
        if np.all(part == 0):
            values = np.unique(np.concatenate([v.ravel() for v in arms.values()]))
            constant = f": every unit at {values[0]:g}" if values.size == 1 else ""
            return f"arms identical on every unit{constant}"
    return None


def decide(claim: Claim, scores: Mapping[str, np.ndarray]) -> ClaimResult:
    """Measure one claim: point effect, 95% interval, detectable effect, verdict, and for an
    inconclusive claim what would decide it. Degenerate arms and a trivial reference that the claim
    would pass make it *not testable* (module docstring); gates are applied by :func:`claims_document`."""
    arms = _arrays(claim, scores)
    est = interval(claim, arms)
    effect, lo, hi = float(est.effect), float(est.lo), float(est.hi)
    rule = verdict(claim, lo, hi)
    trivial = {t: decide(claim.with_a(t), scores).verdict for t in claim.trivial}
    passing = [t for t, v in trivial.items() if v == "reproduced"]
    reason = degenerate(claim, arms) or (f"trivial reference {passing[0]!r} passes it" if passing else None)
    decided = "not testable" if reason else rule
    n_seeds, n_examples = next(iter(arms.values())).shape[-2:]
    detectable = float(est.binding.detectable())
    return ClaimResult(
        id=claim.id,
        type=claim.type,
        metric=claim.metric,
        effect=effect,
        ci_low=_finite(lo),
        ci_high=_finite(hi),
        se=_finite(est.binding.se),
        df=float(est.binding.df),
        detectable=_finite(detectable),
        verdict=decided,
        arm_means={arm: float(v.mean()) for arm, v in arms.items()},
        n_seeds=int(n_seeds),
        n_examples=int(n_examples),
        needs=_needs(claim, effect, est.binding) if decided == "inconclusive" else None,
        rule_verdict=rule,
        not_testable=reason,
        trivial=trivial,
    )


def gated(result: ClaimResult, failed: Sequence[Mapping[str, Any]]) -> ClaimResult:
    """``result`` made *not testable* by the first failed gate among ``failed`` (gate entries)."""
    if not failed:
        return result
    gate = failed[0]
    values = ", ".join(f"{v:.3g}" for v in gate["value"])
    side = ">=" if gate["higher_is_better"] else "<="
    reason = f"gate {gate['name']} failed: {values} per seed, needs {side} {gate['threshold']:g}"
    return replace(result, verdict="not testable", not_testable=reason, needs=None)


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
    gates: Sequence[Gate] = (),
    gate_values: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, Any]:
    """Decide every claim and assemble the ``claims.json`` document (validated against the schema).

    ``scores`` maps metric -> arm -> ``(n_seeds, n_examples)``; ``table`` holds the rows of the
    results table (chance and oracle rows included); ``budget`` the ledger per method; ``gates`` the
    paper's declared gates and ``gate_values`` their measured value per seed (every declared gate
    measured, nothing else). A claim covered by a failed gate is *not testable*.
    """
    gate_entries = _gate_entries(gates, gate_values or {}, claims)
    decided = []
    for claim in claims:
        if claim.metric not in scores:
            raise KeyError(f"claim {claim.id}: metric {claim.metric!r} not measured; measured: {sorted(scores)}")
        failed = [g for g in gate_entries if claim.id in g["covers"] and not g["pass"]]
        decided.append(_claim_entry(claim, gated(decide(claim, scores[claim.metric]), failed)))
    doc = {
        "schema_version": CLAIMS_SCHEMA_VERSION,
        "paper": paper,
        "run": {**_where(paper, run), **run},
        "gates": gate_entries,
        "claims": decided,
        "table": [dict(row) for row in table],
        "budget": {k: dict(v) for k, v in budget.items()},
        "cannot_show": list(cannot_show),
    }
    validate(doc)
    return doc


def redecide(doc: Mapping[str, Any], claims: Sequence[Claim], scores: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """``doc`` with its claims decided again by the current rule from the per-unit ``scores`` they came
    from (a golden's ``scores.npz``) and the gates its run measured; everything else is kept."""
    by_id = {c.id: c for c in claims}
    unknown = [c["id"] for c in doc["claims"] if c["id"] not in by_id]
    if unknown:
        raise KeyError(f"claims {unknown} of the document are no longer stated; stated: {sorted(by_id)}")
    gates = doc.get("gates", [])
    decided = []
    for entry in doc["claims"]:
        claim = by_id[entry["id"]]
        failed = [g for g in gates if claim.id in g["covers"] and not g["pass"]]
        decided.append(_claim_entry(claim, gated(decide(claim, scores[claim.metric]), failed)))
    new = {**doc, "schema_version": CLAIMS_SCHEMA_VERSION, "claims": decided}
    validate(new)
    return new


def _gate_entries(
    gates: Sequence[Gate], values: Mapping[str, Sequence[float]], claims: Sequence[Claim]
) -> list[dict[str, Any]]:
    """The gates as ``claims.json`` keeps them, after checking that they cover the claims measured and
    that every declared gate, and nothing else, was measured."""
    declared = {g.name for g in gates}
    measured = {c.id for c in claims}
    # a profile may skip arms, and with them claims: a gate left covering nothing is left out
    kept = [replace(g, covers=tuple(c for c in g.covers if c in measured)) for g in gates if set(g.covers) & measured]
    if kept:
        check_gates(kept, claims)
    missing, unknown = {g.name for g in kept} - set(values), set(values) - declared
    if missing or unknown:
        raise KeyError(f"gates not measured: {sorted(missing)}; measured but not declared: {sorted(unknown)}")
    return [g.entry(values[g.name]) for g in kept]


def _where(paper: str, run: Mapping[str, Any]) -> dict[str, Any]:
    """Where and how long: the machine the run was made on (:mod:`repro.core.machine`) and the wall
    and CPU time of each step that finished before this evaluate step."""
    from .machine import facts, step_times
    from .steps import runs_root

    folder = runs_root() / str(run.get("run_name", ""))
    return {
        "machine": facts(),
        "step_wall_s": step_times(folder, paper),
        "step_cpu_s": step_times(folder, paper, key="cpu_s"),
    }


def _claim_entry(claim: Claim, result: ClaimResult) -> dict[str, Any]:
    stated = asdict(claim)
    stated["b"] = list(claim.b)
    stated["trivial"] = list(claim.trivial)
    stated["paper_numbers"] = dict(claim.paper_numbers)
    for key in ("perturbed", "band"):
        stated[key] = list(stated[key]) if stated[key] is not None else None
    measured = asdict(result)
    measured.pop("id"), measured.pop("type"), measured.pop("metric")
    stated["result"] = measured
    if claim.control:  # a control that cannot be tested did not come out as expected
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


def needs_text(result: Mapping[str, Any]) -> str:
    """'~N seeds' / '~M examples' / 'not by size' for an inconclusive claim; '' otherwise."""
    needs = result.get("needs")
    if not needs:
        return ""

    def one(entry: Mapping[str, Any]) -> str:
        if entry["seeds"] is None:
            return "not by size"
        if entry["examples"] == result["n_examples"]:
            return f"~{entry['seeds']} seeds"
        return f"~{entry['examples']} examples"

    text = one(needs["observed"])
    if "paper_delta" in needs:
        text += f" (paper's delta: {one(needs['paper_delta'])})"
    return text


def _fmt_ci(r: Mapping[str, Any]) -> str:
    lo, hi = r["ci_low"], r["ci_high"]
    return f"[{'-inf' if lo is None else f'{lo:.3g}'}, {'inf' if hi is None else f'{hi:.3g}'}]"


def claim_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per claim: ours beside the paper's delta, interval, detectable effect, verdict (and,
    for a control, whether it came out as expected), and what would decide an inconclusive claim.
    The report and the notebooks show these rows."""
    rows = []
    for c in doc["claims"]:
        r = c["result"]
        verdict = verdict_text(r)
        if c["control"]:
            verdict += f" (expected {c['expected']}: {'as expected' if r.get('as_expected') else 'NOT as expected'})"
        rows.append(
            {
                "claim": c["id"] + (" (control)" if c["control"] else ""),
                "type": c["type"],
                "metric": c["metric"],
                "A vs B": f"{c['a']} vs {', '.join(c['b'])}",
                "ours": r["effect"],
                "95% CI": _fmt_ci(r),
                "detectable": r["detectable"],
                "margin": str(c["band"]) if c["type"] == "tracks" else c["margin"],
                "paper delta": "-" if c["paper_delta"] is None else c["paper_delta"],
                "verdict": verdict,
                "to decide": needs_text(r),
            }
        )
    return rows


def verdict_text(result: Mapping[str, Any]) -> str:
    """The verdict with its reason when the claim was not testable."""
    if result["verdict"] == "not testable" and result.get("not_testable"):
        return f"not testable ({result['not_testable']})"
    return result["verdict"]


def summary_line(doc: Mapping[str, Any]) -> str:
    """One line per paper: verdict counts of the claims, controls as expected, gates passed."""
    claims = [c for c in doc["claims"] if not c["control"]]
    controls = [c for c in doc["claims"] if c["control"]]
    count = {v: sum(c["result"]["verdict"] == v for c in claims) for v in VERDICTS}
    gates = doc.get("gates", [])
    return (
        f"{len(claims)} claims: {count['reproduced']} reproduced, {count['not reproduced']} not reproduced, "
        f"{count['inconclusive']} inconclusive, {count['not testable']} not testable; "
        f"controls {sum(bool(c['result'].get('as_expected')) for c in controls)}/{len(controls)} as expected; "
        f"gates {sum(g['pass'] for g in gates)}/{len(gates)} pass"
    )


def gate_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per gate: value per seed, threshold, pass, claims covered (report and notebooks)."""
    return [
        {
            "gate": g["name"],
            "what it shows": g["text"],
            "value per seed": ", ".join(f"{v:.3g}" for v in g["value"]),
            "needs": f"{'>=' if g['higher_is_better'] else '<='} {g['threshold']:g}",
            "pass": g["pass"],
            "covers": ", ".join(g["covers"]),
        }
        for g in doc.get("gates", [])
    ]


def gates_frame(doc: Mapping[str, Any]):
    """The gates as a DataFrame (notebooks)."""
    import pandas as pd

    return pd.DataFrame(gate_rows(doc), columns=["gate", "what it shows", "value per seed", "needs", "pass", "covers"])


def claims_frame(doc: Mapping[str, Any]):
    """The claims table as a DataFrame (notebooks)."""
    import pandas as pd

    return pd.DataFrame(claim_rows(doc)).round(3)
