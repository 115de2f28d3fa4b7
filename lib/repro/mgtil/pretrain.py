"""Contrastive pretraining of the tiny CLIP on the caption database (the stand-in for BiomedCLIP's
pretraining on PMC-15M), and its zero-shot accuracy per task. Introduced in
``notebooks/mgtil/02_model.ipynb``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from transformers import CLIPModel

from repro.core.train import FitResult, fit
from repro.mgtil.config import RetrievalSpec
from repro.mgtil.models import contrastive_loss, encode_images, encode_texts, tokenize
from repro.mgtil.retrieval import Corpus, Query, retrieval_example


def pretrain(
    model: CLIPModel,
    images: torch.Tensor,
    tokens: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    accelerator: Any,
) -> FitResult:
    """AdamW (weight decay 0.01) with a one-cycle schedule, symmetric InfoNCE, shuffled batches."""
    loader = DataLoader(
        TensorDataset(images, *tokens),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    total = epochs * (len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=total, pct_start=0.1)
    model, optimizer, loader, schedule = accelerator.prepare(model, optimizer, loader, schedule)
    counted = {"images": accelerator.unwrap_model(model).vision_model}
    return fit(
        model,
        lambda m, batch: contrastive_loss(m, *batch),
        loader,
        optimizer,
        epochs=epochs,
        accelerator=accelerator,
        scheduler=schedule,
        counted=counted,
        desc="pretrain CLIP",
    )


@torch.no_grad()
def embed_corpus(
    model: CLIPModel, images: torch.Tensor, tokens, mid_layer: int, batch: int = 512
) -> dict[str, np.ndarray]:
    """The database's unit embeddings at the final and the middle depth, images and captions."""
    model.eval()
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("img_final", "img_mid", "txt_final", "txt_mid")}
    for i in range(0, len(images), batch):
        img = encode_images(model, images[i : i + batch], mid_layer=mid_layer)
        txt = encode_texts(model, tokens[0][i : i + batch], tokens[1][i : i + batch], mid_layer=mid_layer)
        for key, value in (
            ("img_final", img.final),
            ("img_mid", img.mid),
            ("txt_final", txt.final),
            ("txt_mid", txt.mid),
        ):
            parts[key].append(value.numpy())
    return {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}


@torch.no_grad()
def show_retrieval(model: CLIPModel, tok, corpus: Corpus, text: str, mid_layer: int, spec: RetrievalSpec) -> dict:
    """The eight pairs one text query retrieves (search, threshold, rerank by ``model``, BM25)."""
    q = encode_texts(model, *tokenize(tok, [text]), mid_layer=mid_layer)
    query = Query(text, q.final[0].numpy(), q.mid[0].numpy())
    ids = retrieval_example(corpus, query, corpus.img_final @ query.final, 8, spec.k_prime, spec.rerank_keep)
    return {"query": text, "ids": ids, "captions": [corpus.captions[i] for i in ids]}
