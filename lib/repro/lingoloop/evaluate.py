"""Metrics of an energy-latency attack, per image, for the claims. Introduced in ``04_evaluate.ipynb``.

* ``tokens``: generated tokens (EOS included; a caption without EOS counts the cap) and ``at_cap``
  (100 when it hit ``max_new_tokens``, else 0: the share in points).
* ``tokens_at_probe``: tokens after ``probe_step`` attack steps, and ``steps_to_cap``: the first
  regeneration step whose output hit the cap (``steps + regen_every`` when none did). These compare
  attacks below saturation (card's honesty guard: a tiny victim may hit the cap under every attack).
* ``latency_ms``: wall time of ``generate`` for one image (batch 1), on a subset, for the arms a
  claim compares.
* ``energy_j``: RAPL ``energy_uj`` around that generation where readable; otherwise (these machines)
  an **estimate** ``2 * params * tokens processed * J_PER_FLOP``, i.e. proportional to tokens: not an
  independent measurement and not a claim of its own (card). NVML on GPU where pynvml is present.
* ``repetition``: 100 * (1 - distinct-2) of the generated tokens; ``loop_period``: the shortest
  period the output ends on (:func:`loop_period`; the output length when nothing repeats).
* ``hidden_norm``: mean ||h||_2 over decoder layers and positions while the victim reads its own
  output, in percent of the same image's clean value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from repro.lingoloop.method import hidden_norm_loss, target_mask

J_PER_FLOP = 1e-10  # assumed CPU efficiency (10 GFLOP/J) for the labelled estimate, not a measurement
RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
LOOP_WINDOW = 32


def distinct_n(tokens: list[int], n: int = 2) -> float:
    """Unique n-grams / n-grams (1.0 for outputs shorter than n + 1 tokens)."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if len(grams) > 1 else 1.0


def loop_period(tokens: list[int], window: int = LOOP_WINDOW) -> int:
    """Smallest period p (at most window / 3) with which the output ends: its last
    ``max(3p, min(window, n) // 2)`` tokens repeat with period p; the output's length n when none does."""
    n = len(tokens)
    for p in range(1, window // 3 + 1):
        span = max(3 * p, min(window, n) // 2)
        if span <= n and all(tokens[i] == tokens[i + p] for i in range(n - span, n - p)):
            return p
    return n


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
    return {
        "tokens": lengths.float().numpy(),
        "at_cap": (lengths >= max_new_tokens).float().numpy() * 100,
        "repetition": np.array([100 * (1 - distinct_n(r)) for r in rows]),
        "loop_period": np.array([loop_period(r) for r in rows], dtype=float),
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


def timed_generation(vlm, images: torch.Tensor, max_new_tokens: int, repetition_penalty: float) -> dict:
    """Latency (ms) and energy (J) of generating for each image alone (batch 1), with the source
    of the energy number: "rapl" (measured) or "flop-estimate"."""
    params = vlm.parameters_count()
    latency, energy, sources = [], [], []
    for image in images:
        before = read_rapl()
        started = time.perf_counter()
        tokens = vlm.generate(image[None], max_new_tokens, repetition_penalty)
        latency.append((time.perf_counter() - started) * 1000)
        after = read_rapl()
        if before is not None and after is not None and after >= before:
            energy.append((after - before) / 1e6)
            sources.append("rapl")
        else:
            n = int(vlm.lengths(tokens)[0])
            energy.append(generation_flops(params, vlm.prompt_len, n) * J_PER_FLOP)
            sources.append("flop-estimate")
    return {"latency_ms": np.array(latency), "energy_j": np.array(energy), "energy_source": sorted(set(sources))}


def results_table(scores: Mapping[str, Mapping[str, np.ndarray]], cap: int) -> list[dict]:
    """One row per arm: the mean (and seed sd) of every metric it has; an oracle row at the cap."""
    arms = list(scores["tokens"])
    rows = [{"method": f"oracle (cap = {cap})", "tokens": float(cap), "at_cap": 100.0}]
    for arm in arms:
        row: dict = {"method": arm}
        for metric, by_arm in scores.items():
            if arm in by_arm:
                per_seed = np.asarray(by_arm[arm]).mean(axis=1)
                row[metric] = round(float(per_seed.mean()), 3)
                if len(per_seed) > 1:
                    row[f"{metric}_sd"] = round(float(per_seed.std(ddof=1)), 3)
        rows.append(row)
    return rows
