"""Train and run any arm: the rows of a split as tensors, one training entry point per arm, and its
verdicts on a split. Introduced in ``notebooks/vbackchecker/03_train.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from repro.core.train import FitResult
from repro.vbackchecker import baselines
from repro.vbackchecker.config import CheckerSpec, JudgeSpec, LossWeights, OptimSpec
from repro.vbackchecker.data import SceneTensors, target_masks
from repro.vbackchecker.method import TrainRows, Verdicts, check, train_checker
from repro.vbackchecker.models import Checker, SimilarityJudge
from repro.vbackchecker.recipes import RECIPES
from repro.vbackchecker.text import Vocab, encode


def split_rows(table, scenes: SceneTensors, max_len: int, with_answer: bool = True) -> TrainRows:
    """A row table as arrays: scene ids, tokens (teacher-forced answers, or prompts only), target masks."""
    encoded = encode(Vocab.build(), table["sentence"], table["no_target"], table["error_type"], max_len, with_answer)
    grounded = ~np.asarray(table["no_target"], bool)
    return TrainRows(np.asarray(table["image_id"], np.int64), encoded, target_masks(table, scenes), grounded)


def arm_rows(table, scenes: SceneTensors, arm: str, max_len: int) -> TrainRows:
    """The training rows of ``arm`` (its recipe's row kinds)."""
    keep = np.isin(np.asarray(table["kind"]), RECIPES[arm].kinds)
    return split_rows(table, scenes, max_len).subset(keep)


@dataclass
class Trained:
    model: Checker | SimilarityJudge
    fitted: FitResult
    threshold: float | None = None  # the similarity judge's tuned threshold


def train_arm(
    arm: str,
    rows: TrainRows,
    val: TrainRows,
    images: torch.Tensor,
    checker: CheckerSpec,
    judge: JudgeSpec,
    loss: LossWeights,
    optim: OptimSpec,
    seed: int,
    accelerator,
    eval_batch: int = 256,
) -> Trained:
    """Train one arm with the shared optimizer settings; the similarity judge also tunes its threshold
    on ``val``."""
    recipe = RECIPES[arm]
    schedule = dict(epochs=optim.epochs, steps_per_epoch=optim.steps_per_epoch, batch_size=optim.batch_size,
                    lr=optim.lr, weight_decay=optim.weight_decay, seed=seed, accelerator=accelerator)  # fmt: skip
    if recipe.model == "similarity":
        model, fitted = baselines.train_similarity(rows, images, judge, **schedule)
        scores = baselines.pair_scores(model, images, val.image_ids, val.encoded.text, eval_batch)
        return Trained(model, fitted, baselines.tune_threshold(scores, val.grounded))
    model, fitted = train_checker(rows, images, recipe, checker, loss, desc=f"{arm} s{seed}", **schedule)
    return Trained(model, fitted)


def verdicts(arm: str, trained: Trained, prompts: TrainRows, images: torch.Tensor, eval_batch: int) -> Verdicts:
    """The arm's accept / reject decisions (and masks) on rows encoded as prompts."""
    if RECIPES[arm].model == "similarity":
        scores = baselines.pair_scores(trained.model, images, prompts.image_ids, prompts.encoded.text, eval_batch)
        return baselines.judge(scores, trained.threshold, images.shape[1])
    return check(trained.model, images, prompts.image_ids, prompts.encoded, eval_batch, RECIPES[arm].blank_image)


def build_model(arm: str, checker: CheckerSpec, judge: JudgeSpec, image_size: int) -> Checker | SimilarityJudge:
    """An untrained network of the arm's kind (to load saved weights into)."""
    vocab_size = len(Vocab.build().words)
    if RECIPES[arm].model == "similarity":
        return SimilarityJudge(judge, vocab_size, image_size)
    return Checker(checker, vocab_size, image_size)
