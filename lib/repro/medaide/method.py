"""MedAide end to end: rewrite -> key element -> intent prototypes -> routed agents -> decision ->
backend. Baselines are the same system with one switch changed (``ARMS``), so every arm gets the
same KB, retrieval, encoder and backend. Introduced in ``notebooks/medaide/02_model.ipynb`` and
``04_evaluate.ipynb``.

Intent recognition (paper): ``S_i = cos(Q, E_i)``, ``alpha = softmax(S / T)``; an intent is active when
``alpha_i`` exceeds a threshold calibrated on validation. Each sub-query also keeps its top intent
(every clause asks something); a query's intents are the union over its sub-queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from repro.medaide.agents import Task, decide, diagnosis_agent, fact_agent, no_decision, top_candidates
from repro.medaide.kb import AGENT_OF, INTENTS, KB
from repro.medaide.retrieval import HybridIndex

ARMS: dict[str, dict] = {
    "medaide": dict(rewrite=True, decompose=True, recogniser="prototype", routing=True, decision=True),
    # the same rewriting and the same prototypes, on the whole query: no decomposition, one generalist agent
    "single_agent": dict(rewrite=True, decompose=False, recogniser="whole", routing=False, decision=False),
    "keyword": dict(rewrite=True, decompose=True, recogniser="keyword", routing=True, decision=True),
    # the paper's ablation: no rewriting module at all (no rules, no split, no key element)
    "no_rewrite": dict(rewrite=False, decompose=True, recogniser="prototype", routing=True, decision=True),
    # the rules alone off: split and key element kept (prototypes of raw clauses, threshold on unruled clauses)
    "no_rules": dict(rewrite=True, rules=False, decompose=True, recogniser="norules", routing=True, decision=True),
    "no_decision": dict(rewrite=True, decompose=True, recogniser="prototype", routing=True, decision=False),
    # trivial references: every sub-query given the prior intent, or routed to every agent (all 17 intents)
    "prior_intent": dict(rewrite=True, decompose=True, recogniser="prior", routing=True, decision=True),
    "all_agents": dict(rewrite=True, decompose=True, recogniser="all", routing=True, decision=True),
}
TRIVIAL_ARMS = ("prior_intent", "all_agents")
# the arms that recognise intents differently
INTENT_ARMS = ("medaide", "keyword", "no_rewrite", "no_rules", "single_agent", "prior_intent")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class PrototypeRecogniser:
    prototypes: np.ndarray  # (n_intents, d), unit rows
    temperature: float
    threshold: float

    def alpha(self, emb: np.ndarray) -> np.ndarray:
        return softmax(emb @ self.prototypes.T / self.temperature)

    def active(self, emb: np.ndarray) -> list[list[str]]:
        """Per sub-query: intents with alpha above the threshold, and always the top one."""
        alpha = self.alpha(emb)
        hits = alpha > self.threshold
        hits[np.arange(len(alpha)), alpha.argmax(1)] = True
        return [[INTENTS[j] for j in np.flatnonzero(row)] for row in hits]


@dataclass
class Answer:
    intents: list[str]
    facts: list[int]
    text: str
    subqueries: list[str]
    key_disease: int | None
    consensus: int | None
    tasks: list[Task] = field(default_factory=list)


@dataclass
class Resources:
    """What every arm shares: the KB, its three indices, the encoder, the rewriter, the backend."""

    kb: KB
    facts: HybridIndex
    cases: HybridIndex
    profiles: HybridIndex
    embed: object  # models.Embedder
    rewriter: object  # rewrite.Rewriter
    backend: object
    hybrid_weight: float = 0.5
    case_tau: float = 0.5
    top_k: int = 3


def prepare(
    res: Resources, texts: list[str], rewrite: bool, key_element: bool = True, rules: bool = True
) -> tuple[list[list[str]], list[str], list[int | None], list[float]]:
    """Sub-queries (for intent recognition), retrieval prefixes and key elements per query.

    With rewriting, the key element is the disease whose KB profile best matches the rewritten query
    (hybrid retrieval); its name and drug are prefixed to every sub-query for retrieval, which
    resolves pronouns ("it", "that condition"). ``rules=False`` skips the rewriting rules and keeps
    the split and the key element. Without rewriting, the raw query is one sub-query."""
    if not rewrite:
        return [[t] for t in texts], ["" for _ in texts], [None] * len(texts), [0.0] * len(texts)
    rewritten = res.rewriter.rewrite_many(texts, rules=rules)
    if not key_element:  # intent recognition alone (calibration, the noise sweep) needs no retrieval
        return [r.subqueries for r in rewritten], ["" for _ in texts], [None] * len(texts), [0.0] * len(texts)
    full = [r.text for r in rewritten]
    hybrid = res.profiles.scores(full, res.embed(full)).hybrid(res.hybrid_weight)
    keys = hybrid.argmax(1)
    prefixes = [f"{res.kb.diseases[k].name} {res.kb.diseases[k].drug}: " for k in keys]
    return [r.subqueries for r in rewritten], prefixes, [int(k) for k in keys], hybrid.max(1).tolist()


def recognise(res: Resources, subqueries: list[list[str]], recogniser) -> list[list[list[str]]]:
    """Intents per sub-query for a batch of queries (``recogniser`` is a PrototypeRecogniser or a
    KeywordRecogniser)."""
    flat = [s for subs in subqueries for s in subs]
    per_sub = (
        recogniser.active(res.embed(flat)) if isinstance(recogniser, PrototypeRecogniser) else recogniser.active(flat)
    )
    out, i = [], 0
    for subs in subqueries:
        out.append(per_sub[i : i + len(subs)])
        i += len(subs)
    return out


def query_intents(per_sub: list[list[str]]) -> list[str]:
    return sorted({i for intents in per_sub for i in intents}, key=INTENTS.index)


def whole_query(subqueries: list[list[str]]) -> list[list[str]]:
    """No decomposition: the rewritten query's content as one sub-query (same rules, no split)."""
    return [[" ".join(subs)] for subs in subqueries]


def arm_subqueries(res: Resources, texts: list[str], spec: dict, key_element: bool = True):
    """``prepare`` for an arm: the arm's rewriting, then its decomposition (or the whole query)."""
    subs, *rest = prepare(res, texts, spec["rewrite"], key_element, spec.get("rules", True))
    return (subs if spec["decompose"] else whole_query(subs)), *rest


def recogniser_of(spec: dict, recognisers: dict):
    return recognisers["raw" if not spec["rewrite"] else spec["recogniser"]]


@dataclass
class ConstantRecogniser:
    """The same intents for every sub-query (the trivial references: the prior intent, or all 17)."""

    intents: list[str]

    def active(self, subqueries: list[str]) -> list[list[str]]:
        return [list(self.intents) for _ in subqueries]


def answer_batch(res: Resources, texts: list[str], arm: str, recognisers: dict) -> list[Answer]:
    """Run one arm over a batch of query texts.

    Every arm recognises intents with a learned model. With ``routing``, each (sub-query, intent) task
    goes to that intent's specialised agent, which searches the whole KB (the diagnosis agent votes
    over the case base). Without it (the single agent), one generalist agent answers each recognised
    intent with the best-scoring fact of that intent about the query's key element (the disease its
    rewritten text names best): a pilot before the first claims run found that without this scoping
    the single agent's fact recall was 5-9%, near chance, so it keeps the scoping to be a fair baseline."""
    spec = ARMS[arm]
    subs, prefixes, keys, key_scores = arm_subqueries(res, texts, spec)
    intents = recognise(res, subs, recogniser_of(spec, recognisers))
    tasks = [(q, s, i) for q in range(len(texts)) for s, its in zip(subs[q], intents[q]) for i in its]
    queries = [prefixes[q] + s for q, s, _ in tasks]
    unique = sorted(set(queries))
    row = {t: n for n, t in enumerate(unique)}
    fact_scores = res.facts.scores(unique, res.embed(unique)).hybrid(res.hybrid_weight)
    routed = spec["routing"]
    needs_cases = [t for (_, _, i), t in zip(tasks, queries) if routed and AGENT_OF[i] == "diagnosis"]
    case_rows = {t: n for n, t in enumerate(sorted(set(needs_cases)))}
    case_scores = res.cases.scores(list(case_rows), res.embed(list(case_rows))) if case_rows else None
    by_query: list[list[Task]] = [[] for _ in texts]
    for (q, s, intent), text in zip(tasks, queries):
        if not routed:
            scope = res.kb.fact_intent == INTENTS.index(intent)
            if keys[q] is not None:
                scope = scope & (res.kb.fact_disease == keys[q])
            cands = top_candidates(fact_scores[row[text]], scope, 1)
        elif AGENT_OF[intent] == "diagnosis":
            cands = diagnosis_agent(
                res.kb, case_scores, case_rows[text], res.hybrid_weight, res.case_tau, intent, res.top_k
            )
        else:
            cands = fact_agent(res.kb, fact_scores[row[text]], intent, res.top_k)
        by_query[q].append(Task(q, s, intent, cands, routed))
    answers = []
    for q, text in enumerate(texts):
        if spec["decision"]:
            facts, consensus = decide(res.kb, by_query[q], keys[q], key_scores[q])
        else:
            facts, consensus = no_decision(by_query[q]), None
        answers.append(
            Answer(
                intents=query_intents(intents[q]),
                facts=list(dict.fromkeys(facts)),
                text=res.backend.answer(text, [res.kb.facts[f] for f in facts]),
                subqueries=subs[q],
                key_disease=keys[q],
                consensus=consensus,
                tasks=by_query[q],
            )
        )
    return answers
