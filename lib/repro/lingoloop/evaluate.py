"""Metrics of an energy-latency attack, per image, for the claims. Introduced in ``04_evaluate.ipynb``.

* ``tokens``: generated tokens (EOS included; a caption without EOS counts the cap) and ``at_cap``
  (100 when it hit ``max_new_tokens``, else 0: the share in points).
* ``tokens_at_probe``: tokens after ``probe_step`` attack steps, and ``steps_to_cap``: the first
  regeneration step whose output hit the cap (``steps + regen_every`` when none did). These compare
  attacks below saturation (an honesty guard: a tiny victim may hit the cap under every attack).
* ``latency_ms``: wall time of ``generate`` for one image (batch 1), for every image of the arms a
  claim compares: the arms are interleaved per image (their order rotating from image to image) and
  the whole pass is repeated ``repeats`` times; the score is each image's median.
* ``energy_j``: RAPL ``energy_uj`` around that generation where readable; otherwise (these machines)
  an **estimate** ``2 * params * tokens processed * J_PER_FLOP``, i.e. proportional to tokens: not an
  independent measurement and not a claim of its own (docs/papers/lingoloop.md). NVML on GPU where pynvml is present.
* ``repetition``: 100 * (1 - distinct-2) of the generated tokens.
* ``loops``: 100 when the output ends in a loop (:func:`loop_period`: its last ``max(2p, 16)``
  tokens repeat with a period p <= 64), else 0; ``loop_period``: that period, defined only for
  outputs that loop (NaN otherwise; the claims compare it on the images where both arms loop).
* ``hidden_norm``: mean ||h||_2 over the decoder layers' own outputs (the residual stream after each
  layer, before the final norm; :class:`repro.lingoloop.vlm.TeacherForced`) and positions while the
  victim reads its own output, in percent of the same image's clean value.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from repro.lingoloop.method import hidden_norm_loss, target_mask

J_PER_FLOP = 1e-10  # assumed CPU efficiency (10 GFLOP/J) for the labelled estimate, not a measurement
RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
MAX_LOOP_PERIOD = 64
MIN_LOOP_SPAN = 16


def distinct_n(tokens: list[int], n: int = 2) -> float:
    """Unique n-grams / n-grams (1.0 for outputs shorter than n + 1 tokens)."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if len(grams) > 1 else 1.0


def loop_period(tokens: list[int], max_period: int = MAX_LOOP_PERIOD, min_span: int = MIN_LOOP_SPAN) -> int | None:
    """The smallest period p <= ``max_period`` with which the output ends in a loop: its last
    ``max(2p, min_span)`` tokens repeat with period p (two full periods at least, and never fewer
    than ``min_span`` tokens, so a repeated word pair is not a loop); None when it does not loop."""
    n = len(tokens)
    for p in range(1, max_period + 1):
        span = max(2 * p, min_span)
        if span > n:
            break
        if all(tokens[i] == tokens[i + p] for i in range(n - span, n - p)):
            return p
    return None


def output_rows(vlm, tokens: torch.Tensor) -> list[list[int]]:
    """Each generated row up to (not including) its EOS."""
    lengths = vlm.lengths(tokens).tolist()
    eos = set(vlm.eos_ids.tolist())
    return [[t for t in row[:n] if t not in eos] for row, n in zip(tokens.tolist(), lengths)]


@torch.no_grad()
def output_metrics(vlm, images: torch.Tensor, max_new_tokens: int, repetition_penalty: float) -> dict[str, np.ndarray]:
    """Tokens, cap share, repetition, loop period and mean hidden norm per image, and the outputs."""
    tokens = vlm.generate(images, max_new_tokens, repetition_penalty)
    lengths = vlm.lengths(tokens)
    rows = output_rows(vlm, tokens)
    hidden = vlm.teacher_forced(images, tokens).hidden
    norms = hidden_norm_loss(hidden, target_mask(lengths, tokens.shape[1]))
    periods = [loop_period(r) for r in rows]
    return {
        "tokens": lengths.float().numpy(),
        "at_cap": (lengths >= max_new_tokens).float().numpy() * 100,
        "repetition": np.array([100 * (1 - distinct_n(r)) for r in rows]),
        "loops": np.array([100.0 * (p is not None) for p in periods]),
        "loop_period": np.array([np.nan if p is None else p for p in periods], dtype=float),
        "hidden_raw": norms.float().numpy(),
        "outputs": rows,
    }


def probe_metrics(checkpoints: list[int], lengths: np.ndarray, probe_step: int, cap: int, regen_every: int):
    """Tokens after ``probe_step`` steps and steps until the cap, from the attack's regenerations."""
    lengths = np.asarray(lengths)
    at_probe = lengths[checkpoints.index(probe_step)]
    hit = lengths >= cap
    censored = checkpoints[-1] + regen_every
    first = np.where(hit.any(0), np.asarray(checkpoints)[hit.argmax(0)], censored)
    return {"tokens_at_probe": at_probe.astype(float), "steps_to_cap": first.astype(float)}


def read_rapl() -> int | None:
    """Package energy counter in microjoules, or None where RAPL is not readable (these machines)."""
    try:
        return int(RAPL.read_text())
    except (OSError, ValueError):
        return None


def generation_flops(params: Mapping[str, int], prompt_len: int, new_tokens: int) -> float:
    """2 * params per token: the prompt (image tokens included) through the whole model, the new
    tokens through the decoder (attention over the cache is neglected at this size)."""
    return 2.0 * (params["total"] * prompt_len + params["decoder"] * new_tokens)


def timed_generation(
    vlm, images: Mapping[str, torch.Tensor], max_new_tokens: int, repetition_penalty: float, repeats: int = 3
) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """Latency (ms) and energy (J) of generating for each image alone (batch 1), per arm
    (``images[arm]``: (N, 3, H, W), the same N images attacked by each arm). Arms are interleaved
    per image, their order rotating from image to image and pass to pass, and the passes are
    repeated ``repeats`` times; each image's score is its median over the passes. Returns
    ``{arm: {"latency_ms", "energy_j"}}`` and the energy's sources: "rapl" (measured) or
    "flop-estimate"."""
    arms = list(images)
    n = len(next(iter(images.values())))
    params = vlm.parameters_count()
    latency = {arm: np.zeros((repeats, n)) for arm in arms}
    energy = {arm: np.zeros((repeats, n)) for arm in arms}
    sources = set()
    for r in range(repeats):
        for i in range(n):
            shift = (i + r) % len(arms)
            for arm in arms[shift:] + arms[:shift]:
                before = read_rapl()
                started = time.perf_counter()
                tokens = vlm.generate(images[arm][i : i + 1], max_new_tokens, repetition_penalty)
                latency[arm][r, i] = (time.perf_counter() - started) * 1000
                after = read_rapl()
                if before is not None and after is not None and after >= before:
                    energy[arm][r, i] = (after - before) / 1e6
                    sources.add("rapl")
                else:
                    tokens_out = int(vlm.lengths(tokens)[0])
                    energy[arm][r, i] = generation_flops(params, vlm.prompt_len, tokens_out) * J_PER_FLOP
                    sources.add("flop-estimate")
    out = {arm: {"latency_ms": np.median(latency[arm], 0), "energy_j": np.median(energy[arm], 0)} for arm in arms}
    return out, sorted(sources)


def results_table(scores: Mapping[str, Mapping[str, np.ndarray]], cap: int) -> list[dict]:
    """One row per arm: the mean (and seed sd) of every metric it has; an oracle row at the cap."""
    arms = list(scores["tokens"])
    rows = [{"method": f"oracle (cap = {cap})", "tokens": float(cap), "at_cap": 100.0}]
    for arm in arms:
        row: dict = {"method": arm}
        for metric, by_arm in scores.items():
            if arm in by_arm:
                values = np.asarray(by_arm[arm], dtype=float)
                if np.isnan(values).all():
                    continue
                with warnings.catch_warnings():  # a seed where no output loops has no loop_period
                    warnings.simplefilter("ignore", RuntimeWarning)
                    per_seed = np.nanmean(values, axis=1)  # loop_period: over the outputs that loop
                row[metric] = round(float(np.nanmean(per_seed)), 3)
                if np.isfinite(per_seed).sum() > 1:
                    row[f"{metric}_sd"] = round(float(np.nanstd(per_seed, ddof=1)), 3)
        rows.append(row)
    return rows


def loop_period_where_both_loop(periods: Mapping[str, np.ndarray], a: str, b: str) -> dict[str, np.ndarray] | None:
    """Per seed, the mean loop period of arms ``a`` and ``b`` over the images where both outputs loop,
    as (n_seeds, 1) arrays (a period is only defined for an output that loops); None when some seed
    has no such image (the claim is then not measured)."""
    if a not in periods or b not in periods:
        return None
    pa, pb = np.asarray(periods[a], dtype=float), np.asarray(periods[b], dtype=float)
    both = np.isfinite(pa) & np.isfinite(pb)
    if not both.any(axis=1).all():
        return None
    mean = lambda p: np.array([[p[s][both[s]].mean()] for s in range(len(p))])  # noqa: E731
    return {a: mean(pa), b: mean(pb)}
