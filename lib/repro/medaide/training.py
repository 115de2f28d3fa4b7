"""Fitting what MedAide learns: the intent prototypes (and, for the second encoder option, the small
encoder), and the validation calibration of the threshold (and of the keyword baseline's k).
Introduced in ``notebooks/medaide/03_train.ipynb``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from repro.core.runtime import seed_everything
from repro.core.train import FitResult, fit
from repro.medaide.baselines import KeywordRecogniser
from repro.medaide.kb import INTENTS, KB
from repro.medaide.method import (
    ConstantRecogniser,
    PrototypeRecogniser,
    Resources,
    prepare,
    query_intents,
    recognise,
    whole_query,
)
from repro.medaide.metrics import intent_f1
from repro.medaide.models import PrototypeHead, SmallEncoder, class_means


def _fit_classifier(
    model, x, y, *, batch_size: int, lr: float, seed: int, epochs: int, accelerator, desc: str
) -> FitResult:
    generator = seed_everything(seed)
    loader = DataLoader(TensorDataset(*x, y), batch_size=batch_size, shuffle=True, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    def loss_fn(m, batch):
        *inputs, labels = batch
        return F.cross_entropy(m(*inputs), labels)

    return fit(model, loss_fn, loader, optimizer, epochs=epochs, accelerator=accelerator, desc=desc)


def fit_prototypes(
    emb: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    accelerator,
) -> tuple[np.ndarray, FitResult]:
    """Prototypes initialised at the class means of the training sub-query embeddings, then fitted
    with cross-entropy on ``softmax(cos(Q, E) / T)`` (the encoder stays frozen)."""
    head = PrototypeHead(class_means(emb, labels, len(INTENTS)), temperature)
    x, y = torch.from_numpy(emb).float(), torch.from_numpy(labels).long()
    result = _fit_classifier(
        head,
        (x,),
        y,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        epochs=epochs,
        accelerator=accelerator,
        desc="prototypes",
    )
    head = accelerator.unwrap_model(head)
    return F.normalize(head.prototypes.detach().float().cpu(), dim=-1).numpy(), result


class _SmallClassifier(torch.nn.Module):
    def __init__(self, encoder: SmallEncoder, temperature: float):
        super().__init__()
        self.encoder = encoder
        self.head = PrototypeHead(F.normalize(torch.randn(len(INTENTS), encoder.dim), dim=-1), temperature)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(ids))


def encoder_corpus(kb: KB) -> tuple[list[str], np.ndarray]:
    """What the small encoder trains on: every KB fact sentence, labelled by its fact's intent (no
    query text: the leak test checks these sentences against the held-out family's words)."""
    return list(kb.facts), np.asarray(kb.fact_intent)


def train_small_encoder(
    kb: KB, accelerator, *, dim: int, temperature: float, epochs: int, batch_size: int, lr: float, seed: int
) -> tuple[SmallEncoder, FitResult]:
    """The second encoder option (``dim``-d), trained in place on the KB's own sentences labelled by
    the intent of their fact, with a prototype head (the pipeline passes ``data_seed``: the KB is
    fixed by it, so the encoder does not depend on the run's seed)."""
    encoder = SmallEncoder(dim=dim)
    texts, labels = encoder_corpus(kb)
    batch = encoder.tokenize(texts)
    ids = _pad(batch["ids"], batch["offsets"])
    model = _SmallClassifier(encoder, temperature)
    result = _fit_classifier(
        model,
        (ids,),
        torch.from_numpy(labels).long(),
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        epochs=epochs,
        accelerator=accelerator,
        desc="small encoder",
    )
    return accelerator.unwrap_model(model).encoder.eval(), result


def _pad(ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """EmbeddingBag's packed ids as a (B, L) batch padded with 0."""
    ends = torch.cat([offsets[1:], torch.tensor([len(ids)])])
    rows = [ids[s:e] for s, e in zip(offsets.tolist(), ends.tolist())]
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=0)


def training_clauses(res: Resources, queries: list[dict], rewrite: bool) -> tuple[list[str], np.ndarray]:
    """Each training clause as the recogniser will see it (rewritten, or raw), with its intent."""
    clauses = [c for q in queries for c in q["clauses"]]
    labels = np.array([INTENTS.index(i) for q in queries for i in q["clause_intents"]])
    if rewrite:
        clauses = [r.text for r in res.rewriter.rewrite_many(clauses)]
    return clauses, labels


def calibrate(
    res: Resources, val: list[dict], make, grid, rewrite: bool, decompose: bool = True, rules: bool = True
) -> tuple[object, dict]:
    """The grid value whose recogniser has the best mean per-query F1 on validation (first on ties)."""
    subs, *_ = prepare(res, [q["query"] for q in val], rewrite, key_element=False, rules=rules)
    subs = subs if decompose else whole_query(subs)
    gold = [q["intents"] for q in val]
    scores = {}
    for value in grid:
        pred = [query_intents(s) for s in recognise(res, subs, make(value))]
        scores[value] = float(intent_f1(gold, pred).mean())
    best = max(grid, key=lambda v: scores[v])
    return best, scores


def fit_recognisers(
    res: Resources,
    train: list[dict],
    val: list[dict],
    seed: int,
    accelerator,
    *,
    temperature: float,
    epochs: int,
    batch_size: int,
    lr: float,
    threshold_grid: tuple[float, ...],
    keyword_k_grid: tuple[int, ...],
):
    """Prototypes (fitted with these ``epochs``, ``batch_size`` and ``lr``) + a threshold from
    ``threshold_grid`` for the rewritten and for the raw pipeline; keywords + k from
    ``keyword_k_grid`` for the keyword baseline (from the same rewritten training clauses). Every
    threshold is calibrated on the inputs its arm recognises: sub-queries (MedAide), unruled split
    clauses with the raw prototypes (``norules``), whole queries (the single agent on the test split,
    ``whole``) and whole single-intent queries (the single agent on the single-intent control split,
    ``whole_single``: a threshold chosen on composite queries fires about two intents per
    single-intent query, issue 32). ``prior`` and ``all`` are the trivial references. Returns the
    recognisers, their fitted parameters, calibration curves and budgets."""
    out, params, curves, budgets = {}, {}, {}, {}
    for name, rewrite in (("prototype", True), ("raw", False)):
        texts, labels = training_clauses(res, train, rewrite)
        prototypes, fitted = fit_prototypes(
            res.embed(texts),
            labels,
            temperature=temperature,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            accelerator=accelerator,
        )
        make = lambda thr, p=prototypes: PrototypeRecogniser(p, temperature, thr)  # noqa: E731
        threshold, curves[name] = calibrate(res, val, make, threshold_grid, rewrite)
        out[name], params[name], budgets[name] = make(threshold), {"threshold": threshold}, fitted.budget
        params[name]["prototypes"] = prototypes
        if name == "prototype":  # the single agent: the same prototypes on the whole (undecomposed) query
            threshold, curves["whole"] = calibrate(res, val, make, threshold_grid, True, decompose=False)
            out["whole"], params["whole"] = make(threshold), {"threshold": threshold}
            single = [q for q in val if len(q["intents"]) == 1]
            threshold, curves["whole_single"] = calibrate(res, single, make, threshold_grid, True, decompose=False)
            out["whole_single"], params["whole_single"] = make(threshold), {"threshold": threshold}
        else:  # rules off, split and key element kept: the raw prototypes on unruled clauses
            threshold, curves["norules"] = calibrate(res, val, make, threshold_grid, True, rules=False)
            out["norules"], params["norules"] = make(threshold), {"threshold": threshold}
    texts, labels = training_clauses(res, train, True)
    names = [INTENTS[i] for i in labels]
    make = lambda k: KeywordRecogniser.fit(texts, names, k)  # noqa: E731
    k, curves["keyword"] = calibrate(res, val, make, keyword_k_grid, True)
    out["keyword"] = make(k)
    params["keyword"] = {"k": k, "keywords": out["keyword"].keywords, "fallback": out["keyword"].fallback}
    out["prior"], out["all"] = ConstantRecogniser([out["keyword"].fallback["prior"]]), ConstantRecogniser(list(INTENTS))
    return out, params, curves, budgets


def save_sample(path: Path, res: Resources, train: list[dict], prototypes: np.ndarray, n: int = 400) -> None:
    """About ``n`` rewritten training clauses (every k-th, so all four benchmarks are in), their
    embeddings and labels, with the prototypes (the prototype map)."""
    texts, labels = training_clauses(res, train, rewrite=True)
    every = max(1, len(texts) // n)
    np.savez(path, embeddings=res.embed(texts[::every]), labels=labels[::every], prototypes=prototypes)
