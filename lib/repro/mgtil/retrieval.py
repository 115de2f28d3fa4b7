"""Multi-modal, multi-layer retrieval of reference pairs, and the dynamic siphon.
Introduced in ``notebooks/mgtil/02_model.ipynb`` (the index) and ``03_train.ipynb`` (reference sets).

The database is embedded once, by the pretrained CLIP (as a real 18M-pair database is embedded
once), at two depths, and four faiss indices are built: images and captions, each at the final
(projected, shared) depth and at the middle depth (:func:`build_index` picks an exact inner-product
index below ``ivf_threshold`` pairs and an IVF index above). The current model (the teacher: the
model after the previous task) reranks. One query runs the pipeline of the paper:

1. **search**: a text query searches the image and caption indices at the final depth and the
   caption index at the middle depth; an exemplar image (a current-task training image) searches the
   image indices at both depths;
2. **tie-aware dynamic threshold** (:func:`tie_aware_threshold`): from each search keep every pair
   whose similarity is at least the k'-th largest *unique* similarity (equal scores stay together);
3. **VLM rerank**: the model scores each candidate image against the query text (cosine at the
   final depth; exemplar candidates against the task's prompts) and keeps ``rerank_keep`` per query;
4. **BM25 filter** (``bm25s``): candidates are ordered by the BM25 score of their caption for the
   query (ties by the rerank score) and the query's share of the budget is taken from the top.

The **dynamic siphon** (:func:`siphon_budgets`) splits the per-task budget between task-level
queries (the current task's prompts and exemplars), domain-level queries ("a <modality>" for every
domain seen so far) and general queries (the question pool: the prompts of every label seen so far,
and "a medical image"). In ``dynamic`` mode the task-level share grows with the task's granularity,
measured as how badly the teacher separates the task's classes zero-shot on its training images
(:func:`granularity`); ``equal`` splits the budget in three; ``uniform`` samples the database at
random (ZSCL's reference distribution). A set short of its budget after de-duplication is filled by
random pairs, so every method distils on exactly ``budget`` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import bm25s
import faiss
import numpy as np

from repro.mgtil import world


def build_index(emb: np.ndarray, ivf_threshold: int) -> faiss.Index:
    """Inner-product index over unit vectors: exact (``IndexFlatIP``) for small corpora, IVF with
    ``4 sqrt(n)`` lists and ``nprobe = nlist / 8`` at or above ``ivf_threshold`` pairs."""
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    n, d = emb.shape
    if n < ivf_threshold:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = int(4 * np.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(emb)
        index.nprobe = max(1, nlist // 8)
    index.add(emb)
    return index


def tie_aware_threshold(scores: np.ndarray, k_prime: int) -> np.ndarray:
    """Mask of the entries whose score is at least the k'-th largest unique score (row-wise).
    Unlike a plain top-k', pairs that tie with the last kept score are kept too."""
    scores = np.atleast_2d(scores)
    keep = np.zeros(scores.shape, bool)
    for row, s in enumerate(scores):
        finite = np.unique(s[np.isfinite(s)])[::-1]
        if len(finite):
            keep[row] = s >= finite[min(k_prime, len(finite)) - 1]
    return keep


@dataclass
class Corpus:
    """The database's embeddings (by the pretrained CLIP, once: the model step), indices and BM25 model."""

    img_final: np.ndarray
    img_mid: np.ndarray
    txt_final: np.ndarray
    txt_mid: np.ndarray
    captions: Sequence[str]
    ivf_threshold: int = 20_000
    indices: dict[str, faiss.Index] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("img_final", "img_mid", "txt_final", "txt_mid"):
            self.indices[name] = build_index(getattr(self, name), self.ivf_threshold)
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(list(self.captions), show_progress=False), show_progress=False)

    def __len__(self) -> int:
        return len(self.captions)

    def search(self, index: str, queries: np.ndarray, k_prime: int) -> list[np.ndarray]:
        """Per query, the database ids above the tie-aware threshold (searching 4 k' neighbours so
        that ties at the threshold are seen)."""
        scores, ids = self.indices[index].search(np.ascontiguousarray(queries, np.float32), min(4 * k_prime, len(self)))
        scores = np.where(ids >= 0, scores, -np.inf)
        keep = tie_aware_threshold(scores, k_prime)
        return [row_ids[row_keep] for row_ids, row_keep in zip(ids, keep)]

    def bm25_scores(self, text: str) -> np.ndarray:
        tokens = bm25s.tokenize(text, return_ids=False, show_progress=False)[0]
        return self.bm25.get_scores(tokens) if tokens else np.zeros(len(self))


@dataclass(frozen=True)
class Query:
    """A text query with its embeddings at both depths (by the encoder that built the corpus)."""

    text: str
    final: np.ndarray
    mid: np.ndarray


def candidates(corpus: Corpus, query: Query, k_prime: int, extra: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Steps 1-2 for one text query: the three searches, each cut at the tie-aware threshold, joined
    with ``extra`` (the candidates of the task's exemplar images)."""
    found = [
        *corpus.search("img_final", query.final[None], k_prime),
        *corpus.search("txt_final", query.final[None], k_prime),
        *corpus.search("txt_mid", query.mid[None], k_prime),
        *extra,
    ]
    return np.unique(np.concatenate(found)).astype(np.int64)


def exemplar_candidates(corpus: Corpus, final: np.ndarray, mid: np.ndarray, k_prime: int) -> list[np.ndarray]:
    """Step 1-2 for exemplar images: image-to-image searches at both depths."""
    return [*corpus.search("img_final", final, k_prime), *corpus.search("img_mid", mid, k_prime)]


def rerank_and_filter(
    corpus: Corpus, query: Query, found: np.ndarray, vlm_scores: np.ndarray, rerank_keep: int
) -> list[int]:
    """Steps 3-4: keep the ``rerank_keep`` candidates the VLM scores highest for the query, then order
    them by the BM25 score of their caption (ties by the VLM's score); ids, best first."""
    keep = np.argsort(-vlm_scores, kind="stable")[:rerank_keep]
    top, vlm_top = found[keep], vlm_scores[keep]
    bm25 = corpus.bm25_scores(query.text)[top]
    order = np.lexsort((-vlm_top, -bm25))  # BM25 first, the VLM's score breaks ties
    return top[order].tolist()


def round_robin(lists: Sequence[Sequence[int]]) -> list[int]:
    """Interleave ranked lists: the first of each, then the second of each, ..."""
    longest = max((len(x) for x in lists), default=0)
    return [x[r] for r in range(longest) for x in lists if r < len(x)]


def granularity(zero_shot_accuracy: float, n_classes: int) -> float:
    """How fine a task is for the current model: 1 at chance, 0 when the classes are separated."""
    chance = 1.0 / n_classes
    return float(np.clip(1.0 - (zero_shot_accuracy - chance) / (1.0 - chance), 0.0, 1.0))


def siphon_budgets(budget: int, mode: str, grain: float) -> dict[str, int]:
    """Pairs per level. ``dynamic``: task share 0.2 + 0.6 g, the rest split evenly between domain
    and general; ``equal``: thirds. (``uniform`` does not retrieve.)"""
    task_share = 0.2 + 0.6 * grain if mode == "dynamic" else 1 / 3
    task = int(round(budget * task_share))
    domain = (budget - task) // 2
    return {"task": task, "domain": domain, "general": budget - task - domain}


def question_pool(seen: Sequence[str]) -> dict[str, list[str]]:
    """The queries of each level after the tasks ``seen`` (the current task last)."""
    current = world.TASKS[seen[-1]]
    domains = list(dict.fromkeys(world.TASKS[t].domain for t in seen))
    pool = list(dict.fromkeys(p for t in seen for p in world.TASKS[t].prompts()))
    return {
        "task": current.prompts(),
        "domain": [f"a {world.MODALITY[d]}" for d in domains],
        "general": pool + [world.GENERAL_QUERY],
    }


def reference_set(
    corpus: Corpus,
    queries: dict[str, list[Query]],
    exemplars: Sequence[np.ndarray],
    budgets: dict[str, int],
    vlm: Callable[[np.ndarray, list[str]], np.ndarray],
    *,
    k_prime: int,
    rerank_keep: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, int]]:
    """Database ids of one task's reference set. ``vlm(ids, texts)`` is the current model's
    image-text cosine matrix (len(ids), len(texts)) used to rerank. The exemplars' candidates join
    every task-level query; duplicates go to the first level that took them; each level's queries
    take turns until its budget is met; a shortfall (too few distinct candidates) is filled at
    random. Returns the ids and the pairs per level."""
    found = {
        level: [candidates(corpus, q, k_prime, exemplars if level == "task" else ()) for q in qs]
        for level, qs in queries.items()
    }
    pool = np.unique(np.concatenate([f for fs in found.values() for f in fs]))
    texts = [q.text for qs in queries.values() for q in qs]
    scores = vlm(pool, texts)  # (len(pool), len(texts)): one batch of the current model
    position = {int(i): row for row, i in enumerate(pool)}
    chosen: dict[int, str] = {}
    column = 0
    for level, qs in queries.items():
        ranked = []
        for q, f in zip(qs, found[level]):
            ranked.append(rerank_and_filter(corpus, q, f, scores[[position[int(i)] for i in f], column], rerank_keep))
            column += 1
        taken = 0
        for i in round_robin(ranked):  # the level's queries take turns, best first
            if taken >= budgets[level]:
                break
            if i not in chosen:
                chosen[i], taken = level, taken + 1
    ids = np.array(list(chosen), dtype=np.int64)
    counts = {level: sum(v == level for v in chosen.values()) for level in queries}
    shortfall = sum(budgets.values()) - len(ids)
    counts["fill"] = max(shortfall, 0)
    if shortfall > 0:
        fill = rng.choice(np.setdiff1d(np.arange(len(corpus)), ids), shortfall, replace=False)
        ids = np.concatenate([ids, fill])
    return ids, counts


def retrieval_example(
    corpus: Corpus, query: Query, vlm_scores: np.ndarray, k: int, k_prime: int, rerank_keep: int
) -> list[int]:
    """The top ``k`` pairs one text query retrieves (the notebooks show them). ``vlm_scores`` holds
    the reranking model's score of every database image for the query."""
    found = candidates(corpus, query, k_prime)
    return rerank_and_filter(corpus, query, found, vlm_scores[found], rerank_keep)[:k]
