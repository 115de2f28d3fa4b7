"""Baselines. Introduced in ``notebooks/medaide/03_train.ipynb``.

The single agent without routing, the no-rewriting and the no-decision ablations are switches of the
one system in :mod:`repro.medaide.method` (``ARMS``). The keyword recogniser is the baseline for the
recogniser itself (the paper's stand-in is GPT-4o as recogniser): for each intent, the ``k`` words
with the highest smoothed log-odds of appearing in that intent's training clauses rather than in the
others'; an intent fires when any of its keywords is in the sub-query. ``k`` is calibrated on the
validation split, as the prototype threshold is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from repro.medaide.kb import INTENTS
from repro.medaide.retrieval import words

STOP = frozenset(
    "a an the of for to with in on is are do does i my me what how when which who can it this that be".split()
)


def keyword_scores(texts: list[str], labels: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Per intent, every word ranked by smoothed log-odds (in-intent clauses vs the rest)."""
    per_intent = {i: Counter() for i in INTENTS}
    n_clauses = Counter(labels)
    for text, label in zip(texts, labels):
        per_intent[label].update(set(words(text)) - STOP)
    total = sum(per_intent.values(), Counter())
    ranked = {}
    for intent in INTENTS:
        n_in, n_out = n_clauses[intent], len(texts) - n_clauses[intent]
        scores = []
        for w, c_in in per_intent[intent].items():
            c_out = total[w] - c_in
            scores.append(
                (w, float(np.log((c_in + 0.5) / (n_in - c_in + 0.5)) - np.log((c_out + 0.5) / (n_out - c_out + 0.5))))
            )
        ranked[intent] = sorted(scores, key=lambda x: (-x[1], x[0]))  # ties by word: no hash-order dependence
    return ranked


@dataclass
class KeywordRecogniser:
    keywords: dict[str, list[str]]

    @classmethod
    def fit(cls, texts: list[str], labels: list[str], k: int) -> KeywordRecogniser:
        ranked = keyword_scores(texts, labels)
        return cls({i: [w for w, _ in ranked[i][:k]] for i in INTENTS})

    def active(self, subqueries: list[str]) -> list[list[str]]:
        out = []
        for s in subqueries:
            present = set(words(s))
            out.append([i for i in INTENTS if present & set(self.keywords[i])])
        return out
