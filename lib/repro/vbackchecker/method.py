"""VBackChecker's method: R-Instruct tuning of a grounding model with a rejection token, and the
decision by [SEG] vs [REJ].

Objective (the paper's weights, each piece switchable through :class:`repro.vbackchecker.recipes.Recipe`
and :class:`repro.vbackchecker.config.LossWeights`)::

    L = 1.0 * CE_w(answer tokens) + 2.0 * BCE(mask) + 0.5 * DICE(mask)

``CE_w`` is token cross-entropy with class weight ``w = 10`` on ``[SEG]`` and ``[REJ]`` (1 elsewhere),
normalised by the summed weights of the targets (PyTorch's weighted mean). BCE and DICE are LISA's: a
per-pixel mean BCE and a soft dice ``1 - (2 sum(p t) + eps) / (sum(p) + sum(t) + eps)`` (p = sigmoid of
the mask logits, both scaled by 1/1000 as in LISA). As in the official code, each is averaged over *all*
answer rows of the batch, a rejection row counting as a zero placeholder: it carries no mask gradient,
and at half negatives the mask terms weigh half what an average over grounded rows alone would give.

Batches (:func:`paired_loader`) put each positive next to a negative written for the same scene (its
hard negative for the checker, its no-target expression for a gRefCOCO-style grounder), so every
batch asks the same image both questions; an arm without negatives draws rows uniformly.

Decision: the checker accepts a description when, at the answer slot, the ``[SEG]`` logit exceeds the
``[REJ]`` logit; its mask is then ``sigmoid(mask logits) > 0.5``, and empty when it rejects.

Introduced in ``notebooks/vbackchecker/03_train.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from repro.core.train import FitResult, fit
from repro.vbackchecker.config import CheckerSpec, LossWeights
from repro.vbackchecker.models import Checker
from repro.vbackchecker.recipes import Recipe
from repro.vbackchecker.text import IGNORE, Encoded, Vocab


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, scale: float = 1000.0, eps: float = 1e-6) -> torch.Tensor:
    """LISA's soft dice per mask ``(B,)``."""
    p = logits.sigmoid().flatten(1) / scale
    t = targets.flatten(1)
    return 1 - (2 * (p * t).sum(-1) + eps) / (p.sum(-1) + t.sum(-1) / scale + eps)


def bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-pixel mean BCE per mask ``(B,)``."""
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1).mean(-1)


def class_weights(vocab: Vocab, special: float) -> torch.Tensor:
    weight = torch.ones(len(vocab.words))
    weight[[vocab.seg, vocab.rej]] = special
    return weight


def checker_loss(
    logits: torch.Tensor,
    mask_logits: torch.Tensor,
    targets: torch.Tensor,
    masks: torch.Tensor,
    grounded: torch.Tensor,
    weights: LossWeights,
    class_weight: torch.Tensor,
    mask_loss: bool = True,
) -> torch.Tensor:
    """The paper's objective on one batch (module docstring)."""
    loss = weights.ce * F.cross_entropy(
        logits.flatten(0, 1), targets.flatten(), weight=class_weight.to(logits.device), ignore_index=IGNORE
    )
    if mask_loss and grounded.any():
        m, t, rows = mask_logits[grounded], masks[grounded].float(), len(grounded)
        loss = loss + weights.bce * bce_loss(m, t).sum() / rows + weights.dice * dice_loss(m, t).sum() / rows
    return loss


@dataclass
class TrainRows:
    """What a training run reads: the rows' scene ids, tokens, target masks and whether grounded."""

    image_ids: np.ndarray
    encoded: Encoded
    masks: np.ndarray  # (n, H, W) union of target masks
    grounded: np.ndarray  # (n,) bool
    partner: np.ndarray | None = None  # (n,) the negative written with a positive, -1 if none

    def subset(self, keep: np.ndarray) -> TrainRows:
        """The rows where ``keep`` holds; a positive keeps its partner when the partner is kept too."""
        e = self.encoded
        sub = Encoded(e.inputs[keep], e.targets[keep], e.slot[keep], e.text[keep])
        partner = None
        if self.partner is not None:
            new_index = np.full(len(keep), -1)
            new_index[keep] = np.arange(int(keep.sum()))
            old = self.partner[keep]
            partner = np.where(old >= 0, new_index[np.maximum(old, 0)], -1)
        return TrainRows(self.image_ids[keep], sub, self.masks[keep], self.grounded[keep], partner)


def partners(image_ids: np.ndarray, grounded: np.ndarray) -> np.ndarray:
    """For each positive, the index of the negative right after it when written for the same scene (the
    generator and the refs file keep a positive and its negatives together), else -1. Run it on an
    arm's own rows, so the partner is a negative of a kind the arm trains on."""
    out = np.full(len(image_ids), -1)
    i = np.arange(max(len(image_ids) - 1, 0))
    hit = grounded[i] & ~grounded[i + 1] & (image_ids[i] == image_ids[i + 1])
    out[i[hit]] = i[hit] + 1
    return out


def step_loader(tensors: tuple[torch.Tensor, ...], batch_size: int, steps: int, seed: int) -> DataLoader:
    """Batches drawn with replacement, ``steps`` of them per epoch: every arm takes exactly the same
    number of optimizer steps whatever the size of its training set."""
    data = TensorDataset(*tensors)
    sampler = RandomSampler(
        data, replacement=True, num_samples=steps * batch_size, generator=torch.Generator().manual_seed(seed)
    )
    return DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=True)


class PairSampler(torch.utils.data.Sampler):
    """Row indices for ``steps`` batches per epoch, each made of ``batch_size // 2`` positives drawn with
    replacement, each followed by its partner negative; a fresh draw every epoch."""

    def __init__(self, partner: np.ndarray, batch_size: int, steps: int, seed: int):
        self.anchors = np.flatnonzero(partner >= 0)
        if batch_size % 2 or not len(self.anchors):
            raise ValueError("paired batches need an even batch size and at least one positive with a partner")
        self.partner, self.n, self.rng = partner, steps * batch_size // 2, np.random.default_rng(seed)

    def __iter__(self):
        anchors = self.rng.choice(self.anchors, self.n)
        return iter(np.stack([anchors, self.partner[anchors]], 1).ravel().tolist())

    def __len__(self) -> int:
        return 2 * self.n


def paired_loader(tensors: tuple[torch.Tensor, ...], partner: np.ndarray | None, batch_size: int, steps: int,
                  seed: int) -> DataLoader:  # fmt: skip
    """:class:`PairSampler` batches where the rows have partners, else :func:`step_loader`'s."""
    if partner is None or not (partner >= 0).any():
        return step_loader(tensors, batch_size, steps, seed)
    sampler = PairSampler(partner, batch_size, steps, seed)
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, sampler=sampler, drop_last=True)


def optimizer_and_schedule(model: torch.nn.Module, lr: float, weight_decay: float, total: int):
    """AdamW with a 5% linear warm-up and a cosine decay to a tenth of ``lr``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warmup = max(1, total // 20)

    def factor(k: int) -> float:
        progress = min(1.0, max(0, k - warmup) / max(1, total - warmup))
        return min(1.0, (k + 1) / warmup) * (0.1 + 0.45 * (1 + np.cos(np.pi * progress)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def trim_padding(inputs: torch.Tensor, *aligned: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cut the batch's token columns (and ``aligned`` ones) after its longest row: no real position
    attends to the right padding (causal, or prefix up to the slot), so the cut saves compute and
    changes no output (a step's cost scales with the positions it runs)."""
    used = max(1, int((inputs != 0).sum(1).max()))
    return inputs[:, :used], *(a[:, :used] for a in aligned)


def train_checker(
    rows: TrainRows,
    images: torch.Tensor,
    recipe: Recipe,
    spec: CheckerSpec,
    weights: LossWeights,
    *,
    epochs: int,
    steps_per_epoch: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    accelerator,
    desc: str = "checker",
    init: dict[str, torch.Tensor] | None = None,
) -> tuple[Checker, FitResult]:
    """Train one checker arm (``recipe`` picks the switches; ``rows`` are already the arm's rows), from
    the weights ``init`` (the pretrained grounder) when given, else from scratch."""
    torch.manual_seed(seed)
    vocab = Vocab.build()
    model = Checker(spec, len(vocab.words), images.shape[1])
    if init is not None:
        model.load_state_dict(init)
    special = weights.special_token if recipe.special_weight is None else recipe.special_weight
    class_weight = class_weights(vocab, special)
    e = rows.encoded
    tensors = tuple(
        torch.from_numpy(np.ascontiguousarray(a))
        for a in (rows.image_ids, e.inputs, e.targets, e.slot, rows.masks.astype(np.uint8), rows.grounded)
    )
    loader = paired_loader(tensors, rows.partner, batch_size, steps_per_epoch, seed)
    optimizer, schedule = optimizer_and_schedule(model, lr, weight_decay, epochs * steps_per_epoch)
    model, optimizer, loader, schedule = accelerator.prepare(model, optimizer, loader, schedule)
    images = images.to(accelerator.device)

    def loss_fn(m, batch):
        ids, inputs, targets, slot, masks, grounded = batch
        inputs, targets = trim_padding(inputs, targets)
        x = torch.zeros_like(images[ids]) if recipe.blank_image else images[ids]
        logits, mask_logits = m(x, inputs, slot)
        return checker_loss(logits, mask_logits, targets, masks, grounded, weights, class_weight, recipe.mask_loss)

    fitted = fit(model, loss_fn, loader, optimizer, epochs=epochs, accelerator=accelerator, scheduler=schedule,
                 desc=desc)  # fmt: skip
    return accelerator.unwrap_model(model).eval(), fitted


@dataclass
class Verdicts:
    """Per row: accepted (``[SEG]`` wins), the decision margin ``logit[SEG] - logit[REJ]``, the mask."""

    accept: np.ndarray
    margin: np.ndarray
    masks: np.ndarray


@torch.no_grad()
def check(
    model: Checker, images: torch.Tensor, image_ids: np.ndarray, encoded: Encoded, batch_size: int, blank: bool = False
) -> Verdicts:
    """Run the checker on prompts (no answer tokens) and read the decision and the mask at the slot."""
    vocab = Vocab.build()
    device = next(model.parameters()).device
    margins, masks = [], []
    for start in range(0, len(image_ids), batch_size):
        part = slice(start, start + batch_size)
        x = images[torch.from_numpy(image_ids[part]).long()].to(device)
        x = torch.zeros_like(x) if blank else x
        slot = torch.from_numpy(encoded.slot[part]).to(device)
        (inputs,) = trim_padding(torch.from_numpy(encoded.inputs[part]).to(device))
        logits, mask_logits = model(x, inputs, slot)
        at_slot = logits[torch.arange(len(x), device=device), slot].float()
        margins.append((at_slot[:, vocab.seg] - at_slot[:, vocab.rej]).cpu())
        masks.append((mask_logits.float() > 0).cpu())
    margin = torch.cat(margins).numpy()
    accept = margin > 0
    return Verdicts(accept, margin, torch.cat(masks).numpy() & accept[:, None, None])
