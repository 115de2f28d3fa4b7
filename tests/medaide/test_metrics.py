"""Metrics: intent F1 against scikit-learn, GLEU's definition, answer metrics' range and identities."""

import pytest
from sklearn.metrics import f1_score

from repro.medaide.metrics import answer_scores, binarize, exact_match, fact_recall, intent_f1, sentence_gleu, split_f1

GOLD = [["dosage", "follow_up"], ["department"], ["etiology", "severity", "lifestyle"]]
PRED = [["dosage"], ["department", "etiology"], ["etiology", "severity", "lifestyle"]]


def test_intent_f1_is_sklearns_samples_f1_per_query():
    per_query = intent_f1(GOLD, PRED)
    expected = 100 * f1_score(binarize(GOLD), binarize(PRED), average="samples")
    assert per_query.mean() == pytest.approx(expected)
    assert per_query.tolist() == pytest.approx([200 / 3, 200 / 3, 100])
    assert exact_match(GOLD, PRED).tolist() == [0, 0, 100]
    assert intent_f1(GOLD, [[]] * 3).tolist() == [0, 0, 0]


def test_split_f1_micro_and_macro():
    out = split_f1(GOLD, PRED)
    assert out["micro"] == pytest.approx(100 * f1_score(binarize(GOLD), binarize(PRED), average="micro"))
    assert out["macro"] == pytest.approx(
        100 * f1_score(binarize(GOLD), binarize(PRED), average="macro", zero_division=0)
    )


def test_gleu_is_min_of_ngram_precision_and_recall():
    assert sentence_gleu("the cat sat", "the cat sat") == 1.0
    assert sentence_gleu("a b", "c d") == 0.0
    # hyp "the cat" (3 n-grams: the, cat, the cat); ref "the cat sat" (6 n-grams); 3 matches
    assert sentence_gleu("the cat", "the cat sat") == pytest.approx(min(3 / 3, 3 / 6))


def test_answer_scores_identity_empty_and_range():
    ref = "the usual dosage of zolamide is 20 mg twice daily."
    out = answer_scores([ref, "", "completely different words here"], [ref, ref, ref])
    for metric, values in out.items():
        assert values[0] == pytest.approx(100), metric
        assert values[1] == 0 and 0 <= values[2] < 20, metric
    partial = answer_scores(["the usual dosage of zolamide is 20 mg"], [ref])
    assert 0 < partial["rougeL"][0] < 100 and partial["bleu1"][0] < 100


def test_fact_recall():
    assert fact_recall([[1, 2], [3], []], [(1, 5), (3,), (4,)]).tolist() == [50, 100, 0]
