"""The four agents, the decision module and the LLM backends. Introduced in ``notebooks/medaide/04_evaluate.ipynb``.

A *task* is one (sub-query, intent) pair; the intent's agent answers it with up to ``top_k``
candidate facts ``(fact index, score)``:

* pre-diagnosis, medicament and post-diagnosis agents: hybrid retrieval over the KB facts of that intent.
  The pre-diagnosis agent retrieves KB facts, not patient records: the miniature has no patient
  histories, so the paper's use of a patient's own records is not reproduced;
* diagnosis agent: hybrid retrieval over the case base with the paper's union rule (keyword hits
  ∪ cos > tau); candidate diseases are voted by the summed hybrid score of their cases, and the
  agent answers with the voted disease's fact for the intent.

**Decision module** (reconstruction: the paper merges agent outputs with an LLM): the agents' top
candidates and the key element vote for one disease (score-weighted); each task then takes its best
candidate about that disease when it has one among its ``top_k`` (else its top candidate); repeated
facts are merged and the order of the query is kept. Without it, each task's top candidate is taken
as it comes.

**Backends** compose the answer text from the chosen facts. ``extractive`` (the default, named so in
every table) joins the fact sentences; :class:`HFCausalLM` prompts any local Hugging Face causal LM
with the query and the facts and returns its greedy continuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.medaide.kb import AGENT_OF, INTENTS, KB
from repro.medaide.retrieval import Scores

Candidates = list[tuple[int, float]]  # (fact index, score), best first


def top_candidates(scores: np.ndarray, mask: np.ndarray, k: int) -> Candidates:
    masked = np.where(mask, scores, -np.inf)
    order = np.argsort(-masked, kind="stable")[:k]
    return [(int(i), float(masked[i])) for i in order if np.isfinite(masked[i])]


def fact_agent(kb: KB, fact_scores: np.ndarray, intent: str, k: int) -> Candidates:
    """Pre-diagnosis / medicament / post-diagnosis: the best facts of this intent."""
    return top_candidates(fact_scores, kb.fact_intent == INTENTS.index(intent), k)


def diagnosis_agent(
    kb: KB, case_scores: Scores, row: int, weight: float, tau: float, intent: str, k: int
) -> Candidates:
    """Vote diseases over the cases the union rule admits; answer with each voted disease's fact."""
    hybrid = case_scores.hybrid(weight)[row]
    admitted = case_scores.union(tau)[row]
    votes = np.bincount(kb.case_disease[admitted], weights=hybrid[admitted], minlength=len(kb.diseases))
    if not admitted.any():
        votes = np.bincount(kb.case_disease, weights=hybrid, minlength=len(kb.diseases))
    order = np.argsort(-votes, kind="stable")[:k]
    total = votes.sum() or 1.0
    return [(kb.fact_index(int(d), intent), float(votes[d] / total)) for d in order if votes[d] > 0]


@dataclass
class Task:
    query: int  # which query of the batch
    subquery: str
    intent: str
    candidates: Candidates
    routed: bool = True  # False: the single generalist agent answered it

    @property
    def agent(self) -> str:
        return AGENT_OF[self.intent] if self.routed else "single"


def decide(kb: KB, tasks: list[Task], key_disease: int | None, key_score: float) -> tuple[list[int], int | None]:
    """The decision module: one disease by score-weighted vote, then each task's best fact about it."""
    votes = np.zeros(len(kb.diseases))
    if key_disease is not None:
        votes[key_disease] += key_score
    for t in tasks:
        if t.candidates:
            fact, score = t.candidates[0]
            votes[kb.fact_disease[fact]] += max(score, 0.0)
    consensus = int(votes.argmax()) if votes.any() else None
    chosen = []
    for t in tasks:
        about = [f for f, _ in t.candidates if kb.fact_disease[f] == consensus]
        if about or t.candidates:
            chosen.append(about[0] if about else t.candidates[0][0])
    return list(dict.fromkeys(chosen)), consensus


def no_decision(tasks: list[Task]) -> list[int]:
    """Each task's top candidate, in task order (duplicates removed by the backend)."""
    return [t.candidates[0][0] for t in tasks if t.candidates]


# ----------------------------------------------------------------------------------------------
# backends


class ExtractiveBackend:
    """Composes the answer from the chosen fact sentences (each once, in the given order)."""

    name = "extractive"

    def __init__(self) -> None:
        self.calls = 0

    def answer(self, query: str, facts: list[str]) -> str:
        self.calls += 1
        return " ".join(dict.fromkeys(facts))


class HFCausalLM:
    """Any local Hugging Face causal LM (a folder with ``config.json``, weights and a tokenizer),
    prompted with the facts and the query; greedy decoding of ``max_new_tokens``. Nothing is
    downloaded: the path must exist."""

    def __init__(self, path: str | Path, max_new_tokens: int = 64, device: str = "cpu"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"no Hugging Face model at {path} (config.json missing); give a local folder")
        self.name = f"hf:{path.name}"
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForCausalLM.from_pretrained(str(path)).to(device).eval()
        self.max_new_tokens, self.device, self.calls = max_new_tokens, device, 0
        self.tokenizer.truncation_side = "left"  # a long fact list loses its first facts, never the question
        limit = getattr(self.model.config, "max_position_embeddings", None) or getattr(
            self.model.config, "n_positions", 1024
        )
        self.max_prompt = max(8, limit - max_new_tokens)

    def prompt(self, query: str, facts: list[str]) -> str:
        listed = "\n".join(f"- {f}" for f in dict.fromkeys(facts))
        return f"Facts:\n{listed}\nQuestion: {query}\nAnswer:"

    def answer(self, query: str, facts: list[str]) -> str:
        import torch

        self.calls += 1
        batch = self.tokenizer(
            self.prompt(query, facts), return_tensors="pt", truncation=True, max_length=self.max_prompt
        )
        batch = batch.to(self.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        return self.tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def make_backend(spec: str, device: str = "cpu"):
    """``"extractive"`` or ``"hf:<local path>"``."""
    if spec == "extractive":
        return ExtractiveBackend()
    if spec.startswith("hf:"):
        return HFCausalLM(spec[3:], device=device)
    raise ValueError(f"unknown backend {spec!r}; use 'extractive' or 'hf:<path to a local causal LM>'")
