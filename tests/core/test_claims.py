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
    same = decide(claim("equivalent", margin=3.0), {"A": a, "B": a.copy()})
    assert same.verdict == "reproduced" and same.effect == 0
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
