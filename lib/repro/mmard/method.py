"""MMARD (Wang et al., 2025, arXiv 2503.06559): min-max optimisation adversarial robustness
distillation; and the registry of all training methods.

Introduced in notebooks/mmard/03_train.ipynb. No official code is public and the abstract gives no
equations, so this is a RECONSTRUCTION from the abstract (``docs/papers/mmard.md``); every piece has its own
weight in `MethodHP` and switches off at 0.

D(S, T) below is KL(T || S) (teacher as target, the peers' convention) by default. The paper's
notation reads KL(S || T); ARD-family papers write it so while their code computes KL(T || S), which
is why that is the default. `mmard_student_first=True` takes the literal direction instead.

Inner (teacher's robust predictions pull x' toward the teacher's decision boundary), from
x + init_std * N(0, 1), `steps` sign steps in the eps-ball:

    x' = argmax  D(S(x'), T(x')) - gamma * max(0, m_T(x')),   m_T = z_T,y - max_{j != y} z_T,j

The first term is AdaAD's (the teacher sees x'). The second shrinks the teacher's logit margin on
the true class while it is positive and is flat once x' reaches the teacher's boundary, so x' is
drawn to the boundary rather than deep into the teacher's wrong region. A logit margin equals the
log-probability ratio log p_y - log p_j, so both terms are in nats and gamma = 1 weighs them
equally (untuned).

Outer (the triangle student-natural, student-adversarial, teacher; one edge each):

    D(S(x'), T(x')) + D(S(x), T(x)) + lambda * JS(S(x), S(x'))

JS(P, Q) is the mutual information between a fair coin that picks the scenario (natural or
adversarial) and the student's prediction: driving it to zero makes the prediction carry no
information about which scenario the input came from. lambda = `mmard_tie_weight` = 1 (untuned).
Plug-and-play (`rslad_mmard`): any method's outer loss + plug_weight * this outer loss at its x'.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from repro.mmard.attacks import cw_margin
from repro.mmard.baselines import (
    adaad,
    ard,
    ascend,
    eval_mode,
    iad,
    kd,
    kl,
    natural,
    pgd_at,
    require_eval,
    rslad,
    rslad_inner,
    rslad_outer,
    targets,
    trades,
)
from repro.mmard.config import METHOD_NAMES, TEACHER_METHODS, MethodHP

__all__ = ["METHODS", "USES_TEACHER", "MethodHP", "js", "mmard", "mmard_inner", "mmard_outer", "rslad_mmard"]


def js(a_logits: Tensor, b_logits: Tensor) -> Tensor:
    """JS(A, B) = 1/2 KL(A || M) + 1/2 KL(B || M), M = (A + B) / 2, batch mean; gradients reach both."""
    log_m = torch.logaddexp(F.log_softmax(a_logits.float(), 1), F.log_softmax(b_logits.float(), 1)) - math.log(2)
    return 0.5 * kl(a_logits, log_m) + 0.5 * kl(b_logits, log_m)


def distil(s_logits: Tensor, t_logits: Tensor, hp: MethodHP, reduction: str = "batchmean") -> Tensor:
    """D(S, T): KL(T || S), or KL(S || T) when hp.mmard_student_first."""
    if hp.mmard_student_first:
        return kl(s_logits, t_logits, reduction=reduction)
    return kl(t_logits, s_logits, reduction=reduction)


def mmard_inner(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """x' maximising D(S(x'), T(x')) - gamma * max(0, m_T(x')) (module docstring), student in eval mode."""

    def objective(x_adv: Tensor) -> Tensor:
        s, t = student(x_adv), teacher(x_adv)
        # -max(0, m_T) = min(0, CW margin of the teacher)
        return distil(s, t, hp, reduction="sum") + hp.mmard_gamma * cw_margin(t.float(), y).clamp(max=0).sum()

    with eval_mode(student):
        return ascend(objective, x, hp)


def mmard_terms(s_nat: Tensor, s_adv: Tensor, t_nat: Tensor, t_adv: Tensor, hp: MethodHP) -> Tensor:
    """The MMARD outer loss from logits: D(S(x'), T(x')) + D(S(x), T(x)) + lambda * JS(S(x), S(x'))."""
    return distil(s_adv, t_adv, hp) + distil(s_nat, t_nat, hp) + hp.mmard_tie_weight * js(s_nat, s_adv)


def mmard_outer(student: nn.Module, teacher: nn.Module, x: Tensor, x_adv: Tensor, hp: MethodHP) -> Tensor:
    """The MMARD outer loss at a given x' (from any inner maximisation); teacher targets fixed."""
    require_eval(teacher)
    return mmard_terms(student(x), student(x_adv), targets(teacher, x), targets(teacher, x_adv), hp)


def mmard(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """MMARD: `mmard_inner` then `mmard_outer`."""
    require_eval(teacher)
    return mmard_outer(student, teacher, x, mmard_inner(student, teacher, x, y, hp), hp)


def rslad_mmard(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """RSLAD + MMARD outer loss (plug-and-play): RSLAD's x' and outer loss + plug_weight * MMARD's
    outer loss at that x'. At plug_weight 0 it equals `rslad` exactly (same RNG draws)."""
    require_eval(teacher)
    t_nat = targets(teacher, x)
    x_adv = rslad_inner(student, t_nat, x, hp)
    s_nat, s_adv = student(x), student(x_adv)
    plug = mmard_terms(s_nat, s_adv, t_nat, targets(teacher, x_adv), hp)
    return rslad_outer(s_nat, s_adv, t_nat, hp) + hp.plug_weight * plug


Loss = Callable[[nn.Module, nn.Module | None, Tensor, Tensor, MethodHP], Tensor]

METHODS: dict[str, Loss] = {
    "natural": natural,
    "pgd_at": pgd_at,
    "trades": trades,
    "ard": ard,
    "iad": iad,
    "kd": kd,
    "rslad": rslad,
    "adaad": adaad,
    "mmard": mmard,
    "rslad_mmard": rslad_mmard,
}
USES_TEACHER = TEACHER_METHODS
assert tuple(METHODS) == METHOD_NAMES, "repro.mmard.config.METHOD_NAMES must list the registered methods"
