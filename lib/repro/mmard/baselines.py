"""Training losses of the baselines: natural, PGD-AT, TRADES, ARD, IAD, clean KD, RSLAD, AdaAD; and their shared
hyperparameters `MethodHP` (defined in :mod:`repro.mmard.config`, so a config imports no torch code).

Introduced in notebooks/mmard/02_model.ipynb (teachers: TRADES) and 03_train.ipynb (the rest).
Each method is `loss(student, teacher, x, y, hp) -> scalar`: the inner maximisation runs with the
student in eval mode (its modes are restored afterwards), the outer loss is computed in the mode
the caller set (train), and the caller does backward and the optimizer step. The teacher must be in
eval mode; its outer targets are computed under `torch.no_grad()` and the inner maximisations take
gradients w.r.t. the input only, so no teacher parameter ever receives a gradient (freezing it with
`requires_grad_(False)` is harmless but not needed; it did not change AdaAD's epoch time either).

Notation (docs/papers/mmard.md): KL(P || Q) = sum_c P_c log(P_c / Q_c), with the teacher as the target P. PyTorch's
`kl_div(log_softmax(student), softmax(teacher))` is this KL(teacher || student). One helper, `kl`,
computes it everywhere, averaged over the batch. The peers' code averages over batch x classes in
places (ARD's and AdaAD's CIFAR-10 `nn.KLDivLoss()`, RSLAD's `torch.mean`): at the default weights
their losses are ours divided by the number of classes, a constant factor (with SGD, a 10x smaller
learning rate relative to the weight decay; with Adam, almost nothing).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from repro.mmard.attacks import maximise, pgd
from repro.mmard.config import MethodHP


def kl(p_logits: Tensor, q_logits: Tensor, T: float = 1.0, reduction: str = "batchmean") -> Tensor:
    """KL(P || Q) = sum_c P_c (log P_c - log Q_c) with P = softmax(p_logits / T) the target and
    Q = softmax(q_logits / T); reduction "batchmean", "sum" or "none" (per example).

    Computed in float32 so bf16 logits do not lose the small differences it measures. Gradients
    flow into both arguments; detach or compute a target under no_grad where it is fixed.
    """
    log_p = F.log_softmax(p_logits.float() / T, dim=1)
    log_q = F.log_softmax(q_logits.float() / T, dim=1)
    per_example = F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(1)
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum()
    if reduction == "batchmean":
        return per_example.mean()
    raise ValueError(f"reduction={reduction!r}; valid: batchmean, sum, none")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block with `model` in eval mode, then give every submodule back its own mode."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def require_eval(teacher: nn.Module) -> None:
    """Teachers are fixed functions: a teacher left in train mode is a bug upstream, not fixed here."""
    if teacher.training:
        raise ValueError("the teacher must be in eval mode: call teacher.eval() before training the student")


def targets(model: nn.Module, x: Tensor) -> Tensor:
    """Logits of `model` at x as a fixed target: no graph, so no gradient reaches `model` through them."""
    with torch.no_grad():
        return model(x)


def ascend(objective: Callable[[Tensor], Tensor], x: Tensor, hp: MethodHP, clamp_start: bool = True) -> Tensor:
    """The inner problem of TRADES, RSLAD, AdaAD and MMARD: hp.steps sign steps of size hp.step in
    the hp.eps-ball from x + init_std * N(0, 1) (their code's start; ``clamp_start`` False leaves that
    start outside [0, 1] where the noise puts it, as AdaAD's code does)."""
    return maximise(objective, x, hp.eps, hp.step, hp.steps, "gaussian", hp.init_std, clamp_start)


def natural(student: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """Natural training: CE(S(x), y); the table's no-defence anchor."""
    return F.cross_entropy(student(x), y)


def pgd_at(student: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """PGD-AT (Madry et al., 2018): min CE(S(x'), y), x' = PGD-steps on CE from a uniform start."""
    with eval_mode(student):
        x_adv = pgd(student, x, y, hp.eps, hp.step, hp.steps)
    return F.cross_entropy(student(x_adv), y)


def trades(student: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """TRADES (Zhang et al., 2019): CE(f(x), y) + beta * KL(f(x) || f(x')), where x' maximises
    KL(f(x) || f(x')) from x + init_std * N(0, 1). As in TRADES' code, the outer KL's gradient
    flows into both f(x) and f(x'). Trains the teachers (docs/papers/mmard.md)."""
    with eval_mode(student):
        nat = targets(student, x)
        x_adv = ascend(lambda xa: kl(nat, student(xa), reduction="sum"), x, hp)
    nat_logits = student(x)
    return F.cross_entropy(nat_logits, y) + hp.trades_beta * kl(nat_logits, student(x_adv))


def ard(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """ARD (Goldblum et al., 2020): alpha * T^2 * KL(T(x)/tau || S(x')/tau) + (1 - alpha) * CE(S(x), y),
    x' = PGD on the student's CE with true labels, tau = ard_temperature.

    At tau = 30 the softened distributions of small models are near uniform and tau^2 * KL tends
    to half the variance over classes of z_T(x) - z_S(x') (Hinton et al., 2015): ARD at the paper's
    tau is logit matching of S(x') to T(x) by squared error, not matching of probabilities.
    """
    require_eval(teacher)
    t_nat = targets(teacher, x)
    with eval_mode(student):
        x_adv = pgd(student, x, y, hp.eps, hp.step, hp.steps)
    tau = hp.ard_temperature
    distil = tau**2 * kl(t_nat, student(x_adv), T=tau)
    return hp.ard_alpha * distil + (1 - hp.ard_alpha) * F.cross_entropy(student(x), y)


def iad(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, hp: MethodHP, introspect: bool = True) -> Tensor:
    """IAD-I (Zhu et al., 2022; ZFancy/IAD, ``IAD-I.py``): ARD's x' (PGD on the student's CE with true
    labels) and teacher term, plus the student's own introspection weighted by how little the teacher
    can be trusted at x':

        tau^2 KL(T(x)/tau || S(x')/tau) + mean_i (1 - a_i) KL(S(x_i) || S(x'_i)),   a_i = P_T(y_i | x'_i)^beta

    a_i near 1 (the teacher still right at x'): trust it; near 0: the student leans on its own natural
    prediction. The introspection term starts after a warm-up (``introspect`` False: ARD's loss alone;
    the caller sets it from ``hp.iad_begin``, the code's 60 of 200 epochs). Its code's defaults: tau = 1,
    beta = 0.1, no CE term (alpha = 1). As in its code, a_i carries no gradient and the KL's gradient
    reaches both S(x) and S(x').
    """
    require_eval(teacher)
    t_nat = targets(teacher, x)
    with eval_mode(student):
        x_adv = pgd(student, x, y, hp.eps, hp.step, hp.steps)
    s_adv = student(x_adv)
    tau = hp.iad_temperature
    loss = tau**2 * kl(t_nat, s_adv, T=tau)
    if not introspect:
        return loss
    trust = targets(teacher, x_adv).float().softmax(1).gather(1, y[:, None]).squeeze(1).pow(hp.iad_beta)
    return loss + ((1 - trust) * kl(student(x), s_adv, reduction="none")).mean()


def kd(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """Clean knowledge distillation at ARD's temperature: tau^2 * KL(T(x)/tau || S(x)/tau), tau =
    ard_temperature, no inner maximisation and no labels. The student can only be robust through the
    teacher's soft labels: the path the control K1 tests (`repro.mmard.claims`)."""
    require_eval(teacher)
    tau = hp.ard_temperature
    return tau**2 * kl(targets(teacher, x), student(x), T=tau)


def rslad_inner(student: nn.Module, t_nat: Tensor, x: Tensor, hp: MethodHP) -> Tensor:
    """RSLAD's x': maximise KL(T(x) || S(x')) from x + init_std * N(0, 1) (the teacher sees only x)."""
    with eval_mode(student):
        return ascend(lambda xa: kl(t_nat, student(xa), reduction="sum"), x, hp)


def rslad_outer(s_nat: Tensor, s_adv: Tensor, t_nat: Tensor, hp: MethodHP) -> Tensor:
    """RSLAD's outer loss from logits: w * KL(T(x) || S(x')) + (1 - w) * KL(T(x) || S(x)), w = 5/6."""
    w = hp.rslad_adv_weight
    return w * kl(t_nat, s_adv) + (1 - w) * kl(t_nat, s_nat)


def rslad(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """RSLAD (Zhu et al., 2021): the teacher's soft labels on natural images replace y in both the
    inner and the outer problem (`rslad_inner`, `rslad_outer`). Labels are not used."""
    require_eval(teacher)
    t_nat = targets(teacher, x)
    x_adv = rslad_inner(student, t_nat, x, hp)
    return rslad_outer(student(x), student(x_adv), t_nat, hp)


def adaad(student: nn.Module, teacher: nn.Module, x: Tensor, y: Tensor, hp: MethodHP) -> Tensor:
    """AdaAD (Huang et al., 2023): x' maximises KL(T(x') || S(x')) from x + init_std * N(0, 1), the
    teacher seeing x' too; outer alpha * KL(T(x') || S(x')) + (1 - alpha) * KL(T(x) || S(x)).
    alpha = 1 (the public code's default) drops the natural term. Its start is not clamped into
    [0, 1] (boyellow/AdaAD, ``adaad_inner_loss``)."""
    require_eval(teacher)
    with eval_mode(student):
        x_adv = ascend(lambda xa: kl(teacher(xa), student(xa), reduction="sum"), x, hp, clamp_start=False)
    a = hp.adaad_alpha
    return a * kl(targets(teacher, x_adv), student(x_adv)) + (1 - a) * kl(targets(teacher, x), student(x))
