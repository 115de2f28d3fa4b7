"""The method's pieces: prototype matching, retrieval, agents, the decision module, arms, baselines."""

import numpy as np
import pytest
import torch

from repro.medaide.agents import Task, decide, diagnosis_agent, fact_agent, no_decision
from repro.medaide.baselines import KeywordRecogniser
from repro.medaide.kb import INTENTS, build_kb
from repro.medaide.method import ARMS, PrototypeRecogniser, softmax
from repro.medaide.models import PrototypeHead, SmallEncoder, class_means
from repro.medaide.retrieval import HybridIndex, Scores


@pytest.fixture(scope="module")
def kb():
    return build_kb(6, 3, seed=0)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_prototype_head_is_cosine_over_temperature():
    protos = torch.nn.functional.normalize(torch.randn(17, 8), dim=-1)
    q = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    head = PrototypeHead(protos * 3.0, temperature=0.05)  # the scale of a prototype does not matter
    assert torch.allclose(head(q), q @ protos.T / 0.05, atol=1e-5)


def test_recogniser_alpha_threshold_and_top_intent():
    rng = np.random.default_rng(0)
    protos = unit(rng.normal(size=(17, 16)))
    q = unit(protos[[2, 5]] + protos[[3, 5]])  # sub-query 0 mixes intents 2 and 3
    alpha = PrototypeRecogniser(protos, 0.05, 0.3).alpha(q)
    assert np.allclose(alpha.sum(1), 1) and (alpha >= 0).all()
    loose, strict = PrototypeRecogniser(protos, 0.05, 0.05).active(q), PrototypeRecogniser(protos, 0.05, 0.99).active(q)
    assert set(loose[0]) >= {INTENTS[2], INTENTS[3]} and all(set(s) <= set(lo) for s, lo in zip(strict, loose))
    assert [len(s) for s in strict] == [1, 1], "each sub-query keeps its top intent"
    assert strict[1] == [INTENTS[5]]


def test_temperature_sharpens_alpha():
    logits = np.array([[0.5, 0.4, 0.1]])
    assert softmax(logits / 0.05).max() > softmax(logits / 1.0).max()


def test_class_means_are_unit_vectors_per_class():
    emb = unit(np.random.default_rng(1).normal(size=(30, 8)))
    labels = np.arange(30) % 3
    means = class_means(emb, labels, 17)
    assert means.shape == (17, 8) and torch.allclose(means[:3].norm(dim=-1), torch.ones(3))
    assert torch.all(means[3:] == 0), "an unseen intent has no prototype direction"


def test_small_encoder_gives_unit_vectors_for_packed_and_padded_input():
    enc = SmallEncoder(buckets=512, dim=16)
    packed = enc.tokenize(["what dose", "which clinic handles it"])
    out = enc(**packed)
    assert out.shape == (2, 16) and torch.allclose(out.norm(dim=-1), torch.ones(2), atol=1e-5)
    ids = packed["ids"]
    padded = torch.zeros(2, 40, dtype=torch.long)
    padded[0, : packed["offsets"][1]] = ids[: packed["offsets"][1]]
    padded[1, : len(ids) - packed["offsets"][1]] = ids[packed["offsets"][1] :]
    assert torch.allclose(enc(padded), out, atol=1e-5)


def test_hybrid_score_and_union_rule():
    docs = ["the dose of zolamide is ten mg", "the clinic for renal disease", "an unrelated sentence"]
    emb = unit(np.eye(3, 4, dtype=np.float32) + 0.01)
    index = HybridIndex(docs, emb)
    s = index.scores(["zolamide dose"], emb[[1]])
    assert s.bm25.shape == (1, 3) and s.bm25[0, 0] > 0 and s.bm25[0, 2] == 0
    assert np.isclose(s.cosine[0, 1], 1.0, atol=1e-3)
    h = s.hybrid(0.5)
    assert np.isclose(h[0, 0], 0.5 * 1 + 0.5 * s.cosine[0, 0]) and np.isclose(h[0, 1], 0.5 * s.cosine[0, 1])
    assert s.union(0.9).tolist() == [[True, True, False]]
    assert np.allclose(s.hybrid(0.0), s.cosine) and index.queries == 1


def test_fact_agent_answers_only_its_intent(kb):
    scores = np.random.default_rng(0).random(len(kb.facts))
    cands = fact_agent(kb, scores, "dosage", k=3)
    assert len(cands) == 3 and all(kb.fact_intent[f] == INTENTS.index("dosage") for f, _ in cands)
    assert [s for _, s in cands] == sorted([s for _, s in cands], reverse=True)


def test_diagnosis_agent_votes_over_admitted_cases(kb):
    n = len(kb.cases)
    bm25 = np.zeros((1, n))
    cosine = np.zeros((1, n))
    cosine[0, kb.case_disease == 4] = 0.9  # only disease 4's cases pass the union rule
    cands = diagnosis_agent(kb, Scores(cosine, bm25), 0, 0.5, 0.5, "severity", k=3)
    assert cands[0][0] == kb.fact_index(4, "severity") and len(cands) == 1


def test_decision_module_takes_the_consensus_disease(kb):
    f = kb.fact_index
    tasks = [
        Task(0, "a", "dosage", [(f(1, "dosage"), 0.9)]),
        Task(0, "b", "follow_up", [(f(2, "follow_up"), 0.5), (f(1, "follow_up"), 0.45)]),
        Task(0, "c", "etiology", [(f(1, "etiology"), 0.7)]),
    ]
    facts, consensus = decide(kb, tasks, key_disease=1, key_score=1.0)
    assert consensus == 1 and facts == [f(1, "dosage"), f(1, "follow_up"), f(1, "etiology")]
    assert no_decision(tasks) == [f(1, "dosage"), f(2, "follow_up"), f(1, "etiology")]


def test_every_ablation_changes_one_switch():
    base = ARMS["medaide"]
    for arm in ("keyword", "no_rewrite", "no_decision"):
        assert sum(ARMS[arm][k] != base[k] for k in base) == 1, arm
    single = ARMS["single_agent"]
    assert single["rewrite"] and not single["decompose"] and not single["routing"]
    assert single["recogniser"] == "whole"  # MedAide's prototypes on the whole query (artifacts.load_recognisers)


def test_single_agent_sees_the_whole_query_as_one_subquery():
    from repro.medaide.method import whole_query

    assert whole_query([["what dose for x", "how serious is it"], ["which clinic"]]) == [
        ["what dose for x how serious is it"],
        ["which clinic"],
    ]


def test_keyword_ranking_breaks_ties_by_word():
    from repro.medaide.baselines import keyword_scores

    ranked = keyword_scores(["zeta alpha dose", "alpha zeta dose"], ["dosage", "dosage"])["dosage"]
    assert [w for w, _ in ranked] == ["alpha", "dose", "zeta"]


def test_keyword_recogniser_fits_discriminative_words():
    texts = ["what dose should i take", "how many mg dose", "which department", "what department do i visit"]
    labels = ["dosage", "dosage", "department", "department"]
    rec = KeywordRecogniser.fit(texts, labels, k=1)
    assert rec.keywords["dosage"] == ["dose"] and rec.keywords["department"] == ["department"]
    assert rec.active(["the dose please", "department and dose", "nothing here"]) == [
        ["dosage"],
        ["department", "dosage"],
        ["department"],  # nothing fires and no scored word occurs: the most frequent intent (a tie: first)
    ]
    assert rec.active(["how many mg"]) == [["dosage"]]  # no keyword fires: the best summed log-odds


# ----------------------------------------------------------------------------------------------
# K1's sabotage: a single agent whose prototypes name the wrong intents


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The pipeline's data, model and train steps at a tiny size (MiniLM frozen, 6 diseases)."""
    import os

    from repro import medaide
    from repro.medaide import pipeline

    old = os.environ.get("REPRO_RUNS_DIR")
    os.environ["REPRO_RUNS_DIR"] = str(tmp_path_factory.mktemp("runs"))
    try:
        cfg = medaide.config(
            "smoke", n_diseases=6, n_train=16, n_val=6, n_test=2, n_control=6, n_sweep=2, noise_sweep=[0.0]
        )
        dirs = {step: getattr(pipeline, step)(cfg).dir for step in ("data", "model", "train")}
        yield cfg, dirs
    finally:
        if old is None:
            os.environ.pop("REPRO_RUNS_DIR")
        else:
            os.environ["REPRO_RUNS_DIR"] = old


def control_rougeL(cfg, dirs, sabotage: bool) -> dict[str, np.ndarray]:
    """K1's arms on the control split of seed 0 (the single agent with the threshold calibrated on
    single-intent queries, as the evaluate step runs it); sabotaged: its prototypes shuffled."""
    from repro.medaide import artifacts as files
    from repro.medaide.method import answer_batch
    from repro.medaide.metrics import answer_scores
    from repro.medaide.pipeline import shared_resources

    res = shared_resources(cfg, dirs["model"])
    recognisers = files.load_recognisers(dirs["train"], 0, cfg.temperature)
    single = recognisers["whole_single"]
    if sabotage:
        perm = np.roll(np.arange(len(single.prototypes)), 1)  # every intent's prototype names another intent
        single = PrototypeRecogniser(single.prototypes[perm], single.temperature, single.threshold)
    control = files.load_splits(dirs["data"], 0)["control"]
    texts, refs = [q["query"] for q in control], [q["reference"] for q in control]
    out = {}
    for arm in ("medaide", "single_agent"):
        answers = answer_batch(res, texts, arm, recognisers | {"whole": single})
        out[arm] = answer_scores([a.text for a in answers], refs)["rougeL"][None]
    return out


def test_k1_sabotage_shuffled_prototypes_move_the_gap_past_the_margin(tiny_run):
    from repro.core.claims import decide
    from repro.medaide.claims import CLAIMS

    k1 = next(c for c in CLAIMS if c.id == "K1")
    cfg, dirs = tiny_run
    intact, broken = control_rougeL(cfg, dirs, False), control_rougeL(cfg, dirs, True)
    gap = lambda arms: float((arms["medaide"] - arms["single_agent"]).mean())  # noqa: E731
    assert abs(gap(intact)) < k1.margin, gap(intact)
    assert gap(broken) > k1.margin and decide(k1, broken).verdict != "reproduced", gap(broken)
