"""Training the miniature's victim in place (the paper attacks released checkpoints; ours is trained
on the procedural scenes). Introduced in ``notebooks/lingoloop/02_model.ipynb``."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from repro.core.runtime import seed_everything
from repro.core.train import fit
from repro.lingoloop.config import VictimSpec
from repro.lingoloop.data import PAD, SceneSet, Vocab
from repro.lingoloop.models import PROMPT, build_processor, build_victim, caption_loss, normalise


def train_victim(
    spec: VictimSpec, scenes: SceneSet, *, seed: int, epochs: int, batch_size: int, lr: float, accelerator
):
    """One victim: captioning cross-entropy, AdamW with warm-up and cosine decay, clipped gradients.
    Each batch is cut after its longest caption (captions are open-ended, most are short)."""
    seed_everything(seed)
    vocab = Vocab.build()
    model = build_victim(spec, vocab)
    processor = build_processor(spec, vocab)
    prompt = processor(text=PROMPT, images=np.zeros((spec.image_size,) * 2 + (3,), np.uint8), return_tensors="pt")
    prompt_ids = prompt["input_ids"].to(accelerator.device)
    data = TensorDataset(torch.from_numpy(scenes.images), torch.from_numpy(scenes.tokens))
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    total = epochs * len(loader)
    warmup = min(50, total // 10 + 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda k: min(1.0, (k + 1) / warmup) * (0.55 + 0.45 * np.cos(np.pi * min(k, total) / total)),
    )
    model, optimizer, loader, schedule = accelerator.prepare(model, optimizer, loader, schedule)

    def loss_fn(m, batch):
        x, y = batch
        y = y[:, : int((y != PAD).sum(1).max())]
        return caption_loss(m, normalise(x), prompt_ids, y)

    fitted = fit(
        model,
        loss_fn,
        loader,
        optimizer,
        epochs=epochs,
        accelerator=accelerator,
        scheduler=schedule,
        desc=f"victim s{seed}",
    )
    return accelerator.unwrap_model(model).eval(), processor, fitted
