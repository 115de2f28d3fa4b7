"""Metrics: distinct-n, loop period, the below-saturation probes, the energy fallback."""

import numpy as np
import pytest
import torch

from repro.lingoloop.evaluate import (
    distinct_n,
    generation_flops,
    loop_period,
    loop_period_where_both_loop,
    probe_metrics,
    read_rapl,
    timed_generation,
)


def test_distinct_and_loop_period():
    assert distinct_n([1, 2, 3, 4]) == 1.0
    assert distinct_n([1, 2, 1, 2, 1, 2]) == pytest.approx(2 / 5)
    assert loop_period([5, 6] + [1, 2, 3] * 6) == 3
    assert loop_period([9] + [7] * 16) == 1
    assert loop_period([1, 2, 3, 4, 5]) is None  # no loop
    assert loop_period([5, 6, 1, 2, 1, 2]) is None  # a repeated pair is not a loop (min span 16)
    assert loop_period(list(range(30)) + list(range(30))) == 30  # two full periods of a long cycle
    assert loop_period(list(range(20)) + list(range(10))) is None  # less than two periods


def test_loop_period_is_compared_where_both_arms_loop():
    nan = float("nan")
    periods = {"a": np.array([[2, nan, 4], [3, 3, nan]]), "b": np.array([[6, 5, nan], [nan, 9, 1]])}
    both = loop_period_where_both_loop(periods, "a", "b")
    assert both["a"].tolist() == [[2.0], [3.0]] and both["b"].tolist() == [[6.0], [9.0]]
    periods["b"][1, 1] = nan  # seed 1 has no image where both loop: not measured
    assert loop_period_where_both_loop(periods, "a", "b") is None


def test_probe_metrics_read_the_regenerations():
    checkpoints = [0, 10, 20, 30]
    lengths = np.array([[12, 12], [40, 12], [128, 30], [128, 60]])
    m = probe_metrics(checkpoints, lengths, probe_step=10, cap=128, regen_every=10)
    assert m["tokens_at_probe"].tolist() == [40, 12]
    assert m["steps_to_cap"].tolist() == [20, 40]  # the second never hit the cap: censored at 30 + 10


def test_energy_estimate_is_proportional_to_tokens():
    params = {"total": 1000, "decoder": 400}
    assert generation_flops(params, 17, 20) - generation_flops(params, 17, 10) == pytest.approx(2 * 400 * 10)
    assert read_rapl() is None or read_rapl() >= 0


def test_latency_times_every_image_of_every_arm(vlm):
    images = {"clean": torch.rand(3, 3, 32, 32), "attacked": torch.rand(3, 3, 32, 32)}
    timed, sources = timed_generation(vlm, images, max_new_tokens=4, repetition_penalty=1.0, repeats=2)
    assert set(timed) == {"clean", "attacked"} and sources
    for arm in timed.values():
        assert arm["latency_ms"].shape == (3,) and (arm["latency_ms"] > 0).all()
