"""The K1 controls can fail: a generator that writes the label into the words makes the blank-image
judge (the text prior) read it, and K1 then comes out "not reproduced" instead of "reproduced"."""

import numpy as np
import pytest

from repro.core.claims import decide
from repro.vbackchecker.claims import CLAIMS, GATES
from repro.vbackchecker.data import generate
from repro.vbackchecker.evaluate import detection_scores
from repro.vbackchecker.pipeline import text_prior

SIZES = {"train": 300, "val": 40, "bench": 200, "refer": 2}
SEEDS = (0, 1, 2)
K1 = {c.id: c for c in CLAIMS if c.control}


@pytest.fixture(scope="module")
def drafts():
    return generate(SIZES, 32, 0.04, 3, 2, ("shape", "colour", "left_right"), seed=0)


def tables(drafts, leak: bool) -> dict:
    """The splits as columns; with ``leak``, the generator bug: hallucinated descriptions open with
    "a" where every grounded one opens with "the"."""
    out = {}
    for split, draft in drafts.items():
        rows = [dict(r) for r in draft.rows]
        for r in rows:
            if leak and r["no_target"]:
                r["sentence"] = "a" + r["sentence"][len("the") :]
        out[split] = {k: [r[k] for r in rows] for k in ("sentence", "kind", "no_target", "error_type", "operator")}
    return out


def k1_result(drafts, claim_id: str, leak: bool):
    t = tables(drafts, leak)
    per_seed = []
    for seed in SEEDS:
        accept, _ = text_prior(t, seed)
        per_seed.append(
            detection_scores(accept, t["bench"]["error_type"], t["bench"]["operator"], ())[K1[claim_id].metric]
        )
    prior = np.stack(per_seed)
    return decide(K1[claim_id], {"text_prior": prior, "chance": np.full_like(prior, 50.0)})


def check_sabotage(drafts, claim_id: str) -> None:
    clean, leaky = k1_result(drafts, claim_id, False), k1_result(drafts, claim_id, True)
    margin = K1[claim_id].margin
    assert abs(clean.effect) < margin, clean  # the generator's words carry no label
    assert leaky.effect > margin and leaky.verdict == "not reproduced", leaky


def test_k1a_sabotage_a_leaky_generator_fails_it(drafts):
    check_sabotage(drafts, "K1a")


def test_k1r_sabotage_a_leaky_generator_fails_it(drafts):
    check_sabotage(drafts, "K1r")


def test_the_leak_gate_sees_a_planted_word(drafts):
    """The gate text_prior_reads_a_leak measures the prior's power on a planted word (75 for a
    perfect reader of it); it must pass here, or K1 could not fail."""
    _, leak_bacc = text_prior(tables(drafts, False), 0)
    gate = next(g for g in GATES if g.name == "text_prior_reads_a_leak")
    assert gate.passes([leak_bacc]), leak_bacc
