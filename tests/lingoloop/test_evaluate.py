"""Metrics: distinct-n, loop period, the below-saturation probes, the energy fallback."""

import numpy as np
import pytest

from repro.lingoloop.evaluate import distinct_n, generation_flops, loop_period, probe_metrics, read_rapl


def test_distinct_and_loop_period():
    assert distinct_n([1, 2, 3, 4]) == 1.0
    assert distinct_n([1, 2, 1, 2, 1, 2]) == pytest.approx(2 / 5)
    assert loop_period([5, 6, 1, 2, 3, 1, 2, 3, 1, 2, 3]) == 3
    assert loop_period([7, 7, 7, 7]) == 1
    assert loop_period([1, 2, 3, 4, 5]) == 5  # no loop: the output's length


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
