"""The global image-text similarity judge (the other checker arms are recipes of
:func:`repro.vbackchecker.method.train_checker`: see :mod:`repro.vbackchecker.recipes`).

The judge is a dual encoder trained with the SigLIP objective on the same R-Instruct rows as the
checker (positives and hard negatives), the same steps, batch and learning rate: every image-text pair
of a batch is a binary example, positive only when the text is a grounded description of that image;
hard negatives enter as negatives of their own image. Its decision threshold on the pair logit is
tuned on the validation split for the best balanced accuracy, so it gets the threshold a careful user
would pick. What it lacks by design is the checker's token-level fusion and pixel-level grounding.

Introduced in ``notebooks/vbackchecker/03_train.ipynb``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from repro.core.train import FitResult, fit
from repro.vbackchecker.config import JudgeSpec
from repro.vbackchecker.method import TrainRows, Verdicts, optimizer_and_schedule, step_loader
from repro.vbackchecker.models import SimilarityJudge
from repro.vbackchecker.text import Vocab


def siglip_loss(logits: torch.Tensor, image_ids: torch.Tensor, grounded: torch.Tensor) -> torch.Tensor:
    """Sigmoid loss over all ``B x B`` pairs; pair (i, j) is positive iff text j is grounded and was
    written for image i's scene (normalised by B, as in SigLIP)."""
    same = image_ids[:, None] == image_ids[None, :]
    labels = (same & grounded[None, :]).float()
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / len(logits)


def train_similarity(
    rows: TrainRows,
    images: torch.Tensor,
    spec: JudgeSpec,
    *,
    epochs: int,
    steps_per_epoch: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    accelerator,
) -> tuple[SimilarityJudge, FitResult]:
    torch.manual_seed(seed)
    model = SimilarityJudge(spec, len(Vocab.build().words), images.shape[1])
    tensors = tuple(
        torch.from_numpy(np.ascontiguousarray(a)) for a in (rows.image_ids, rows.encoded.text, rows.grounded)
    )
    loader = step_loader(tensors, batch_size, steps_per_epoch, seed)
    optimizer, schedule = optimizer_and_schedule(model, lr, weight_decay, epochs * steps_per_epoch)
    model, optimizer, loader, schedule = accelerator.prepare(model, optimizer, loader, schedule)
    images = images.to(accelerator.device)

    def loss_fn(m, batch):
        ids, text, grounded = batch
        return siglip_loss(m(images[ids], text, all_pairs=True), ids, grounded)

    fitted = fit(model, loss_fn, loader, optimizer, epochs=epochs, accelerator=accelerator, scheduler=schedule,
                 counted={"judge": accelerator.unwrap_model(model).vit}, desc="similarity")  # fmt: skip
    return accelerator.unwrap_model(model).eval(), fitted


@torch.no_grad()
def pair_scores(model: SimilarityJudge, images: torch.Tensor, image_ids: np.ndarray, text: np.ndarray, batch: int):
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(image_ids), batch):
        part = slice(start, start + batch)
        x = images[torch.from_numpy(image_ids[part]).long()].to(device)
        out.append(model(x, torch.from_numpy(text[part]).to(device)).float().cpu())
    return torch.cat(out).numpy()


def tune_threshold(scores: np.ndarray, grounded: np.ndarray) -> float:
    """The threshold with the best balanced accuracy (accept when ``score >= threshold``)."""
    candidates = np.unique(scores)
    pos, neg = scores[grounded], scores[~grounded]
    tpr = (pos[None, :] >= candidates[:, None]).mean(1) if len(pos) else np.zeros(len(candidates))
    tnr = (neg[None, :] < candidates[:, None]).mean(1) if len(neg) else np.zeros(len(candidates))
    return float(candidates[np.argmax(tpr + tnr)])


def judge(scores: np.ndarray, threshold: float, side: int) -> Verdicts:
    """The judge's verdicts (it predicts no masks: an accepted row gets an empty mask)."""
    accept = scores >= threshold
    return Verdicts(accept, scores - threshold, np.zeros((len(scores), side, side), bool))


# ----------------------------------------------------------------------------------------------
# the text prior: the blank-image judge of the K1 controls


LEAK_WORD = "indeed"  # a word the grammar never writes (the planted leak of the text-prior gate)


def fit_text_prior(sentences, hallucinated, seed: int):
    """A judge that sees no image: logistic regression on the description's word uni- and bigrams
    (class-balanced), fitted on a bootstrap resample of the rows (one per seed). Unlike a network, it
    cannot collapse to one answer when the words carry any signal: it reads whatever label the
    generator leaks into the text (rarer words, clause counts, lengths), which is what K1 checks."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    sentences, hallucinated = np.asarray(sentences, object), np.asarray(hallucinated, bool)
    pick = np.random.default_rng(seed).integers(0, len(sentences), len(sentences))
    prior = make_pipeline(CountVectorizer(ngram_range=(1, 2), token_pattern=r"\S+"),
                          LogisticRegression(class_weight="balanced", max_iter=2000))  # fmt: skip
    return prior.fit(sentences[pick], hallucinated[pick])


def text_prior_accept(prior, sentences) -> np.ndarray:
    """Accepted: the prior does not call the description hallucinated."""
    return ~prior.predict(np.asarray(sentences, object)).astype(bool)


def plant_leak(sentences, hallucinated, rng: np.random.Generator, share: float = 0.5) -> list[str]:
    """The sentences with :data:`LEAK_WORD` appended to a ``share`` of the hallucinated ones: the label
    written into the words, as a generator bug would."""
    hit = np.asarray(hallucinated, bool) & (rng.random(len(sentences)) < share)
    return [f"{s} {LEAK_WORD}" if h else s for s, h in zip(sentences, hit)]
