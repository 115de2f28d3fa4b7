"""VideoPure's purifier: temporal DDIM inversion, the guided spatial-temporal step, multi-step voting.
Introduced in ``notebooks/videopure/03_train.ipynb``; equations in ``docs/papers/videopure.md``.

Clips are (B, T, 1, H, W) in [0, 1]; the per-frame DDPM works in [-1, 1]. ``K = inversion_steps``
DDIM steps on a grid of stride ``s`` (VideoPure's code: ``t = 5``, its loops run ``t + 1 = 6`` steps,
so ``K = 6`` reaches timestep ``(K - 1) s = 100``):

1. Temporal inversion (``temporal=True``): every inversion step predicts the noise of frame 0 only and
   uses it for all frames (diffusers' ``DDIMInverseScheduler``), so the frames share one noise
   trajectory; ``temporal=False`` is per-frame DDIM inversion.
2. K DDIM steps (eta = 0) back to 0, each frame by the UNet. When ``guided``, every step also makes a
   candidate by moving the latents once along the guidance loss with the step's noise prediction
   ``eps`` held fixed (no gradient through the UNet; VideoPure's ``latents_optimize_with_flow``):

       x0(z) = (z - sqrt(1 - a_t) eps) / sqrt(a_t)
       z'    = z + c_t * grad_z [ w_rec * D(x0(z), x_in) - w_tc * TC(x0(z)) ],  c_t = -4 log(var_t)

   with ``var_t`` the DDIM posterior variance of the step ``t -> t - s`` (clamped at 1e-20, so
   ``c_t`` grows from 15 at t = 100 to 184 at t = 0), ``D`` the mean squared distance to the input
   and ``TC`` the L1 warping residual between neighbouring frames (the warped frame a constant, as
   the code's warp runs without gradient). Since ``c_t > 0`` the step *ascends* the distance to the
   (adversarial) input and *descends* temporal inconsistency. The candidate is ``x0(z')``; the
   trajectory continues from the unmoved ``z``. After the last step the final latent is moved the
   same way (the last step's ``c``, ``a`` and ``eps``) and is the final candidate.
3. Voting (``vote=True``): the recogniser classifies every candidate (K steps' + the final: 7) and
   the majority wins (ties: the lowest class index, ``bincount().argmax()`` in the code).

Scale: the code averages the loss over a ModelScope latent clip (``reference_frame_elements`` per
frame, ``reference_frames`` frames); averaging over this miniature's far smaller clip would make every
element's step about 300x larger. :func:`guidance_terms` therefore sums over the clip and divides by
the reference counts, so each element moves as far per unit of error as in the code
(``reference_frame_elements=None``: the clip's own counts, the code's mean read literally).

Guidance rules (:data:`GUIDANCE`): ``official`` (above) and ``descent`` (the kit's earlier reading, a
named ablation: descend both terms with step ``sqrt(1 - a_t)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from repro.videopure.flow import estimate_shifts, shift_frames

GUIDANCE = ("official", "descent")
OFFICIAL_SCALE = -4.0  # the code's flow_s / flow_t (one optimisation step per denoising step)
MIN_VARIANCE = 1e-20  # the code's clamp before the log


@dataclass(frozen=True)
class Purifier:
    """A trained per-frame DDPM and the purification knobs every rung shares."""

    unet: nn.Module
    sched_config: dict
    ddim_steps: int
    inversion_steps: int
    diffpure_steps: int = 20
    guidance: str = "official"
    w_rec: float = 800.0
    w_tc: float = 5.0
    reference_frames: int | None = 32
    reference_frame_elements: int | None = 4 * 32 * 42
    max_shift: int = 2

    @property
    def stride(self) -> int:
        return self.sched_config["num_train_timesteps"] // self.ddim_steps

    @property
    def depth(self) -> int:
        """The timestep every rung purifies from: the last inverted timestep of the DDIM grid."""
        return (self.inversion_steps - 1) * self.stride

    def eps(self, z: torch.Tensor, t) -> torch.Tensor:
        """The UNet's noise prediction for clips (B, T, 1, H, W), frame by frame."""
        return self.unet(z.flatten(0, 1), t).sample.view_as(z)


@dataclass
class Purified:
    """``candidates`` (K, B, T, 1, H, W) in [0, 1]: one for a single-output rung, K+1 for a voting
    rung (what the recogniser classifies, and what the warping error is measured on); ``unet_frames``
    frames through the UNet."""

    candidates: torch.Tensor
    vote: bool
    unet_frames: int

    @property
    def output(self) -> torch.Tensor:
        """The rung's last candidate (the final sample; for figures)."""
        return self.candidates[-1]


def to_model(video: torch.Tensor) -> torch.Tensor:
    return video * 2 - 1


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).clamp(0, 1)


@torch.no_grad()
def ddim_invert(p: Purifier, x: torch.Tensor, temporal: bool) -> tuple[torch.Tensor, int]:
    """K DDIM inversion steps from clips ``x`` in [-1, 1]; returns the latents and UNet frames used."""
    from diffusers import DDIMInverseScheduler

    inverse = DDIMInverseScheduler.from_config(p.sched_config)
    inverse.set_timesteps(p.ddim_steps)
    z, frames = x, 0
    for t in inverse.timesteps[: p.inversion_steps]:
        if temporal:  # frame 0's noise prediction, shared by every frame
            eps = p.unet(z[:, 0], t).sample[:, None].expand_as(z)
            frames += len(z)
        else:
            eps = p.eps(z, t)
            frames += z.shape[0] * z.shape[1]
        z = inverse.step(eps, t, z).prev_sample
    return z, frames


def x0_prediction(z: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor) -> torch.Tensor:
    return (z - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()


def log_variance(abar_t: torch.Tensor, abar_prev: torch.Tensor) -> torch.Tensor:
    """The DDIM posterior variance of a step ``t -> prev`` (DDIM eq. 16 at eta = 1), clamped and logged
    as VideoPure's scheduler returns it: ``log max((1 - a_prev) / (1 - a_t) (1 - a_t / a_prev), 1e-20)``."""
    var = (1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)
    return var.clamp(min=MIN_VARIANCE).log()


def guidance_terms(x0: torch.Tensor, target: torch.Tensor, shifts: torch.Tensor, p: Purifier):
    """Per clip (B,): the distance to the input ``D`` and the temporal inconsistency ``TC`` (module
    docstring). ``TC`` sums over frame pairs the L1 residual between frame ``f`` and frame ``f + 1``
    warped back onto it, the warped frame detached (VideoPure's warp runs without gradient)."""
    frames, per_frame = x0.shape[1], x0[0, 0].numel()
    n_frames = p.reference_frames or frames
    n_elements = p.reference_frame_elements or per_frame
    distance = (x0 - target).pow(2).flatten(1).sum(1) / (n_frames * n_elements)
    back = shift_frames(x0[:, 1:], -shifts).detach()  # frame f+1 moved onto frame f
    inconsistency = (back - x0[:, :-1]).abs().flatten(1).sum(1) / n_elements
    return distance, inconsistency


def guide(
    p: Purifier, z: torch.Tensor, eps: torch.Tensor, abar_t, abar_prev, target, shifts, rule: str
) -> torch.Tensor:
    """The latents moved once along the guidance loss, ``eps`` fixed (module docstring, step 2)."""
    with torch.enable_grad():
        x0 = x0_prediction(z, eps, abar_t).detach().requires_grad_(True)
        distance, inconsistency = guidance_terms(x0, target, shifts, p)
        if rule == "official":
            loss, step = p.w_rec * distance - p.w_tc * inconsistency, OFFICIAL_SCALE * log_variance(abar_t, abar_prev)
        elif rule == "descent":
            loss, step = p.w_rec * distance + p.w_tc * inconsistency, -(1 - abar_t).sqrt()
        else:
            raise ValueError(f"unknown guidance {rule!r}; valid: {', '.join(GUIDANCE)}")
        (grad_x0,) = torch.autograd.grad(loss.sum(), x0)
    return z + step * grad_x0 / abar_t.sqrt()  # d x0 / d z = 1 / sqrt(a_t) with eps fixed


@torch.no_grad()
def ddim_purify(
    p: Purifier, video: torch.Tensor, generator=None, *, temporal: bool, guided: bool, vote: bool, guidance=None
) -> Purified:
    """Invert ``video`` (B, T, 1, H, W) in [0, 1] K steps, denoise K DDIM steps, and return the rung's
    candidates (module docstring). Deterministic: ``generator`` is accepted for a common signature."""
    from diffusers import DDIMScheduler

    rule = guidance or p.guidance
    x = to_model(video)
    shifts = estimate_shifts(video, p.max_shift) if guided else None
    z, frames = ddim_invert(p, x, temporal)
    scheduler = DDIMScheduler.from_config(p.sched_config)
    scheduler.set_timesteps(p.ddim_steps)
    abar = scheduler.alphas_cumprod
    candidates = []
    for t in scheduler.timesteps[-p.inversion_steps :]:
        eps = p.eps(z, t)
        frames += z.shape[0] * z.shape[1]
        a = abar[t].to(z)
        a_prev = (abar[t - p.stride] if t >= p.stride else scheduler.final_alpha_cumprod).to(z)
        if guided:
            candidates.append(x0_prediction(guide(p, z, eps, a, a_prev, x, shifts, rule), eps, a))
        z = scheduler.step(eps, t, z).prev_sample
    if guided:  # the code moves the final latent too, with the last step's a, var and eps
        z = guide(p, z, eps, a, a_prev, x, shifts, rule)
    if not vote:
        candidates = []
    stack = torch.stack([*map(to_pixels, candidates), to_pixels(z)])
    return Purified(stack, vote, frames)


def majority_vote(logits: torch.Tensor) -> torch.Tensor:
    """(K, B, C) logits -> (B,) the most frequent argmax over the K candidates (ties: lowest class)."""
    votes = F.one_hot(logits.argmax(-1), logits.shape[-1]).sum(0)
    return votes.argmax(-1)


@torch.no_grad()
def predict(recogniser: nn.Module, purified: Purified) -> torch.Tensor:
    """The rung's decision per clip: the vote over candidates, or the single output's argmax."""
    k, b = purified.candidates.shape[:2]
    logits = recogniser(purified.candidates.flatten(0, 1)).view(k, b, -1)
    return majority_vote(logits) if purified.vote else logits[0].argmax(-1)


LADDER = {
    "ddim_inversion": {"temporal": False, "guided": False, "vote": False},
    "temporal_inversion": {"temporal": True, "guided": False, "vote": False},
    "guided": {"temporal": True, "guided": True, "vote": False},
    "videopure": {"temporal": True, "guided": True, "vote": True},
    # the mechanism comparisons: VideoPure with per-frame inversion (C3a/b), and with the kit's
    # earlier descent as its guided step (an ablation row)
    "videopure_per_frame": {"temporal": False, "guided": True, "vote": True},
    "videopure_descent": {"temporal": True, "guided": True, "vote": True, "guidance": "descent"},
}


def videopure(p: Purifier, video: torch.Tensor, generator=None) -> Purified:
    """Full VideoPure: temporal inversion, guided step, multi-step voting."""
    return ddim_purify(p, video, **LADDER["videopure"], generator=generator)
