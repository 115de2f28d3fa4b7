"""PRIMED's dynamic knowledge distillation: CKT, CMC and DFG on retrieved reference pairs.
Introduced in ``notebooks/mgtil/03_train.ipynb``.

For a task batch (x, y) and a batch of B retrieved reference pairs (x_r, c_r), with S and T the
student's and the teacher's B x B image-caption logit matrices on the reference pairs (the teacher
is the model after the previous task, frozen):

    L = CE(x, y) + alpha L_CKT + beta L_CMC + L_DFG

* **CKT** (cross-modal knowledge transfer), KL in both directions, on the rows (image -> caption)
  and the columns (caption -> image) of the matrices at temperature tau:
  ``L_CKT = tau^2 / 2 * sum_{rows, cols} [KL(p_T || p_S) + KL(p_S || p_T)]`` (mean over the B rows).
* **CMC** (cross-modal consistency): the student's matrix aligned to the identity, i.e. the
  symmetric InfoNCE ``(CE(S, I) + CE(S^T, I)) / 2``, with one change of ours: pairs whose captions
  are identical are positives of each other (``-log`` of the softmax mass on all positives of a row,
  the multiple-instance form of InfoNCE). A caption database repeats captions (4,000 pairs hold 140
  distinct ones; a batch drawn from one domain repeats most of them), and the identity target would
  push apart an image and a caption that describe it exactly; with positives the loss can reach
  zero. Without repeats it *is* the identity form (a test checks both).
* **DFG** (dynamic parameter importance): ``W_i = (d(L_CKT + L_CMC) / d theta_i)^2``, detached and
  recomputed at every step from the distillation terms only (never from a loss containing DFG);
  ``L_DFG = gamma * sum_i W_i (theta_i - theta_i^{t-1})^2`` with ``theta^{t-1}`` the weights after
  the previous task. Our choice, documented: W is divided by its mean over all parameters, so that
  gamma is on the scale of an l2 penalty (with W = 1 everywhere DFG *is* the l2 baseline), since raw
  squared gradients of a tiny model are ~1e-8 and the paper gives no coefficient.

Each term has a switch (:class:`Terms`), which is how the ablations ``ours_no_ckt``, ``ours_no_cmc``
and ``ours_no_dfg`` are made; without CKT (or CMC) the importance comes from the remaining term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Terms:
    ckt: bool = True
    cmc: bool = True
    dfg: bool = True


ABLATIONS = {
    "ours": Terms(),
    "ours_uniform": Terms(),
    "ours_no_ckt": Terms(ckt=False),
    "ours_no_cmc": Terms(cmc=False),
    "ours_no_dfg": Terms(dfg=False),
}


def symmetric_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """``KL(p_T || p_S) + KL(p_S || p_T)`` of row-wise softmaxes at temperature tau, mean over rows,
    times tau^2 (Hinton's scaling, so the gradient size does not depend on tau)."""
    log_s = F.log_softmax(student_logits / tau, dim=-1)
    log_t = F.log_softmax(teacher_logits / tau, dim=-1)
    forward = F.kl_div(log_s, log_t, log_target=True, reduction="batchmean")
    backward = F.kl_div(log_t, log_s, log_target=True, reduction="batchmean")
    return tau**2 * (forward + backward)


def ckt_loss(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """CKT on B x B logit matrices: rows (image -> caption) and columns (caption -> image)."""
    return (symmetric_kl(student, teacher, tau) + symmetric_kl(student.T, teacher.T, tau)) / 2


def cmc_loss(student: torch.Tensor, same: torch.Tensor | None = None) -> torch.Tensor:
    """The student's B x B matrix aligned to the identity (symmetric InfoNCE); ``same`` (B x B bool,
    symmetric, true on the diagonal) marks further positives: pairs with identical captions."""
    if same is None:
        same = torch.eye(len(student), dtype=torch.bool, device=student.device)

    def side(logits: torch.Tensor) -> torch.Tensor:
        positives = torch.logsumexp(logits.masked_fill(~same, float("-inf")), dim=-1)
        return (torch.logsumexp(logits, dim=-1) - positives).mean()

    return (side(student) + side(student.T)) / 2


def importance(loss: torch.Tensor, params: Sequence[nn.Parameter]) -> list[torch.Tensor]:
    """DFG's W: squared gradients of ``loss`` (the distillation terms), detached, normalised to mean 1."""
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    squares = [torch.zeros_like(p) if g is None else g.detach() ** 2 for p, g in zip(params, grads)]
    mean = torch.cat([s.flatten() for s in squares]).mean().clamp_min(1e-30)
    return [s / mean for s in squares]


def anchored_penalty(
    params: Sequence[nn.Parameter], anchors: Sequence[torch.Tensor], weights: Sequence[torch.Tensor] | None = None
) -> torch.Tensor:
    """``sum_i w_i (theta_i - anchor_i)^2`` (w = 1: the l2 baseline; w = W: DFG)."""
    total = params[0].new_zeros(())
    for i, (p, a) in enumerate(zip(params, anchors)):
        d2 = (p - a) ** 2
        total = total + (d2 if weights is None else weights[i] * d2).sum()
    return total


def distillation_terms(
    student: torch.Tensor,
    teacher: torch.Tensor,
    params: Sequence[nn.Parameter],
    anchors: Sequence[torch.Tensor],
    terms: Terms,
    same: torch.Tensor | None = None,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    tau: float,
) -> torch.Tensor:
    """``alpha L_CKT + beta L_CMC + L_DFG`` for one step (``same``: CMC's identical-caption positives)."""
    ckt = ckt_loss(student, teacher, tau) if terms.ckt else student.new_zeros(())
    cmc = cmc_loss(student, same) if terms.cmc else student.new_zeros(())
    total = alpha * ckt + beta * cmc
    if terms.dfg and (terms.ckt or terms.cmc):
        weights = importance(ckt + cmc, params)
        total = total + gamma * anchored_penalty(params, anchors, weights)
    return total
