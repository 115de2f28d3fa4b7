"""Query rewriting: rules applied to a fixed point, then sub-query splitting and merging.
Introduced in ``notebooks/medaide/02_model.ipynb``.

The paper has an LLM apply rewriting rules until nothing changes, extract key elements, retrieve
over clinical guidelines, and merge sub-queries by rules (filter, remove overlap, prioritise). The
miniature keeps that shape with deterministic rules (reconstruction; no LLM):

1. **Lexicon rule**: known abbreviations are expanded (lexicon ``A`` only: the test split's lexicon
   ``B`` is held out, see :mod:`repro.medaide.queries`).
2. **Acronym rule** (retrieval-augmented): a token that is the initials of a multi-word KB term is
   replaced by the term (the KB, not a list of noise, decides).
3. **Spelling rule** (retrieval-augmented): a token in neither the KB vocabulary nor the encoder's
   word list is replaced by its closest dictionary word (BM25 over character trigrams with bm25s
   finds candidates; an edit distance of at most 1, or 2 for words of 6+ letters, accepts one;
   KB words win ties).
4. Repeat 1-3 until the text no longer changes (at most ``max_passes``).
5. **Split** at clause boundaries (punctuation, "and", "also", "then"), **filter** pieces
   without content (greetings, politeness), **remove overlap** (duplicates) and **prioritise**
   (keep the first ``max_subqueries`` in order).

Key-element extraction (which disease the query is about) needs the retrieval index and lives in
:mod:`repro.medaide.method`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from repro.medaide.queries import LEXICON

RULE_LEXICON = {short: word for word, short in LEXICON["A"].items()}  # the rules know lexicon A only
# The rules may use only the training family's vocabulary (tests/medaide/test_rewrite.py scans them):
# the test family's own connectors and openers (" plus ", " - ", "ok so") are left for the model.
SPLIT = re.compile(r"\s*(?:[;:.?!,]|\band\b|\balso\b|\bthen\b)\s*")
FILLER = frozenset({"hi", "hello", "doctor", "thanks", "please", "quick", "question"})
TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass
class Rewritten:
    text: str  # the query after the rules reached their fixed point
    subqueries: list[str]
    passes: int  # rule passes until nothing changed
    edits: list[tuple[str, str]] = field(default_factory=list)  # (before, after) per rewritten token


def osa_distance(a: str, b: str) -> int:
    """Optimal-string-alignment edit distance (insert, delete, substitute, swap neighbours)."""
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def trigrams(word: str) -> str:
    padded = f"_{word}_"
    return " ".join(padded[i : i + 3] for i in range(len(padded) - 2))


class Rewriter:
    """The rules of the module docstring over one KB vocabulary and one general word list."""

    def __init__(
        self,
        kb_words: list[str],
        kb_terms: list[str],
        general_words: list[str],
        max_passes: int = 5,
        max_subqueries: int = 4,
        candidates: int = 12,
    ):
        self.kb_words = frozenset(kb_words)
        self.known = self.kb_words | frozenset(general_words) | frozenset(RULE_LEXICON.values())
        self.acronyms = _unique_acronyms(kb_terms)
        self.dictionary = sorted(self.known)
        self.max_passes, self.max_subqueries, self.candidates = max_passes, max_subqueries, candidates

    @cached_property
    def _index(self):
        import bm25s

        index = bm25s.BM25()
        index.index(
            bm25s.tokenize([trigrams(w) for w in self.dictionary], stopwords=None, show_progress=False),
            show_progress=False,
        )
        return index

    # -- rules ------------------------------------------------------------------------------

    def correct(self, tokens: set[str]) -> dict[str, str]:
        """Spelling corrections for unknown tokens (one batched BM25 retrieval)."""
        unknown = sorted(t for t in tokens if t.isalpha() and len(t) >= 3 and t not in self.known)
        if not unknown:
            return {}
        import bm25s

        query = bm25s.tokenize([trigrams(t) for t in unknown], stopwords=None, show_progress=False)
        k = min(self.candidates, len(self.dictionary))
        docs, _ = self._index.retrieve(query, k=k, show_progress=False, n_threads=1)
        fixes = {}
        for token, row in zip(unknown, docs):
            limit = 2 if len(token) >= 6 else 1
            best = min(
                (
                    osa_distance(token, self.dictionary[d]),
                    self.dictionary[d] not in self.kb_words,
                    r,
                    self.dictionary[d],
                )
                for r, d in enumerate(row)
            )
            if best[0] <= limit:
                fixes[token] = best[3]
        return fixes

    def rule_pass(self, texts: list[str]) -> tuple[list[str], list[list[tuple[str, str]]]]:
        """One pass of the lexicon, acronym and spelling rules over every text."""
        tokenised = [TOKEN.findall(t) for t in texts]
        fixes = self.correct({tok for toks in tokenised for tok in toks})
        out, edits = [], []
        for text, toks in zip(texts, tokenised):
            changed = []
            for tok in toks:
                new = RULE_LEXICON.get(tok) or self.acronyms.get(tok) or fixes.get(tok)
                if new and new != tok:
                    changed.append((tok, new))
            for old, new in changed:
                text = re.sub(rf"\b{re.escape(old)}\b", new, text)
            out.append(text)
            edits.append(changed)
        return out, edits

    def rewrite_many(self, texts: list[str], rules: bool = True) -> list[Rewritten]:
        """Normalise, apply the rules until a fixed point (``rules=False``: none), split and merge;
        batched over texts."""
        current = [re.sub(r"\s+", " ", t.lower()).strip() for t in texts]
        passes, edits = [0] * len(texts), [[] for _ in texts]
        active = list(range(len(texts))) if rules else []
        for _ in range(self.max_passes):
            if not active:
                break
            new, changed = self.rule_pass([current[i] for i in active])
            still = []
            for i, text, ch in zip(active, new, changed):
                passes[i] += 1
                if text != current[i]:
                    current[i], edits[i] = text, edits[i] + ch
                    still.append(i)
            active = still
        return [Rewritten(t, self.split(t), p, e) for t, p, e in zip(current, passes, edits)]

    def split(self, text: str) -> list[str]:
        """Clauses, without content-free pieces and duplicates, first ``max_subqueries`` kept."""
        pieces, seen = [], set()
        for piece in SPLIT.split(text):
            words = TOKEN.findall(piece)
            content = [w for w in words if w not in FILLER]
            key = " ".join(words)
            if len(content) >= 2 and key not in seen:
                seen.add(key)
                pieces.append(key)
        return pieces[: self.max_subqueries] or [" ".join(TOKEN.findall(text))]


def _unique_acronyms(terms: list[str]) -> dict[str, str]:
    """Initials -> term, for initials of 2+ letters that name exactly one term."""
    counts: dict[str, list[str]] = {}
    for term in terms:
        words = term.split()
        if len(words) >= 2:
            counts.setdefault("".join(w[0] for w in words), []).append(term)
    return {a: ts[0] for a, ts in counts.items() if len(ts) == 1}


def general_words(vocab_file) -> list[str]:
    """Whole alphabetic words of a WordPiece vocabulary (the encoder's ``vocab.txt``)."""
    words = Path(vocab_file).read_text(encoding="utf-8").split("\n")
    return [w for w in words if w.isalpha() and w.isascii() and len(w) >= 2]
