"""LingoLoop's losses, the attack loop every gradient attack shares, and the registry of attacks.
Introduced in ``notebooks/lingoloop/03_train.ipynb``.

Notation: the target ``y_1..y_T`` is the victim's own greedy output on the current adversarial
image (regenerated every ``regen_every`` steps), ``p_EOS,i`` the probability of EOS as token ``i``
under teacher forcing, ``h^l_i`` the decoder's hidden state at layer ``l`` that predicts token ``i``,
and ``m_i`` masks the positions up to and including the target's EOS.

* POS-weighted EOS loss (paper, re-implementation's form):
  ``L_LPS = sum_i w(POS(y_{i-1})) p_EOS,i m_i / sum_i w(POS(y_{i-1})) m_i``, with
  ``w(POS) = P(EOS | POS) / sum_POS P(EOS | POS)`` from clean captions (the first token's
  predecessor is BOS). ``weighting="uniform"`` sets every w to 1 (the paper's "uniform EOS" ablation).
* The abstract's "adjusting attention weights guided by POS" has no public formula. Our option
  ``lps_mode="attention"`` (reconstruction) keeps the uniform EOS loss and adds
  ``sum_i w(POS(y_{i-1})) a_{i,i-1} m_i / sum_i w m_i``, where ``a_{i,i-1}`` is the last layer's
  attention (mean over heads) from position i to the EOS-prone token before it: the image is pushed
  to make the decoder look away from the tokens after which it tends to stop. The numbers in the
  claims use ``lps_mode="loss"``.
* Generative path pruning: ``L_Rep = mean over layers and valid positions of ||h^l_i||_2``.
* Total: ``s * L_LPS + lambda_rep * lambda_t * L_Rep`` with ``s = 1e5`` and
  ``lambda_t = EMA_0.9 |s' * L_LPS / L_Rep / (10 ln(t+1) - 20)|`` (t counts steps from 1, per image).
  The card's formula takes ``s' = 1`` (the re-implementation) while the loss uses ``s = 1e5``, which
  leaves the Rep term at ~1e-5 of the LPS term. ``lambda_scaling="consistent"`` (our default) takes
  ``s' = s``, so the Rep term is ``|L_LPS| / |10 ln(t+1) - 20|`` of the LPS term's size, the balance
  the formula is meant to give; ``"reimpl"`` keeps ``s' = 1``. Only the ratio matters: the step uses
  the normalised gradient's sign.
* Optimiser (paper): PGD on the image in the L_inf ball, momentum 0.9 on L1-normalised gradients
  (MI-FGSM: ``g <- mu g + grad / mean|grad|``, ``x <- x - alpha sign(g)``). Verbose Images and the
  NICGSlowDown-style EOS baseline use plain sign steps, as in their papers.

Every attack is run on a batch of images with one forward/backward per step for the whole batch;
each image's loss, ``lambda_t`` and momentum are its own, so the batch equals attacking the images
one by one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from repro.core.train import Budget


@dataclass(frozen=True)
class AttackHP:
    """What every attack shares (card: eps 8/255, step 1/255, 300 steps, target every 10 steps,
    repetition penalty 1.05 in generation, 128 new tokens in the miniature)."""

    eps: float = 8 / 255
    step_size: float = 1 / 255
    steps: int = 300
    regen_every: int = 10
    momentum: float = 0.9
    max_new_tokens: int = 128
    repetition_penalty: float = 1.05
    lps_scale: float = 1e5
    ema: float = 0.9


@dataclass(frozen=True)
class AttackSpec:
    """One attack as data. ``loss``: "lingoloop" (EOS term, optional Rep term), "eos" (mean p_EOS,
    NICGSlowDown-style), "verbose" (Verbose Images), "noise" (random sign noise, no gradient)."""

    loss: str = "lingoloop"
    weighting: str = "pos"  # pos | uniform
    lps_mode: str = "loss"  # loss | attention
    lambda_rep: float = 1.0  # 0 = LPS only
    lambda_scaling: str = "consistent"  # consistent | reimpl
    optimizer: str = "momentum"  # momentum | sign


METHODS: dict[str, AttackSpec] = {
    "random_noise": AttackSpec(loss="noise", optimizer="none"),
    "eos_only": AttackSpec(loss="eos", optimizer="sign"),
    "verbose_images": AttackSpec(loss="verbose", optimizer="sign"),
    "uniform_eos": AttackSpec(weighting="uniform", lambda_rep=0.0),
    "lps_only": AttackSpec(lambda_rep=0.0),
    "lingoloop": AttackSpec(),
    "lingoloop_reimpl": AttackSpec(lambda_scaling="reimpl"),
    "lingoloop_attention": AttackSpec(lps_mode="attention"),
}


def sweep_arm(lambda_rep: float) -> str:
    return f"lingoloop@lam{lambda_rep:g}"


def spec_of(arm: str) -> AttackSpec:
    """The spec of a registered method or of a lambda_rep sweep arm ``lingoloop@lam<value>``."""
    if arm in METHODS:
        return METHODS[arm]
    if arm.startswith("lingoloop@lam"):
        return AttackSpec(lambda_rep=float(arm.removeprefix("lingoloop@lam")))
    raise KeyError(f"unknown attack {arm!r}; valid: {', '.join(METHODS)} or lingoloop@lam<value>")


# ----------------------------------------------------------------------------------------------
# losses (per image: shape (B,))


def target_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T) float mask of the positions up to and including each target's EOS (or the cap)."""
    return (torch.arange(T, device=lengths.device)[None] < lengths[:, None]).float()


def previous_weights(targets: torch.Tensor, token_weight: torch.Tensor, bos_weight: float = 0.0) -> torch.Tensor:
    """w(POS(y_{i-1})) per position (B, T); the first position's predecessor is BOS."""
    prev = token_weight.to(targets.device)[targets[:, :-1]]
    return torch.cat([torch.full_like(prev[:, :1], bos_weight), prev], dim=1)


def weighted_eos_loss(p_eos: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum w p m / sum w m`` per image (a uniform weight gives the mean p_EOS)."""
    wm = weights * mask
    return (wm * p_eos).sum(1) / wm.sum(1).clamp_min(1e-12)


def attention_reweight_loss(attn: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum_i w(POS(y_{i-1})) a_{i,i-1} m_i / sum w m``: attention to the EOS-prone predecessor."""
    to_previous = torch.diagonal(attn.mean(1), offset=-1, dim1=-2, dim2=-1)  # (B, T-1): a_{i,i-1}, i >= 1
    w, m = weights[:, 1:], mask[:, 1:]
    return (w * m * to_previous).sum(1) / (w * m).sum(1).clamp_min(1e-12)


def hidden_norm_loss(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``L_Rep``: mean over layers and valid positions of ||h||_2 (hidden: (layers, B, T, d))."""
    norms = hidden.float().norm(dim=-1).mean(0)  # (B, T)
    return (norms * mask).sum(1) / mask.sum(1).clamp_min(1)


def lambda_schedule(t: int) -> float:
    """The denominator 10 ln(t+1) - 20 of lambda_t (card; Verbose Images' tau_1)."""
    return 10 * math.log(t + 1) - 20


def lambda_t(l_lps: torch.Tensor, l_rep: torch.Tensor, t: int, scale: float, scaling: str) -> torch.Tensor:
    """``|s' L_LPS / L_Rep / (10 ln(t+1) - 20)|`` per image, detached (a weight, not a loss term)."""
    if scaling not in ("consistent", "reimpl"):
        raise ValueError(f"lambda_scaling must be 'consistent' or 'reimpl', not {scaling!r}")
    s = scale if scaling == "consistent" else 1.0
    return (s * l_lps / l_rep / lambda_schedule(t)).abs().detach()


class Ema:
    """Exponential moving average of per-image weights (first value taken as is)."""

    def __init__(self, decay: float):
        self.decay, self.value = decay, None

    def __call__(self, new: torch.Tensor) -> torch.Tensor:
        self.value = new if self.value is None else self.decay * self.value + (1 - self.decay) * new
        return self.value


# ----------------------------------------------------------------------------------------------
# the attack loop


@dataclass
class AttackResult:
    """Adversarial images, generated lengths after each regeneration (``checkpoints`` steps; the last
    is the final image), the mean loss per step, and the budget."""

    images: torch.Tensor
    checkpoints: list[int]
    lengths: torch.Tensor  # (n_checkpoints, B)
    losses: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)


def check_images(images: torch.Tensor) -> None:
    """The attack's input contract: float (B, 3, H, W) in [0, 1] (not normalised, not uint8)."""
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a (B, 3, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    if not images.is_floating_point() or images.min() < 0 or images.max() > 1:
        raise ValueError("images must be floats in [0, 1] (the attack's eps is in pixel units of that range)")


def attack(
    vlm,
    images: torch.Tensor,
    spec: AttackSpec,
    hp: AttackHP,
    token_weight: torch.Tensor | None = None,
    seed: int = 0,
) -> AttackResult:
    """Attack ``images`` (B, 3, H, W) in [0, 1] against ``vlm`` (:class:`repro.lingoloop.vlm.VLM`).

    Steps ``t = 1..steps``; before steps 1, 11, 21, ... the target is regenerated from the current
    image and its lengths are recorded (tokens vs step: the below-saturation comparison), and once
    more after the last step.
    """
    from repro.lingoloop.baselines import LOSSES, random_noise

    check_images(images)
    started = time.perf_counter()
    x0 = images.detach()
    budget = Budget(forward_samples={"teacher_forced": 0, "generate": 0})
    checkpoints, lengths = [], []

    def regenerate(x: torch.Tensor, step: int) -> torch.Tensor:
        targets = vlm.generate(x, hp.max_new_tokens, hp.repetition_penalty)
        checkpoints.append(step)
        lengths.append(vlm.lengths(targets).cpu())
        budget.forward_samples["generate"] += len(x)
        return targets

    if spec.loss == "noise":  # one image for the whole run: one generation, the same length at every checkpoint
        adv = random_noise(x0, hp.eps, seed)
        final = regenerate(adv, hp.steps)
        steps = [*range(0, hp.steps, hp.regen_every), hp.steps]
        budget.wall_s = time.perf_counter() - started
        return AttackResult(adv, steps, vlm.lengths(final).cpu().expand(len(steps), -1).clone(), budget=budget)

    loss_fn = LOSSES[spec.loss]
    delta = torch.zeros_like(x0, requires_grad=True)
    momentum = torch.zeros_like(x0)
    state: dict = {}
    losses, parts = [], {}
    for t in range(1, hp.steps + 1):
        if (t - 1) % hp.regen_every == 0:
            targets = regenerate((x0 + delta).detach(), t - 1)
            target_len = vlm.lengths(targets)
        loss, terms = loss_fn(vlm, x0 + delta, targets, target_len, spec, hp, t, state, token_weight)
        (grad,) = torch.autograd.grad(loss.sum(), delta)
        budget.forward_samples["teacher_forced"] += len(x0)
        budget.optimizer_steps += 1
        with torch.no_grad():
            if spec.optimizer == "momentum":
                norm = grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
                momentum = hp.momentum * momentum + grad / norm
                direction = momentum.sign()
            else:
                direction = grad.sign()
            delta -= hp.step_size * direction  # every loss here is minimised
            delta.clamp_(-hp.eps, hp.eps)
            delta.copy_((x0 + delta).clamp(0, 1) - x0)
        losses.append(float(loss.detach().mean()))
        for name, value in terms.items():
            parts.setdefault(name, []).append(float(value.mean()))
    adv = (x0 + delta).detach()
    regenerate(adv, hp.steps)
    budget.wall_s = time.perf_counter() - started
    return AttackResult(adv, checkpoints, torch.stack(lengths), losses, parts, budget)


def lingoloop_loss(vlm, x, targets, target_len, spec: AttackSpec, hp: AttackHP, t, state, token_weight):
    """``s L_LPS + lambda_rep lambda_t L_Rep`` per image, and its parts (see the module docstring)."""
    T = targets.shape[1]
    mask = target_mask(target_len, T)
    out = vlm.teacher_forced(x, targets, attentions=spec.lps_mode == "attention")
    p_eos = vlm.eos_probability(out.logits)
    if spec.weighting == "pos":
        if token_weight is None:
            raise ValueError("POS weighting needs token_weight (the POS -> P(EOS) table per token id)")
        weights = previous_weights(targets, token_weight)
    elif spec.weighting == "uniform":
        weights = torch.ones_like(p_eos)
    else:
        raise ValueError(f"weighting must be 'pos' or 'uniform', not {spec.weighting!r}")
    if spec.lps_mode == "attention":
        l_lps = weighted_eos_loss(p_eos, torch.ones_like(p_eos), mask) + attention_reweight_loss(
            out.attentions, weights, mask
        )
    else:
        l_lps = weighted_eos_loss(p_eos, weights, mask)
    l_rep = hidden_norm_loss(out.hidden, mask)
    terms = {"lps": l_lps.detach(), "rep": l_rep.detach()}
    total = hp.lps_scale * l_lps
    if spec.lambda_rep > 0:
        ema = state.setdefault("lambda", Ema(hp.ema))
        lam = ema(lambda_t(l_lps, l_rep, t, hp.lps_scale, spec.lambda_scaling))
        total = total + spec.lambda_rep * lam * l_rep
        terms["lambda_t"] = lam
        terms["rep_share"] = (spec.lambda_rep * lam * l_rep / total).detach()
    return total, terms
