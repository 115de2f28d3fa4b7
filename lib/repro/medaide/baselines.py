"""Baselines. Introduced in ``notebooks/medaide/03_train.ipynb``.

The single agent without routing, the no-rewriting and the no-decision ablations are switches of the
one system in :mod:`repro.medaide.method` (``ARMS``). The keyword recogniser is the baseline for the
recogniser itself (the paper's stand-in is GPT-4o as recogniser): for each intent, the ``k`` words
with the highest smoothed log-odds of appearing in that intent's training clauses rather than in the
others'; an intent fires when any of its keywords is in the sub-query. ``k`` is calibrated on the
validation split, as the prototype threshold is. Like the prototype recogniser, it always answers:
when no keyword fires it keeps its top intent (:class:`KeywordRecogniser`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from repro.medaide.kb import INTENTS
from repro.medaide.retrieval import words

FALLBACK_WORDS = 50  # per intent, the words whose log-odds the fallback sums
# training-family words only ("a" occurs only in test templates: it never reaches the log-odds anyway)
STOP = frozenset(
    "an the of for to with in on is are do does i my me what how when which who can it this that be".split()
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
    """Fires the intents whose keywords occur in a sub-query. When none fires it keeps its best guess,
    as the prototype recogniser always keeps its top intent: the intent with the highest summed
    log-odds of the sub-query's words (``fallback`` holds each intent's ``FALLBACK_WORDS`` best words
    and scores), or the most frequent training intent when none of those words occurs either."""

    keywords: dict[str, list[str]]
    fallback: dict = field(default_factory=dict)  # {"scores": {intent: {word: log-odds}}, "prior": intent}

    @classmethod
    def fit(cls, texts: list[str], labels: list[str], k: int) -> KeywordRecogniser:
        ranked = keyword_scores(texts, labels)
        scores = {i: {w: round(v, 4) for w, v in ranked[i][:FALLBACK_WORDS]} for i in INTENTS}
        prior = max(INTENTS, key=lambda i: (labels.count(i), -INTENTS.index(i)))
        return cls({i: [w for w, _ in ranked[i][:k]] for i in INTENTS}, {"scores": scores, "prior": prior})

    def active(self, subqueries: list[str]) -> list[list[str]]:
        out = []
        for s in subqueries:
            present = set(words(s))
            fired = [i for i in INTENTS if present & set(self.keywords[i])]
            out.append(fired or self._best_guess(present))
        return out

    def _best_guess(self, present: set[str]) -> list[str]:
        if not self.fallback:
            return []
        totals = {i: sum(v for w, v in self.fallback["scores"][i].items() if w in present) for i in INTENTS}
        hit = {i: t for i, t in totals.items() if any(w in present for w in self.fallback["scores"][i])}
        return [max(hit, key=lambda i: (hit[i], -INTENTS.index(i)))] if hit else [self.fallback["prior"]]
