"""Intent and answer metrics, per example (the claims pair arms on seeds and examples). Introduced in
``notebooks/medaide/04_evaluate.ipynb``.

* Intents (multi-label): per-query F1 and exact match per example (their means are scikit-learn's
  ``f1_score(average="samples")`` and subset accuracy); micro and macro F1 over a split with
  scikit-learn.
* Answers against references, on lower-cased text with punctuation removed: BLEU-1 and BLEU-2
  (torchmetrics ``bleu_score``, ``n_gram`` 1 and 2, uniform weights, brevity penalty; ``smooth=True``
  is Lin and Och's add-one smoothing for n > 1, where the paper's NLTK-style example uses method 1, an
  epsilon: BLEU-2 of short answers can differ slightly), ROUGE-1/2/L F-measure (torchmetrics
  ``rouge_score``, no stemmer: it would need nltk, which the kit does not install), and sentence
  GLEU as Google defines it (Wu et al. 2016; NLTK's ``sentence_gleu``): the minimum of n-gram
  precision and recall over n = 1..4, written here because no installed library provides it.
* Fact recall: the share of the reference's KB facts among the facts the system chose; it says how
  much of ROUGE is retrieval (an honesty guard of ``docs/papers/medaide.md``).
All scores are in points (0-100).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from repro.medaide.kb import INTENTS

PUNCT = re.compile(r"[^a-z0-9 ]+")


def binarize(intent_lists: list[list[str]]) -> np.ndarray:
    out = np.zeros((len(intent_lists), len(INTENTS)), dtype=np.int64)
    for r, intents in enumerate(intent_lists):
        out[r, [INTENTS.index(i) for i in intents]] = 1
    return out


def intent_f1(gold: list[list[str]], pred: list[list[str]]) -> np.ndarray:
    """Per-query F1 (0 when both sets are empty cannot happen: gold is never empty)."""
    g, p = binarize(gold), binarize(pred)
    tp = (g & p).sum(1)
    return 100.0 * 2 * tp / np.maximum(g.sum(1) + p.sum(1), 1)


def exact_match(gold: list[list[str]], pred: list[list[str]]) -> np.ndarray:
    return 100.0 * (binarize(gold) == binarize(pred)).all(1)


def split_f1(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Micro and macro F1 over a split (scikit-learn), in points."""
    from sklearn.metrics import f1_score

    g, p = binarize(gold), binarize(pred)
    return {
        "micro": 100 * float(f1_score(g, p, average="micro", zero_division=0)),
        "macro": 100 * float(f1_score(g, p, average="macro", zero_division=0)),
    }


def normalise(text: str) -> str:
    return " ".join(PUNCT.sub(" ", text.lower()).split())


def ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def sentence_gleu(hypothesis: str, reference: str, max_n: int = 4) -> float:
    """min(precision, recall) of the n-grams of orders 1..max_n pooled (Wu et al. 2016), in [0, 1]."""
    hyp, ref = hypothesis.split(), reference.split()
    h = sum((ngrams(hyp, n) for n in range(1, max_n + 1)), Counter())
    r = sum((ngrams(ref, n) for n in range(1, max_n + 1)), Counter())
    matches = sum((h & r).values())
    total_h, total_r = sum(h.values()), sum(r.values())
    if total_h == 0 or total_r == 0:
        return 0.0
    return min(matches / total_h, matches / total_r)


def answer_scores(answers: list[str], references: list[str]) -> dict[str, np.ndarray]:
    """BLEU-1/2, ROUGE-1/2/L (F) and GLEU per answer, in points."""
    from torchmetrics.functional.text import bleu_score, rouge_score

    keys = ("bleu1", "bleu2", "rouge1", "rouge2", "rougeL", "gleu")
    out = {k: np.zeros(len(answers)) for k in keys}
    for n, (a, r) in enumerate(zip(answers, references)):
        a, r = normalise(a), normalise(r)
        if not a:
            continue  # an empty answer scores 0 on every metric
        out["bleu1"][n] = float(bleu_score([a], [[r]], n_gram=1))
        out["bleu2"][n] = float(bleu_score([a], [[r]], n_gram=2, smooth=True))
        rouge = rouge_score(a, r, rouge_keys=("rouge1", "rouge2", "rougeL"))
        for k in ("rouge1", "rouge2", "rougeL"):
            out[k][n] = float(rouge[f"{k}_fmeasure"])
        out["gleu"][n] = sentence_gleu(a, r)
    return {k: 100.0 * v for k, v in out.items()}


def fact_recall(chosen: list[list[int]], gold: list[tuple[int, ...]]) -> np.ndarray:
    """Per query, the share of its gold KB facts the answer holds (NaN for a query without gold facts:
    a real benchmark file names none of the kit's facts)."""
    return np.array([100.0 * len(set(c) & set(g)) / len(g) if g else np.nan for c, g in zip(chosen, gold)])
