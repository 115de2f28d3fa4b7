"""The baselines PRIMED is compared with, at the same steps, task batches and optimiser.
Introduced in ``notebooks/mgtil/03_train.ipynb``.

* ``zeroshot``: the pretrained CLIP, never trained.
* ``finetune``: cross-entropy on the task only.
* ``l2``: ``CE + lambda sum_i (theta_i - theta_i^{t-1})^2`` (anchored to the weights after the
  previous task; :func:`repro.mgtil.method.anchored_penalty` with unit weights).
* ``lwf`` (Learning without Forgetting, as ZSCL runs it for CLIP): ``CE + lambda KL(p_T || p_S)`` of
  the current task's class logits on the task images at temperature T = 2, teacher = the model after
  the previous task.
* ``zscl`` (ZSCL, ICCV 2023): distillation in feature space from the *initial* pretrained model on a
  reference set sampled uniformly from the database: ``KL(p_T || p_S)`` of the image -> text and the
  text -> image softmaxes of the reference batch at T = 2, plus **weight ensembling** (a running
  average of the weights every ``we_every`` steps within a task; the average ends the task and is
  what is evaluated). ZSCL samples its reference images from ImageNet and its texts from a
  vocabulary; the miniature samples pairs from the caption database. Its official scripts also pass
  ``--l2 1``: an l2 penalty to the weights the task began with, weight ``LossSpec.zscl_l2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def kl_to_teacher(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """``tau^2 KL(p_T || p_S)`` of row-wise softmaxes, mean over rows (LwF's and ZSCL's direction)."""
    return tau**2 * F.kl_div(
        F.log_softmax(student_logits / tau, -1),
        F.log_softmax(teacher_logits / tau, -1),
        log_target=True,
        reduction="batchmean",
    )


def zscl_loss(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """ZSCL's two-sided feature-space distillation on a reference batch's B x B logits."""
    return kl_to_teacher(student, teacher, tau) + kl_to_teacher(student.T, teacher.T, tau)


class WeightEnsemble:
    """ZSCL's weight ensembling, as its official ``finetune.py`` does it: the mean of the weights the
    task began with and of the weights after every ``every``-th optimiser update (``theta_avg <-
    (n theta_avg + theta) / (n + 1)``). On a path of S updates with ``every = 1`` it averages the
    S + 1 iterates theta_0 .. theta_S, each once."""

    def __init__(self, params: Sequence[nn.Parameter], every: int):
        self.params, self.every = list(params), every
        self.average = [p.detach().clone() for p in self.params]
        self.n = 1

    @torch.no_grad()
    def after_update(self, updates: int) -> None:
        """Called with the number of updates the weights have had so far (0: the start, already counted)."""
        if updates > 0 and updates % self.every == 0:
            for avg, p in zip(self.average, self.params):
                avg.mul_(self.n / (self.n + 1)).add_(p.detach(), alpha=1 / (self.n + 1))
            self.n += 1

    @torch.no_grad()
    def finish(self, updates: int) -> None:
        """Count the weights after the last update, then put the average into the model."""
        self.after_update(updates)
        for avg, p in zip(self.average, self.params):
            p.copy_(avg)
