"""Train and run any arm: the rows of a split as tensors, the grounder every checker arm starts from,
one training entry point per arm, and its verdicts on a split. Introduced in
``notebooks/vbackchecker/03_train.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from repro.core.train import FitResult
from repro.vbackchecker import baselines
from repro.vbackchecker.config import CheckerSpec, JudgeSpec, LossWeights, OptimSpec, PretrainSpec
from repro.vbackchecker.data import SceneTensors, target_masks
from repro.vbackchecker.method import TrainRows, Verdicts, check, partners, train_checker
from repro.vbackchecker.models import Checker, SimilarityJudge
from repro.vbackchecker.recipes import PRETRAIN, RECIPES, Recipe
from repro.vbackchecker.text import Vocab, encode


def split_rows(table, scenes: SceneTensors, max_len: int, with_answer: bool = True) -> TrainRows:
    """A row table as arrays: scene ids, tokens (teacher-forced answers with their reasons, or prompts
    only), target masks."""
    encoded = encode(Vocab.build(), table["sentence"], table["no_target"], table["error_type"], max_len, with_answer,
                     table["reason"])  # fmt: skip
    grounded = ~np.asarray(table["no_target"], bool)
    return TrainRows(np.asarray(table["image_id"], np.int64), encoded, target_masks(table, scenes), grounded)


def arm_rows(table, scenes: SceneTensors, arm: str | Recipe, max_len: int) -> TrainRows:
    """The training rows of ``arm`` (its recipe's row kinds), each positive paired with its negative."""
    recipe = RECIPES[arm] if isinstance(arm, str) else arm
    keep = np.isin(np.asarray(table["kind"]), recipe.kinds)
    rows = split_rows(table, scenes, max_len).subset(keep)
    rows.partner = partners(rows.image_ids, rows.grounded)
    return rows


def head_phrases(table, scene_objects) -> tuple[np.ndarray, list[str]]:
    """The curriculum's rows: each sentence cut to its head noun phrase (``the <size> <colour> <shape>``),
    kept only where the cut keeps the row's label exact under the scene graph: a grounded row's phrase
    names one object (its target), a no-target row's names none. Returns the kept row indices and
    their phrases."""
    keep, phrases = [], []
    for i, (image_id, sentence, no_target) in enumerate(zip(table["image_id"], table["sentence"], table["no_target"])):
        words = sentence.split()[:4]
        named = sum(obj.split() == words[1:] for obj in scene_objects[image_id])
        if named == (0 if no_target else 1):
            keep.append(i)
            phrases.append(" ".join(words))
    return np.asarray(keep, np.int64), phrases


def pretrain_grounder(table, scenes: SceneTensors, scene_objects, checker: CheckerSpec, loss: LossWeights,
                      spec: PretrainSpec, seed: int, accelerator) -> tuple[Checker, FitResult, int]:  # fmt: skip
    """The grounder every checker arm fine-tunes from (the paper starts from GSVA trained on gRefCOCO):
    the checker's network and objective on the referring expressions of the training ``table``
    (:data:`repro.vbackchecker.recipes.PRETRAIN`), one checkpoint per ``seed``; first
    ``spec.phrase_steps`` on their head noun phrases alone (:func:`head_phrases`), then ``spec.steps``
    on the full expressions. Returns the model, the fit of both stages, and the rows of the last."""
    images = torch.from_numpy(scenes.images)
    schedule = dict(epochs=1, batch_size=spec.batch_size, lr=spec.lr, weight_decay=0.01, seed=seed,
                    accelerator=accelerator)  # fmt: skip
    init, phrase_fit = None, None
    if spec.phrase_steps:
        stage = table.select(np.flatnonzero(np.isin(np.asarray(table["kind"]), PRETRAIN.kinds)))
        keep, phrases = head_phrases(stage, scene_objects)
        cut = stage.select(keep).remove_columns("sentence").add_column("sentence", phrases)
        rows = arm_rows(cut, scenes, PRETRAIN, checker.max_len)
        model, phrase_fit = train_checker(rows, images, PRETRAIN, checker, loss, steps_per_epoch=spec.phrase_steps,
                                          desc="pretrain phrases", **schedule)  # fmt: skip
        init = model.state_dict()
    rows = arm_rows(table, scenes, PRETRAIN, checker.max_len)
    model, fitted = train_checker(rows, images, PRETRAIN, checker, loss, steps_per_epoch=spec.steps, init=init,
                                  desc="pretrain", **schedule)  # fmt: skip
    if phrase_fit is not None:
        fitted = FitResult(phrase_fit.losses + fitted.losses, fitted.budget.merge(phrase_fit.budget))
    return model, fitted, len(rows.image_ids)


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
    init: dict[str, torch.Tensor] | None = None,
) -> Trained:
    """Train one arm with the shared optimizer settings, a checker arm from ``init`` (the pretrained
    grounder) when given; the similarity judge tunes its threshold on the rows of ``val`` drawn like
    the benchmark (positives and hard negatives: the benchmark has no unrelated descriptions)."""
    recipe = RECIPES[arm]
    schedule = dict(epochs=optim.epochs, steps_per_epoch=optim.steps_per_epoch, batch_size=optim.batch_size,
                    lr=optim.lr, weight_decay=optim.weight_decay, seed=seed, accelerator=accelerator)  # fmt: skip
    if recipe.model == "similarity":
        model, fitted = baselines.train_similarity(rows, images, judge, **schedule)
        scores = baselines.pair_scores(model, images, val.image_ids, val.encoded.text, eval_batch)
        return Trained(model, fitted, baselines.tune_threshold(scores, val.grounded))
    model, fitted = train_checker(rows, images, recipe, checker, loss, desc=f"{arm} s{seed}", init=init, **schedule)
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
