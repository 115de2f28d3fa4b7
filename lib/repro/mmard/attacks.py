"""L-inf attacks: the training-time inner maximisation and the evaluation suite.

Introduced in notebooks/mmard/04_evaluate.ipynb (the suite) and 03_train.ipynb (`maximise`).
Every attack takes images x in [0, 1] and returns a detached x_adv with ||x_adv - x||_inf <= eps
and x_adv in [0, 1] (exactly in float32; up to one rounding of x -/+ eps in lower precision).
Gradients are taken with `torch.autograd.grad` w.r.t. the input only, so no parameter's `.grad`
is touched, and the model's train/eval mode is left to the caller (evaluate in eval mode).

Evaluation suite (the paper's metrics, docs/papers/mmard.md): FGSM; PGD-20; CW-inf, i.e. PGD on the
Carlini-Wagner margin loss (torchattacks' `CW` is the unbounded L2 attack, a different thing); AutoAttack standard
through torchattacks. PGD-20 uses step eps/8 = 2.5 * eps / 20, Madry et al.'s rule that the steps
add up to 2.5 eps; the paper's CIFAR-10 step 0.003 at eps 8/255 is eps/10.5 (RSLAD's code), which
covers less than two eps in 20 steps.

Usage, with a model in eval mode and a test batch (x, y):

    x_adv = pgd(model, x, y, eps=0.1, step=0.1 / 8, steps=20)
    pgd20_accuracy = robust_correct(model, x, y, attack_suite(eps=0.1)["pgd20"]).float().mean()
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from repro.core.runtime import rng_devices

PGD_EVAL_STEPS = 20
PGD_EVAL_STEP_FRACTION = 1 / 8  # of eps: 20 steps of eps/8 add up to 2.5 eps
INITS = ("uniform", "gaussian", "none")

Attack = Callable[[nn.Module, Tensor, Tensor], Tensor]


def project(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Nearest point of the eps-ball around x inside the image box: clip(x_adv, x - eps, x + eps) then [0, 1]."""
    return torch.clamp(torch.minimum(torch.maximum(x_adv, x - eps), x + eps), 0.0, 1.0)


def maximise(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    eps: float,
    step: float,
    steps: int,
    init: str = "uniform",
    gaussian_std: float = 0.001,
    clamp_start: bool = True,
) -> Tensor:
    """Projected sign-gradient ascent of a scalar loss:
    x_{k+1} = Proj_{B_inf(x, eps) cap [0,1]}(x_k + step * sign(grad loss_fn(x_k))).

    `loss_fn` maps a batch to a scalar; sum it over the batch rather than average: the signs are
    the same, but a 1/N-shrunk gradient can round to zero in low precision. The start is
    x + U(-eps, eps) (Madry et al., 2018), x + gaussian_std * N(0, 1) (TRADES, RSLAD, AdaAD) or x,
    projected into the ball and the box unless ``clamp_start`` is False (AdaAD's code takes its first
    gradient at the unclamped Gaussian start; every later iterate is projected).
    """
    if init not in INITS:
        raise ValueError(f"init={init!r}; valid inits: {', '.join(INITS)}")
    x = x.detach()
    x_adv = x + _start_noise(x, eps, init, gaussian_std)
    if clamp_start:
        x_adv = project(x_adv, x, eps)
    # Callers evaluate under torch.no_grad(); the ascent needs input gradients regardless.
    with torch.enable_grad():
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(loss_fn(x_adv), x_adv)
            x_adv = project(x_adv.detach() + step * grad.sign(), x, eps)
    return x_adv.detach()


def _start_noise(x: Tensor, eps: float, init: str, gaussian_std: float) -> Tensor:
    if init == "uniform":
        return torch.empty_like(x).uniform_(-eps, eps)
    if init == "gaussian":
        return gaussian_std * torch.randn_like(x)
    return torch.zeros_like(x)


def cw_margin(logits: Tensor, y: Tensor) -> Tensor:
    """Per-example CW margin max_{j != y} z_j - z_y (Carlini & Wagner, 2017): positive iff misclassified."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return others.amax(1) - true


ATTACK_LOSSES = {
    "ce": lambda logits, y: F.cross_entropy(logits.float(), y, reduction="sum"),
    "cw": lambda logits, y: cw_margin(logits.float(), y).sum(),
}


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    step: float,
    steps: int,
    random_start: bool = True,
    loss: str = "ce",
) -> Tensor:
    """L-inf PGD (Madry et al., 2018) maximising cross-entropy ("ce") or the CW margin ("cw")."""
    if loss not in ATTACK_LOSSES:
        raise ValueError(f"loss={loss!r}; valid losses: {', '.join(ATTACK_LOSSES)}")
    objective = ATTACK_LOSSES[loss]
    init = "uniform" if random_start else "none"
    return maximise(lambda x_adv: objective(model(x_adv), y), x, eps, step, steps, init)


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """FGSM (Goodfellow et al., 2015): x + eps * sign(grad_x CE), clipped to [0, 1]."""
    return pgd(model, x, y, eps, step=eps, steps=1, random_start=False)


def cw_inf(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, step: float, steps: int, random_start: bool = True
) -> Tensor:
    """CW-inf: L-inf PGD on the CW margin loss max_{j != y} z_j - z_y (the paper's CW-inf row)."""
    return pgd(model, x, y, eps, step, steps, random_start, loss="cw")


def autoattack(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, seed: int, n_classes: int = 10, version: str = "standard"
) -> Tensor:
    """AutoAttack (Croce & Hein, 2020), L-inf, through torchattacks (which may differ from the
    official implementation). Its sub-attacks reseed torch's global RNG and backpropagate into the
    parameters: the caller's RNG state is restored afterwards (a later training or sampling step
    must not depend on whether AutoAttack ran) and the parameters are frozen while it runs."""
    import torchattacks  # optional extra `repro[attacks]`

    attack = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version=version, n_classes=n_classes, seed=seed)
    with torch.random.fork_rng(devices=rng_devices(x)), _parameters_frozen(model):
        x_adv = attack(x, y)
    # torchattacks' output can leave the ball by float rounding (2e-8 seen on digits); enforce the contract.
    return project(x_adv.to(x.dtype), x, eps).detach()


@contextmanager
def _parameters_frozen(model: nn.Module) -> Iterator[None]:
    # torchattacks calls loss.backward(), which would fill the parameters' .grad
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def attack_suite(eps: float, seed: int = 0) -> dict[str, Attack | None]:
    """The paper's evaluation rows by name; `None` means clean. Pass an entry to `robust_correct`."""
    pgd_step = eps * PGD_EVAL_STEP_FRACTION
    return {
        "clean": None,
        "fgsm": partial(fgsm, eps=eps),
        "pgd20": partial(pgd, eps=eps, step=pgd_step, steps=PGD_EVAL_STEPS),
        "cw_inf": partial(cw_inf, eps=eps, step=pgd_step, steps=PGD_EVAL_STEPS),
        "autoattack": partial(autoattack, eps=eps, seed=seed),
    }


def robust_correct(model: nn.Module, x: Tensor, y: Tensor, attack: Attack | None, batch_size: int = 256) -> Tensor:
    """Per-example correctness (N,) bool of `model` on attack(model, x, y), or on x when attack is None."""
    correct = []
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        xb = xb if attack is None else attack(model, xb, yb)
        with torch.no_grad():
            correct.append(model(xb).argmax(1) == yb)
    return torch.cat(correct)
