import copy
from dataclasses import replace

import jsonschema
import numpy as np
import pytest

from repro.core.claims import Claim, claims_document, claims_frame, decide, validate

RNG = np.random.default_rng(0)


def accuracy(p, seeds=3, n=400, rng=RNG):
    return (rng.random((seeds, n)) < p) * 100.0


def paired(p_shared, extra, seeds=3, n=400):
    """Two arms that agree on most images (paired), A right on `extra` more of them."""
    base = RNG.random((seeds, n))
    return (base < p_shared) * 100.0, (base < p_shared - extra) * 100.0


def claim(type_="better", **kw):
    return Claim(id="c", text="t", type=type_, metric="acc", a="A", b=kw.pop("b", ("B",)), **kw)


def test_clear_win_is_reproduced():
    a, b = paired(0.8, 0.10)
    result = decide(claim(), {"A": a, "B": b})
    assert result.verdict == "reproduced" and result.ci_low > 0 and 8 < result.effect < 12


def test_clear_loss_is_not_reproduced():
    a, b = paired(0.8, 0.10)
    assert decide(claim(), {"A": b, "B": a}).verdict == "not reproduced"


def test_noise_is_inconclusive():
    a, b = accuracy(0.7), accuracy(0.7)
    result = decide(claim(), {"A": a, "B": b})
    assert result.verdict == "inconclusive" and result.ci_low < 0 < result.ci_high and result.detectable > 0


def test_margin_makes_a_small_win_not_enough():
    a, b = paired(0.8, 0.03)
    assert decide(claim(margin=10.0), {"A": a, "B": b}).verdict == "not reproduced"


def test_lower_is_better_flips_the_direction():
    a, b = paired(0.8, 0.10)
    assert decide(claim(higher_is_better=False), {"A": b, "B": a}).verdict == "reproduced"


def test_equivalence_reproduced_and_refuted():
    a = accuracy(0.7)
    b = a.copy()
    b[:, :2] = 100 - b[:, :2]  # near-identical arms (identical ones are not testable: below)
    same = decide(claim("equivalent", margin=3.0), {"A": a, "B": b})
    assert same.verdict == "reproduced" and abs(same.effect) < 1
    x, y = paired(0.9, 0.2)
    assert decide(claim("equivalent", margin=3.0), {"A": x, "B": y}).verdict == "not reproduced"


def test_best_of_needs_to_beat_every_rival():
    a, b = paired(0.8, 0.10)
    c = a.copy()
    assert decide(claim("best_of", b=("B",)), {"A": a, "B": b}).verdict == "reproduced"
    assert decide(claim("best_of", b=("B", "C")), {"A": a, "B": b, "C": c}).verdict != "reproduced"


def test_robust_compares_drops_and_absolute_spreads():
    ref_a, pert_a = paired(0.8, 0.02)  # A drops 2 points under the fault
    ref_b, pert_b = paired(0.8, 0.15)  # B drops 15
    scores = {"A": ref_a, "B": ref_b, "Ap": pert_a, "Bp": pert_b}
    robust = claim("robust", perturbed=("Ap", "Bp"))
    result = decide(robust, scores)
    assert result.verdict == "reproduced" and 10 < result.effect < 16
    swapped = {"A": pert_b, "B": ref_b, "Ap": ref_b, "Bp": pert_b}  # A's change is as large as B's, sign flipped
    assert decide(claim("robust", perturbed=("Ap", "Bp"), absolute=True), swapped).verdict != "reproduced"


def test_tracks_uses_the_ratio_and_the_band():
    a = np.full((3, 1), 2.0) + RNG.normal(0, 0.01, (3, 1))
    b = np.full((3, 1), 1.0)
    assert decide(claim("tracks", band=(1.8, 2.2)), {"A": a, "B": b}).verdict == "reproduced"
    assert decide(claim("tracks", band=(0.5, 1.5)), {"A": a, "B": b}).verdict == "not reproduced"


def test_bad_claims_and_scores_are_refused():
    with pytest.raises(ValueError, match="robust"):
        claim("robust")
    with pytest.raises(ValueError, match="positive margin"):
        claim("equivalent")
    with pytest.raises(KeyError, match="no scores for arms"):
        decide(claim(), {"A": accuracy(0.5)})
    with pytest.raises(ValueError, match="one \\(seeds, examples\\) shape"):
        decide(claim(), {"A": accuracy(0.5, n=10), "B": accuracy(0.5, n=11)})


def document():
    a, b = paired(0.8, 0.10)
    control = claim("equivalent", margin=5.0, control=True, expected="reproduced")
    return claims_document(
        paper="toy",
        run={"profile": "smoke", "run_name": "smoke", "seeds": [0, 1, 2]},
        claims=[claim(paper_delta=1.5), replace(control, id="k")],
        scores={"acc": {"A": a, "B": b}},
        table=[{"method": "A", "acc": 80.0}],
        budget={"A": {"optimizer_steps": 3, "forward_samples": {"student": 9}, "wall_s": 0.1}},
        cannot_show=["scale"],
    )


def test_claims_document_follows_the_schema_and_flags_controls():
    doc = document()
    assert doc["claims"][0]["result"]["verdict"] == "reproduced"
    assert doc["claims"][1]["result"]["as_expected"] is False  # A and B differ by ~10 > 5
    frame = claims_frame(doc)
    assert list(frame["claim"]) == ["c", "k (control)"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("budget"),
        lambda d: d["claims"][0]["result"].update(verdict="probably"),
        lambda d: d["claims"][0].update(type="vibes"),
        lambda d: d.update(schema_version="0.9"),
    ],
)
def test_schema_rejects_malformed_documents(mutate):
    doc = copy.deepcopy(document())
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_an_inconclusive_claim_says_how_many_seeds_would_decide_it():
    rng = np.random.default_rng(3)
    seed_effect = rng.normal(0, 2.0, (3, 1))
    a = 70 + 1.5 + seed_effect + rng.normal(0, 1.0, (3, 300))  # a 1.5-point effect, seed SD 2
    b = 70 + rng.normal(0, 2.0, (3, 1)) + rng.normal(0, 1.0, (3, 300))
    result = decide(claim(paper_delta=3.0), {"A": a, "B": b})
    assert result.verdict == "inconclusive"
    needed = result.needs["observed"]["seeds"]
    assert needed is not None and needed > 3 and result.needs["observed"]["examples"] == 300
    assert result.needs["paper_delta"]["seeds"] <= needed  # a larger effect needs fewer seeds
    row = claims_frame(document_for(claim(paper_delta=3.0), {"A": a, "B": b})).iloc[0]
    assert row["to decide"].startswith(f"~{needed} seeds")


def test_one_seed_and_one_example_give_no_interval():
    result = decide(claim(), {"A": np.ones((1, 1)), "B": np.zeros((1, 1))})
    assert result.verdict == "inconclusive" and result.ci_low is None and result.ci_high is None


def test_one_seed_uses_the_examples_as_the_only_noise():
    a, b = paired(0.8, 0.10, seeds=1, n=400)
    result = decide(claim(), {"A": a, "B": b})
    assert result.verdict == "reproduced" and result.df == 399


def document_for(c, scores):
    return claims_document(
        paper="toy",
        run={"profile": "smoke", "run_name": "smoke", "seeds": [0, 1, 2]},
        claims=[c],
        scores={"acc": scores},
        table=[],
        budget={},
        cannot_show=[],
    )


# ----------------------------------------------------------------------------------------------
# Not testable: degenerate arms, trivial references, gates (docs/design.md, Claims)


def _claim(**kw):
    from repro.core.claims import Claim

    base = dict(id="C", text="t", type="better", metric="m", a="x", b=("y",), margin=1.0)
    return Claim(**{**base, **kw})


def test_all_zero_arms_are_not_testable_never_not_reproduced():
    from repro.core.claims import decide

    zero = np.zeros((3, 256))
    result = decide(_claim(), {"x": zero, "y": zero})
    assert result.verdict == "not testable"
    assert result.rule_verdict == "not reproduced"  # what the interval alone would have said
    assert "identical on every unit" in result.not_testable and "at 0" in result.not_testable
    assert result.needs is None


def test_identical_arms_off_the_floor_are_not_testable_too():
    from repro.core.claims import decide

    arms = np.random.default_rng(0).normal(size=(3, 40))
    assert decide(_claim(type="equivalent"), {"x": arms, "y": arms.copy()}).verdict == "not testable"
    assert decide(_claim(), {"x": arms, "y": arms + 0.01}).verdict != "not testable"


def test_a_claim_a_trivial_reference_passes_is_not_testable_and_names_it():
    from repro.core.claims import decide

    rng = np.random.default_rng(1)
    scores = {"x": rng.normal(5, 1, (3, 100)), "y": rng.normal(0, 1, (3, 100)), "reject_all": np.full((3, 100), 9.0)}
    scores["accept_all"] = np.zeros((3, 100))
    result = decide(_claim(trivial=("accept_all", "reject_all")), scores)
    assert result.rule_verdict == "reproduced"
    assert result.trivial == {"accept_all": "not reproduced", "reject_all": "reproduced"}
    assert result.verdict == "not testable" and "reject_all" in result.not_testable
    clean = decide(_claim(trivial=("accept_all",)), scores)
    assert clean.verdict == "reproduced" and clean.not_testable is None


def test_a_failed_gate_makes_its_claims_not_testable_and_is_kept_in_claims_json():
    from repro.core.claims import Gate, claims_document, summary_line

    rng = np.random.default_rng(2)
    scores = {"m": {"x": rng.normal(5, 1, (3, 50)), "y": rng.normal(0, 1, (3, 50))}}
    claims = [_claim(id="C1"), _claim(id="C2"), _claim(id="K1", control=True, note="n")]
    gates = [
        Gate("learned", "above chance", covers=("C1", "K1"), threshold=60.0),
        Gate("teacher", "robust teacher", covers=("C2",), threshold=10.0),
    ]
    run = {"profile": "cpu", "run_name": "cpu", "seeds": [0, 1, 2], "machine": {}}
    doc = claims_document(
        paper="p", run=run, claims=claims, scores=scores, table=[], budget={}, cannot_show=[],
        gates=gates, gate_values={"learned": [70.0, 59.0, 80.0], "teacher": [12.0, 15.0, 11.0]},
    )  # fmt: skip
    by_id = {c["id"]: c["result"] for c in doc["claims"]}
    assert [g["pass"] for g in doc["gates"]] == [False, True]
    assert by_id["C1"]["verdict"] == "not testable" and "gate learned failed" in by_id["C1"]["not_testable"]
    assert by_id["C2"]["verdict"] == "reproduced"
    assert by_id["K1"]["verdict"] == "not testable" and by_id["K1"]["as_expected"] is False
    assert summary_line(doc) == (
        "2 claims: 1 reproduced, 0 not reproduced, 0 inconclusive, 1 not testable; "
        "controls 0/1 as expected; gates 1/2 pass"
    )
    with pytest.raises(KeyError, match="not measured"):
        claims_document(
            paper="p", run=run, claims=claims, scores=scores, table=[], budget={}, cannot_show=[],
            gates=gates, gate_values={"learned": [70.0]},
        )  # fmt: skip


def test_gates_must_cover_every_claim_and_only_claims_that_exist():
    from repro.core.claims import Gate, check_gates

    claims = [_claim(id="C1"), _claim(id="C2")]
    with pytest.raises(ValueError, match=r"\['C2'\] have no gate"):
        check_gates([Gate("g", "t", covers=("C1",), threshold=0.0)], claims)
    with pytest.raises(ValueError, match="unknown claims"):
        check_gates([Gate("g", "t", covers=("C1", "C2", "C9"), threshold=0.0)], claims)
    with pytest.raises(ValueError, match="covers no claim"):
        Gate("g", "t", covers=(), threshold=0.0)
    assert not Gate("g", "t", covers=("C1",), threshold=0.0).passes([1.0, float("nan")])


def test_seeds_tied_on_a_coarse_metric_do_not_give_a_zero_width_interval():
    """One clip lost on each seed, a different clip each time: the seeds' means tie exactly (-5), and
    the paired t over seed means alone would decide 'not reproduced' on [-5, -5]."""
    d = np.zeros((3, 20))
    d[0, 4] = d[1, 7] = d[2, 9] = -100.0
    result = decide(claim(), {"A": d, "B": np.zeros_like(d)})
    assert result.effect == -5.0 and result.ci_low < -10 and result.ci_high > 0
    assert result.verdict == "inconclusive"


def test_redecide_reproduces_the_document_from_its_scores():
    from repro.core.claims import Gate, redecide

    rng = np.random.default_rng(3)
    scores = {"m": {"x": rng.normal(5, 1, (3, 50)), "y": rng.normal(0, 1, (3, 50))}}
    claims = [replace(claim(), id="C1", a="x", b=("y",), metric="m")]
    run = {"profile": "cpu", "run_name": "cpu", "seeds": [0, 1, 2], "machine": {}}
    doc = claims_document(
        paper="p", run=run, claims=claims, scores=scores, table=[], budget={}, cannot_show=[],
        gates=[Gate("g", "t", covers=("C1",), threshold=1.0)], gate_values={"g": [2.0, 2.0, 0.5]},
    )  # fmt: skip
    again = redecide(doc, claims, scores)
    assert again == doc and again["claims"][0]["result"]["verdict"] == "not testable"
    with pytest.raises(KeyError, match="no longer stated"):
        redecide(doc, [], scores)


def test_a_gate_whose_claims_were_all_skipped_is_left_out():
    """Real data may lack an arm (MODS's control set on MOSI): its claims, and a gate covering only
    them, are left out instead of failing the run."""
    from repro.core.claims import Gate

    rng = np.random.default_rng(4)
    scores = {"m": {"x": rng.normal(5, 1, (3, 50)), "y": rng.normal(0, 1, (3, 50))}}
    gates = [Gate("main", "t", covers=("C1",), threshold=0.0), Gate("control", "t", covers=("K1",), threshold=0.0)]
    doc = claims_document(
        paper="p", run={"profile": "paper", "run_name": "paper", "seeds": [0, 1, 2], "machine": {}},
        claims=[replace(claim(), id="C1", a="x", b=("y",), metric="m")], scores=scores, table=[], budget={},
        cannot_show=[], gates=gates, gate_values={"main": [1.0, 1.0, 1.0], "control": [1.0, 1.0, 1.0]},
    )  # fmt: skip
    assert [g["name"] for g in doc["gates"]] == ["main"]
