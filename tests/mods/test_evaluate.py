"""MMSA's metrics, per-example scores, the trivial probe, and the claims' wiring."""

import numpy as np
import pytest

from repro.mods.claims import CLAIMS
from repro.mods.data import SynthSpec, generate_split, tensors
from repro.mods.evaluate import example_scores, linear_probe, mmsa_metrics, selector_hits, trivial_probe
from repro.mods.method import ARMS


def test_mmsa_metrics_by_hand():
    truth = np.array([-3.0, -1.2, 0.0, 0.0, 0.4, 2.6])
    pred = np.array([-2.2, 0.3, -0.1, 0.2, 1.6, 3.9])
    m = mmsa_metrics(pred, truth)
    # has0: truth >= 0 -> F F T T T T ; pred >= 0 -> F T F T T T : 4/6
    assert m["Has0_acc_2"] == pytest.approx(400 / 6)
    # non0 drops the two zero labels: truth > 0 -> F F T T ; pred > 0 -> F T T T : 3/4
    assert m["Non0_acc_2"] == pytest.approx(75.0)
    # Acc-7: clip to [-3, 3], round: pred -2 0 -0 0 2 3 vs truth -3 -1 0 0 0 3 -> 3/6
    assert m["Mult_acc_7"] == pytest.approx(50.0)
    # Acc-5: clip to [-2, 2]: pred -2 0 -0 0 2 2 vs truth -2 -1 0 0 0 2 -> 4/6
    assert m["Mult_acc_5"] == pytest.approx(400 / 6)
    assert m["MAE"] == pytest.approx(np.abs(pred - truth).mean())
    assert m["Corr"] == pytest.approx(np.corrcoef(pred, truth)[0, 1])
    assert 0 <= m["Has0_F1_score"] <= 100 and 0 <= m["Non0_F1_score"] <= 100


def test_per_example_scores_average_to_the_metrics():
    rng = np.random.default_rng(0)
    truth, pred = np.round(rng.uniform(-3, 3, 200) * 3) / 3, rng.normal(0, 2, 200)
    m, s = mmsa_metrics(pred, truth), example_scores(pred, truth)
    assert s["mae"].mean() == pytest.approx(m["MAE"])
    assert s["acc7"].mean() == pytest.approx(m["Mult_acc_7"])
    assert s["acc2"].mean() == pytest.approx(m["Has0_acc_2"])
    assert selector_hits(np.array([0, 1, 2]), np.array([0, 2, 2])).tolist() == [100.0, 0.0, 100.0]


def test_trivial_probe_is_near_chance_on_the_generator():
    spec = SynthSpec(text_len=10, av_len=40, text_dim=8, audio_dim=5, vision_dim=6)
    train = {k: v.numpy() for k, v in tensors(generate_split(spec, 600, 0, language_always=False)).items()}
    test = {k: v.numpy() for k, v in tensors(generate_split(spec, 600, 1, language_always=False)).items()}
    acc = trivial_probe(train, test).mean()
    assert acc < 45, f"dominance readable from energy statistics: probe accuracy {acc:.1f}"


def test_a_linear_probe_on_pooled_features_can_read_the_cue():
    """The comparison C3b needs: a probe that could find the generator's cue direction (the trivial
    probe cannot by construction). On the generator it reads dominance far above chance."""
    spec = SynthSpec(text_len=10, av_len=40, text_dim=8, audio_dim=5, vision_dim=6)
    train = {k: v.numpy() for k, v in tensors(generate_split(spec, 600, 0, language_always=False)).items()}
    test = {k: v.numpy() for k, v in tensors(generate_split(spec, 600, 1, language_always=False)).items()}
    assert linear_probe(train, test).mean() > 60


def test_claims_name_real_arms_and_carry_a_control():
    known = set(ARMS) | {f"{a}@language" for a in ARMS} | {"chance", "trivial_probe", "linear_probe"}
    for claim in CLAIMS:
        assert set(claim.arms) <= known, claim.id
        assert claim.metric in {"mae", "acc7", "acc2", "mae_sweep", "selector"}
    assert any(c.control for c in CLAIMS)


def test_trivial_references_score_constants_on_the_same_utterances():
    from repro.mods.evaluate import trivial_scores

    truth = np.array([-3.0, 0.0, 1.0, 2.0])
    test = {"label": truth, "dominant": np.array([0, 1, 2, 0])}
    out = trivial_scores(np.array([0.0, 1.0, 2.0]), test, [truth, truth], n_seeds=2)
    np.testing.assert_allclose(out["mae"]["mean_label"], np.tile(np.abs(1.0 - truth), (2, 1)))
    np.testing.assert_allclose(out["mae_sweep"]["median_label"][0], np.abs(1.0 - truth))
    assert out["selector"]["always_text"].tolist() == [[100, 0, 0, 100]] * 2
    assert set(out["selector"]) == {"always_text", "always_audio", "always_vision"}


def test_a_gate_takes_the_worst_arm_of_the_claims_it_covers():
    from repro.core.claims import Claim, Gate
    from repro.mods.evaluate import gate_values

    claims = [Claim(id="C", text="", type="better", metric="mae", a="x", b=("y",), higher_is_better=False)]
    gates = [Gate(name="g", text="", covers=("C",), threshold=0.3)]
    values = gate_values(gates, claims, {"x": [0.5, 0.2], "y": [0.4, 0.6], "z": [0.0, 0.0]})
    assert values == {"g": [0.4, 0.2]}
