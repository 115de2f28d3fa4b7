"""Retrieval: the tie-aware threshold, faiss recall against exact search, BM25 filtering, the siphon."""

import numpy as np
import pytest

from repro.mgtil import retrieval as rag


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_threshold_keeps_every_pair_tied_at_the_kth_unique_score():
    scores = np.array([[0.9, 0.8, 0.8, 0.7, 0.1]])
    assert rag.tie_aware_threshold(scores, 2).tolist() == [[True, True, True, False, False]]
    assert rag.tie_aware_threshold(scores, 3).sum() == 4  # unique scores 0.9, 0.8, 0.7
    assert rag.tie_aware_threshold(np.array([[0.5, -np.inf]]), 5).tolist() == [[True, False]]


def test_ivf_index_recalls_what_exact_search_finds():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, 32))
    data = unit(centres[rng.integers(0, 40, 4000)] + 0.3 * rng.standard_normal((4000, 32)))
    queries = unit(centres[rng.integers(0, 40, 100)] + 0.3 * rng.standard_normal((100, 32)))
    exact = rag.build_index(data, ivf_threshold=10**9)
    ivf = rag.build_index(data, ivf_threshold=1000)
    assert type(exact).__name__ == "IndexFlatIP" and type(ivf).__name__ == "IndexIVFFlat"
    _, truth = exact.search(queries, 10)
    _, found = ivf.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found)])
    assert recall >= 0.9, recall


@pytest.fixture
def corpus():
    rng = np.random.default_rng(1)
    captions = [
        "a chest x-ray showing nodule",
        "a fundus photograph showing drusen",
        "a dermoscopy image showing nevus",
    ] * 20
    emb = {k: unit(rng.standard_normal((60, 16))) for k in ("img_final", "img_mid", "txt_final", "txt_mid")}
    return rag.Corpus(**emb, captions=captions)


def test_bm25_orders_candidates_by_caption_match(corpus):
    query = rag.Query("a fundus photograph showing drusen", corpus.txt_final[1], corpus.txt_mid[1])
    found = np.arange(60)
    ranked = rag.rerank_and_filter(corpus, query, found, np.zeros(60), rerank_keep=60)
    assert all(corpus.captions[i] == query.text for i in ranked[:20])


def test_rerank_keeps_what_the_model_scores_highest(corpus):
    query = rag.Query("unrelated words", corpus.txt_final[0], corpus.txt_mid[0])
    scores = np.arange(60, dtype=float)
    ranked = rag.rerank_and_filter(corpus, query, np.arange(60), scores, rerank_keep=5)
    assert sorted(ranked) == [55, 56, 57, 58, 59]
    assert ranked[0] == 59, "with BM25 all zero, the model's score orders the pairs"


@pytest.mark.parametrize("grain", [0.0, 0.4, 1.0])
def test_siphon_budgets_add_up_and_grow_the_task_share_with_granularity(grain):
    dynamic = rag.siphon_budgets(100, "dynamic", grain)
    assert sum(dynamic.values()) == 100
    assert dynamic["task"] == round(100 * (0.2 + 0.6 * grain))
    assert rag.siphon_budgets(99, "equal", grain) == {"task": 33, "domain": 33, "general": 33}
    assert rag.granularity(1.0, 4) == 0.0 and rag.granularity(0.25, 4) == 1.0


def test_reference_set_has_exactly_the_budget_of_distinct_pairs(corpus):
    q = [rag.Query(corpus.captions[i], corpus.txt_final[i], corpus.txt_mid[i]) for i in range(3)]
    queries = {"task": q[:1], "domain": q[1:2], "general": q}
    budgets = {"task": 10, "domain": 6, "general": 8}

    def vlm(ids, texts):
        return corpus.img_final[ids] @ corpus.txt_final[:1].T.repeat(len(texts), axis=1)

    ids, counts = rag.reference_set(
        corpus, queries, [], budgets, vlm, k_prime=8, rerank_keep=30, rng=np.random.default_rng(0)
    )
    assert len(ids) == 24 and len(set(ids.tolist())) == 24
    assert counts["task"] <= 10 and sum(counts.values()) == 24


# ----------------------------------------------------------------------------------------------
# K1's sabotage: retrieval that returns random ids no longer targets the task's domain

DOMAINS = ("xray", "pathology", "fundus", "dermoscopy")


def domain_world(seed=0, per_domain=60, dim=16):
    """A corpus whose embeddings cluster by imaging domain (as the pretrained CLIP's do), with
    captions naming a finding only (so BM25 cannot find the domain by itself)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(DOMAINS), dim)) * 2
    domains = np.repeat(np.arange(len(DOMAINS)), per_domain)
    emb = {
        k: unit(centres[domains] + rng.standard_normal((len(domains), dim)))
        for k in ("img_final", "img_mid", "txt_final", "txt_mid")
    }
    captions = [f"figure {i % 7}" for i in range(len(domains))]
    return rag.Corpus(**emb, captions=captions), domains, centres


def k1_arms(monkeypatch=None, seeds=3, budget=24):
    """K1's per-pair scores (100 = from the task's domain) for dynamic retrieval and uniform sampling,
    over every domain as the task, per seed; the search and the reranking model random when sabotaged."""
    corpus, domains, centres = domain_world()
    dynamic, uniform = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        if monkeypatch is not None:
            monkeypatch.setattr(
                rag.Corpus,
                "search",
                lambda self, index, q, k, rng=rng: [rng.choice(len(self), k, replace=False) for _ in q],
            )
        d_row, u_row = [], []
        for task in range(len(DOMAINS)):
            query = unit(centres[task][None])[0]
            q = rag.Query("figure", query, query)
            budgets = rag.siphon_budgets(budget, "dynamic", 0.5)
            queries = {"task": [q], "domain": [q], "general": [q]}

            def vlm(ids, texts, rng=rng, query=query):
                if monkeypatch is not None:
                    return rng.standard_normal((len(ids), len(texts)))
                return (corpus.img_final[ids] @ query)[:, None].repeat(len(texts), axis=1)

            ids, _ = rag.reference_set(corpus, queries, [], budgets, vlm, k_prime=8, rerank_keep=12, rng=rng)
            d_row.append(domains[ids] == task)
            u_row.append(domains[rng.choice(len(corpus), budget, replace=False)] == task)
        dynamic.append(np.concatenate(d_row)), uniform.append(np.concatenate(u_row))
    return {"ours@order1": 100.0 * np.array(dynamic), "ours_uniform@order1": 100.0 * np.array(uniform)}


def test_k1_sabotage_random_ids_remove_the_targeting(monkeypatch):
    from repro.core.claims import decide
    from repro.mgtil.claims import CLAIMS

    k1 = next(c for c in CLAIMS if c.id == "K1")
    intact = decide(k1, k1_arms())
    assert intact.verdict == "reproduced", intact
    broken = decide(k1, k1_arms(monkeypatch))
    assert broken.effect < k1.margin and broken.verdict != "reproduced", broken
