"""Hybrid retrieval: dense (faiss, inner product of unit vectors = cosine) + sparse (bm25s).
Introduced in ``notebooks/medaide/02_model.ipynb``.

``hybrid = w * bm25 / max_q(bm25) + (1 - w) * cos``, with ``w = hybrid_weight`` (0.5 by default: our
choice, the paper gives no weight). BM25 is scaled by its per-query maximum so both terms lie in
[0, 1]-ish ranges. The diagnosis agent's case retrieval uses the paper's union rule instead: the
candidate set is ``{keyword hits} ∪ {d : cos(q, d) > tau}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro.medaide.rewrite import TOKEN

STOPWORDS = "en"


@dataclass
class Scores:
    cosine: np.ndarray  # (n_queries, n_docs)
    bm25: np.ndarray  # (n_queries, n_docs), raw BM25

    def hybrid(self, weight: float) -> np.ndarray:
        top = self.bm25.max(axis=1, keepdims=True)
        scaled = np.divide(self.bm25, top, out=np.zeros_like(self.bm25), where=top > 0)
        return weight * scaled + (1.0 - weight) * self.cosine

    def union(self, tau: float) -> np.ndarray:
        """The paper's diagnosis rule: keyword hits or cosine above ``tau`` (boolean mask)."""
        return (self.bm25 > 0) | (self.cosine > tau)


class HybridIndex:
    """A faiss ``IndexFlatIP`` over unit embeddings and a bm25s index over the same documents."""

    def __init__(self, texts: list[str], embeddings: np.ndarray):
        import bm25s
        import faiss

        self.texts = list(texts)
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.dense = faiss.IndexFlatIP(emb.shape[1])
        self.dense.add(emb)
        self.sparse = bm25s.BM25()
        self.sparse.index(bm25s.tokenize(self.texts, stopwords=STOPWORDS, show_progress=False), show_progress=False)
        self.queries = 0

    def __len__(self) -> int:
        return len(self.texts)

    def scores(self, query_texts: list[str], query_emb: np.ndarray) -> Scores:
        """Dense and sparse scores of every document for every query (exact search: the KB is small)."""
        import bm25s

        self.queries += len(query_texts)
        n = len(self.texts)
        sims, ids = self.dense.search(np.ascontiguousarray(query_emb, dtype=np.float32), n)
        cosine = np.empty_like(sims)
        np.put_along_axis(cosine, ids, sims, axis=1)
        tokens = bm25s.tokenize(query_texts, stopwords=STOPWORDS, show_progress=False, return_ids=False)
        bm25 = np.stack([self.sparse.get_scores(toks) if toks else np.zeros(n) for toks in tokens]).astype(np.float32)
        return Scores(cosine, bm25)


def words(text: str) -> list[str]:
    return TOKEN.findall(text.lower())
