"""Rewriting: the rules, the fixed point, splitting and merging, and the held-out-lexicon guard."""

import pytest

from repro.medaide.kb import build_kb
from repro.medaide.queries import LEXICON, make_split
from repro.medaide.rewrite import RULE_LEXICON, Rewriter, osa_distance

GENERAL = (
    "which clinic handles what dose should i take for the and how is it when my follow up visit doctor medication"
).split()


@pytest.fixture(scope="module")
def kb():
    return build_kb(8, 2, seed=0)


@pytest.fixture(scope="module")
def rewriter(kb):
    return Rewriter(kb.vocabulary(), kb.terms(), GENERAL)


def test_osa_distance():
    assert osa_distance("dose", "dose") == 0
    assert osa_distance("dsoe", "dose") == 1  # a swap is one edit
    assert osa_distance("dse", "dose") == 1 and osa_distance("dosse", "dose") == 1
    assert osa_distance("abc", "xyz") == 3


def test_lexicon_acronym_and_spelling_rules(rewriter, kb):
    d = kb.diseases[0]
    misspelt = d.name.split()[-1][:3] + d.name.split()[-1][4:]  # a letter dropped from the invented name
    out = rewriter.rewrite_many([f"wat dose of meds for {d.acronym}", f"which clinic handles {misspelt}"])
    assert out[0].text == f"what dose of medication for {d.name}"
    assert out[1].text.endswith(d.name.split()[-1])


def test_rules_never_see_the_held_out_lexicon(rewriter):
    """Honesty guard (docs/papers/medaide.md): the rules know lexicon A only, so claim 1 is not circular."""
    assert set(RULE_LEXICON) == set(LEXICON["A"].values())
    assert not set(RULE_LEXICON) & set(LEXICON["B"].values())
    texts = [r.text for r in rewriter.rewrite_many([f"the {short} for it" for short in LEXICON["B"].values()])]
    assert not any(word in text.split() for word, text in zip(LEXICON["B"], texts))


def test_rewriting_reaches_a_fixed_point(rewriter, kb):
    queries = [q.text for q in make_split(kb, 10, "B", 0.4, seed=2)]
    once = rewriter.rewrite_many(queries)
    twice = rewriter.rewrite_many([r.text for r in once])
    assert [r.text for r in twice] == [r.text for r in once]
    assert all(r.passes == 1 for r in twice), "a rewritten query changes no more"
    assert all(1 <= r.passes <= rewriter.max_passes for r in once)


def test_split_filters_deduplicates_and_keeps_order(rewriter):
    subs = rewriter.split("hello doctor, what dose should i take and how is it; what dose should i take? thanks")
    assert subs == ["what dose should i take", "how is it"]
    assert len(rewriter.split(" and ".join(f"what dose number {i}" for i in range(9)))) == rewriter.max_subqueries
