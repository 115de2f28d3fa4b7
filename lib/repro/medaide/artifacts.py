"""MedAide's step outputs: their file names and loaders (what the later steps, the figures and the
notebooks read back). Nothing here computes a step; :mod:`repro.medaide.pipeline` does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict

from repro.core import tables
from repro.core.steps import read_json
from repro.core.weights import load_weights
from repro.medaide.agents import make_backend
from repro.medaide.baselines import KeywordRecogniser
from repro.medaide.data import rows
from repro.medaide.kb import INTENTS, KB, build_kb
from repro.medaide.method import ConstantRecogniser, PrototypeRecogniser, Resources
from repro.medaide.models import Embedder, MiniLMEncoder, SmallEncoder, minilm_dir
from repro.medaide.retrieval import HybridIndex
from repro.medaide.rewrite import Rewriter, general_words

SPLITS = ("train", "val", "test", "control")
# data step
KB_FILE = "kb.json"
# model step
SMALL_ENCODER = "small_encoder"
KB_EMBEDDINGS = "kb_embeddings.npz"
CLASS_MEANS = "class_means.npy"
EMBEDDING_CACHE = "embeddings.npz"
# train step
CALIBRATION = "calibration.json"
FIT_BUDGET = "budget.json"
# evaluate step
SCORES = "scores.npz"
SWEEP = "sweep.json"
CLAIMS = "claims.json"
TRACES = "traces_seed0.jsonl"
PREDICTIONS = "predictions_seed0.json"
C3A_BY_MENTION = "c3a_by_mention.json"  # how much of the rewriting effect comes from acronym queries


def seed_dir(data_dir: Path, seed: int) -> Path:
    """One seed's splits: a ``DatasetDict`` saved with ``save_to_disk``."""
    return Path(data_dir) / f"seed{seed}"


def save_splits(splits: DatasetDict, data_dir: Path, seed: int) -> None:
    tables.save(splits, seed_dir(data_dir, seed))


def load_split(data_dir: Path, seed: int, name: str) -> list[dict]:
    """One saved split (``train``, ``val``, ``test``, ``control`` or a sweep level) as query dicts."""
    folder = seed_dir(data_dir, seed)
    splits = tables.load(folder)
    if name not in splits:
        raise KeyError(f"{folder}: no split {name!r}; splits: {', '.join(splits)}")
    return rows(splits[name])


def sweep_name(level: float) -> str:
    return f"sweep_{level:g}"


def prototypes_file(train_dir: Path, seed: int) -> Path:
    return Path(train_dir) / f"prototypes_seed{seed}.npz"


def sample_file(train_dir: Path, seed: int) -> Path:
    return Path(train_dir) / f"sample_seed{seed}.npz"


def load_kb(n_diseases: int, cases_per_disease: int, data_seed: int) -> KB:
    """The KB is a pure function of these three values; the data step's ``kb.json`` is for readers."""
    return build_kb(n_diseases, cases_per_disease, data_seed)


def kb_texts(kb: KB) -> dict[str, list[str]]:
    """The three indexed collections (facts, cases, disease profiles)."""
    return {"facts": list(kb.facts), "cases": list(kb.cases), "profiles": kb.profiles()}


def load_splits(data_dir: Path, seed: int) -> dict[str, list[dict]]:
    return {name: load_split(data_dir, seed, name) for name in SPLITS}


def load_sweep(data_dir: Path, seed: int, levels) -> dict[float, list[dict]]:
    return {p: load_split(data_dir, seed, sweep_name(p)) for p in levels}


def load_encoder(encoder: str, small_dim: int, model_dir: Path) -> torch.nn.Module:
    if encoder == "minilm":
        return MiniLMEncoder()
    return load_weights(SmallEncoder(dim=small_dim), Path(model_dir) / SMALL_ENCODER)


def load_resources(
    kb: KB,
    model_dir: Path,
    device: torch.device,
    *,
    encoder: str,
    small_dim: int,
    encode_batch: int,
    max_passes: int,
    max_subqueries: int,
    hybrid_weight: float,
    case_tau: float,
    top_k: int,
    backend: str,
) -> Resources:
    """What every arm shares: the KB and its indices (embeddings from the model step), the
    ``encoder`` (with the model step's embedding cache), the rewriter (``max_passes``,
    ``max_subqueries``), the ``backend``, and the retrieval knobs (``hybrid_weight``, the union
    rule's ``case_tau``, ``top_k``)."""
    model_dir = Path(model_dir)
    embed = Embedder(load_encoder(encoder, small_dim, model_dir).to(device), encode_batch, str(device))
    embed.load(model_dir / EMBEDDING_CACHE)
    with np.load(model_dir / KB_EMBEDDINGS, allow_pickle=False) as npz:
        indices = {name: HybridIndex(texts, npz[name]) for name, texts in kb_texts(kb).items()}
    rewriter = Rewriter(
        kb.vocabulary(), kb.terms(), general_words(minilm_dir() / "vocab.txt"), max_passes, max_subqueries
    )
    return Resources(
        kb,
        indices["facts"],
        indices["cases"],
        indices["profiles"],
        embed,
        rewriter,
        make_backend(backend, str(device)),
        hybrid_weight,
        case_tau,
        top_k,
    )


def load_recognisers(train_dir: Path, seed: int, temperature: float) -> dict:
    """The fitted recognisers of one seed (:func:`repro.medaide.training.fit_recognisers`):
    prototypes on rewritten clauses (thresholds for sub-queries, whole queries and whole
    single-intent queries), prototypes on raw clauses (thresholds for raw queries and for unruled
    clauses), keywords, and the two trivial references."""
    cal = read_json(Path(train_dir) / CALIBRATION)[str(seed)]
    with np.load(prototypes_file(train_dir, seed), allow_pickle=False) as npz:
        rewritten, raw = npz["prototype"], npz["raw"]
    return {
        "prototype": PrototypeRecogniser(rewritten, temperature, cal["threshold"]),
        "whole": PrototypeRecogniser(rewritten, temperature, cal["threshold_whole"]),
        "whole_single": PrototypeRecogniser(rewritten, temperature, cal["threshold_whole_single"]),
        "raw": PrototypeRecogniser(raw, temperature, cal["threshold_raw"]),
        "norules": PrototypeRecogniser(raw, temperature, cal["threshold_norules"]),
        "keyword": KeywordRecogniser(cal["keywords"], cal["fallback"]),
        "prior": ConstantRecogniser([cal["fallback"]["prior"]]),
        "all": ConstantRecogniser(list(INTENTS)),
    }


def load_sample(train_dir: Path, seed: int) -> dict[str, np.ndarray]:
    with np.load(sample_file(train_dir, seed), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def load_traces(evaluate_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(evaluate_dir) / TRACES).read_text().splitlines()]
