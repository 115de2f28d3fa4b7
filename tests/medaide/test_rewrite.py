"""Rewriting: the rules, the fixed point, splitting and merging, and the held-out-lexicon guard."""

import re

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


def _family_words(family: str) -> set[str]:
    """Every word the generator writes for one template family (templates, connectors, openers,
    closers, its abbreviation lexicon both ways)."""
    from repro.medaide.queries import CLOSERS, CONNECTORS, OPENERS, PRONOUNS, TEMPLATES

    texts = [t for options in TEMPLATES[family].values() for t in options] + list(PRONOUNS)
    texts += [*CONNECTORS[family], *OPENERS[family], *CLOSERS[family], *LEXICON[family], *LEXICON[family].values()]
    return {w for t in texts for w in re.findall(r"[a-z]+", t.replace("{x}", ""))}


def test_rules_use_no_word_of_the_test_family_only():
    """No rule lexicon or regex may contain a word (or connector) that occurs only in the held-out
    test family: the rules may know the training family's vocabulary, never the test's."""
    from repro.medaide.baselines import STOP
    from repro.medaide.queries import CONNECTORS
    from repro.medaide.rewrite import FILLER, RULE_LEXICON, SPLIT

    test_only = _family_words("B") - _family_words("A")
    assert {"plus", "ok", "so", "rx", "tabs"} <= test_only  # the scan sees the test family's words
    regex_words = set(re.findall(r"\\b([a-z]+)\\b", SPLIT.pattern))
    lexicons = {
        "FILLER": set(FILLER),
        "RULE_LEXICON": set(RULE_LEXICON) | set(RULE_LEXICON.values()),
        "SPLIT": regex_words,
        "STOP": set(STOP),
    }
    leaks = {name: sorted(words & test_only) for name, words in lexicons.items() if words & test_only}
    assert not leaks, f"rules use test-family-only words: {leaks}"
    symbols = {c for conn in CONNECTORS["B"] for c in conn if not c.isalnum() and not c.isspace()}
    symbols -= {c for conn in CONNECTORS["A"] for c in conn if not c.isalnum() and not c.isspace()}
    assert symbols == {"-"}
    for token in sorted(test_only | symbols):  # nothing only the test family writes may split a clause
        assert SPLIT.split(f"what dose {token} how serious") == [f"what dose {token} how serious"], token


def test_kb_text_and_the_small_encoders_data_hold_no_test_only_word_of_their_intent(kb):
    """Issue 32: KB facts held words that only the held-out family's templates of the same intent use
    ("carers", "support", "early", "day"); retrieval (shared by every arm) and the small encoder (trained
    on these sentences by intent) would learn the test wording. Articles and stop words aside, none is left."""
    from repro.medaide import artifacts as files
    from repro.medaide.baselines import STOP
    from repro.medaide.kb import INTENTS, build_kb
    from repro.medaide.queries import TEMPLATES
    from repro.medaide.training import encoder_corpus

    test_only = _family_words("B") - _family_words("A") - set(STOP) - {"a"}
    kb = build_kb(40, 4, seed=0)  # the cpu profile's KB
    texts, labels = encoder_corpus(kb)
    assert texts == list(kb.facts)
    leaks = {}
    for i, intent in enumerate(INTENTS):
        fact_words = {w for t, j in zip(texts, labels) if j == i for w in re.findall(r"[a-z]+", t)}
        b_words = {w for t in TEMPLATES["B"][intent] for w in re.findall(r"[a-z]+", t.replace("{x}", ""))}
        if fact_words & b_words & test_only:
            leaks[intent] = sorted(fact_words & b_words & test_only)
    assert not leaks, f"KB facts use test-family-only words of their own intent: {leaks}"
    # cases and profiles have no intent: no test-only content word at all, except "blood" (the KB's test
    # "blood panel"; family B writes it only in an interaction template, "my blood thinner", and no
    # interaction fact holds it, as the per-intent check above shows)
    for name, sentences in files.kb_texts(kb).items():
        if name != "facts":
            found = {w for s in sentences for w in re.findall(r"[a-z]+", s)} & test_only - {"blood"}
            assert not found, (name, sorted(found))
