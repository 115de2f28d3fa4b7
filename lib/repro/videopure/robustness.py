"""The run matrix of one evaluation block: every attack, then every ladder rung's purification and
decision, with the per-clip outcomes and a ledger per rung. Introduced in ``03_train.ipynb``.

The matrix is trimmed where no claim needs it (DESIGN: trim the run matrix, not the claims): the
adaptive attack runs only for ``bpda_rungs`` at ``bpda_eps``, the transfer attack only at
``transfer_eps``; gray-box PGD runs at every eps (it does not depend on the rung, so it is made once
and purified by every rung). EOT draws are spent only on stochastic rungs (DiffPure): for a
deterministic purifier every draw is the same clip.

Per clip and arm: the decision, the warping error (x1000) averaged over the candidates the rung
classifies (the 7 voted candidates of VideoPure, the single output of the other rungs), the UNet
frame passes of one purification (the cost that does not depend on the machine's load) and the wall
time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import nn

from repro.core.arms import Arm
from repro.videopure.attacks import bpda_eot, pgd
from repro.videopure.baselines import diffpure, rung
from repro.videopure.evaluate import condition
from repro.videopure.flow import true_shifts, warping_error
from repro.videopure.method import Purified, Purifier, predict

STOCHASTIC = ("diffpure", "ddim")


@dataclass
class Ledger:
    """What a rung cost in one block: purifications, UNet frame passes (forward-equivalents, attacks
    included), recogniser gradient evaluations (clips) and wall time."""

    purifications: int = 0
    unet_frames: int = 0
    recogniser_gradients: int = 0
    wall_s: float = 0.0

    def add(self, other: Ledger) -> None:
        for name in ("purifications", "unet_frames", "recogniser_gradients", "wall_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict:
        """The kit's ledger form (no rung trains anything: optimizer steps are 0)."""
        forwards = {"purifications": self.purifications, "unet_frames": self.unet_frames}
        forwards["recogniser_gradients"] = self.recogniser_gradients
        return {"optimizer_steps": 0, "forward_samples": forwards, "wall_s": round(self.wall_s, 2)}


@dataclass
class Outcome:
    """Per arm name: predictions, warping error (x1000), UNet frame passes and time per clip (ms), each (n_eval,)."""

    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    warping: dict[str, np.ndarray] = field(default_factory=dict)
    unet_passes: dict[str, np.ndarray] = field(default_factory=dict)
    time_ms: dict[str, np.ndarray] = field(default_factory=dict)
    ledger: dict[str, Ledger] = field(default_factory=dict)
    examples: dict[str, np.ndarray] = field(default_factory=dict)


def _record(out: Outcome, arm: Arm, purified: Purified, seconds: float, recogniser: nn.Module, shifts) -> None:
    out.predictions[arm.name] = predict(recogniser, purified).numpy()
    k, b = purified.candidates.shape[:2]
    per_candidate = warping_error(purified.candidates.flatten(0, 1), shifts.repeat(k, 1, 1)).view(k, b)
    out.warping[arm.name] = 1000 * per_candidate.mean(0).numpy()
    out.unet_passes[arm.name] = np.full(b, purified.unet_frames / b)
    out.time_ms[arm.name] = np.full(b, 1000 * seconds / b)
    spent = out.ledger.setdefault(arm.method, Ledger())
    spent.add(Ledger(1, purified.unet_frames, 0, seconds))


def purify_timed(fn, p: Purifier, video: torch.Tensor, seed: int) -> tuple[Purified, float]:
    started = time.perf_counter()
    purified = fn(p, video, torch.Generator().manual_seed(seed))
    return purified, time.perf_counter() - started


def run_block(
    p: Purifier,
    recogniser: nn.Module,
    surrogate: nn.Module,
    video: torch.Tensor,
    label: torch.Tensor,
    dx: torch.Tensor,
    *,
    rungs: tuple[str, ...],
    eps: tuple[float, ...],
    bpda_rungs: tuple[str, ...],
    bpda_eps: tuple[float, ...],
    transfer_eps: tuple[float, ...],
    step_size: float,
    attack_steps: int,
    eot_samples: int,
    time_full_diffpure: bool,
    seed: int,
) -> Outcome:
    """Attacks and purifications of one block of clips (module docstring)."""
    out = Outcome()
    shifts = true_shifts(dx, video.shape[1])
    attack = partial(pgd, step=step_size, steps=attack_steps, seed=seed)
    inputs = {"clean": video}
    for e in eps:
        inputs[condition("pgd", e)] = attack(recogniser, video, label, eps=e)
    for e in transfer_eps:
        inputs[condition("transfer", e)] = attack(surrogate, video, label, eps=e)
    for cond, clips in inputs.items():
        for name in rungs:
            purified, seconds = purify_timed(rung(name), p, clips, seed)
            _record(out, Arm(name, cond), purified, seconds, recogniser, shifts)
            if cond == "clean" or cond == condition("pgd", max(eps)):
                out.examples[f"out_{cond}_{name}"] = purified.output[:4].numpy()
    for e in bpda_eps:
        for name in bpda_rungs:
            started = time.perf_counter()
            purify = partial(rung(name), p)
            draws = eot_samples if name in STOCHASTIC else 1
            adv, spent = bpda_eot(purify, recogniser, video, label, e, step_size, attack_steps, draws, seed)
            attack_s = time.perf_counter() - started
            arm = Arm(name, condition("bpda", e))
            purified, seconds = purify_timed(rung(name), p, adv, seed + 1)
            _record(out, arm, purified, seconds, recogniser, shifts)
            cost = Ledger(spent, spent * purified.unet_frames, spent * len(video), attack_s)
            out.ledger[name].add(cost)
            out.examples[f"input_{arm.condition}_{name}"] = adv[:4].numpy()
            out.examples[f"out_{arm.condition}_{name}"] = purified.output[:4].numpy()
            if name == "videopure":
                out.examples[f"votes_{arm.condition}"] = _votes(recogniser, purified)
    if time_full_diffpure:
        purified, seconds = purify_timed(partial(diffpure, steps=p.depth + 1), p, video, seed)
        _record(out, Arm("diffpure_full", "clean"), purified, seconds, recogniser, shifts)
    for cond, clips in inputs.items():
        out.examples[f"input_{cond}"] = clips[:4].numpy()
    return out


@torch.no_grad()
def _votes(recogniser: nn.Module, purified: Purified) -> np.ndarray:
    """Each candidate's class for every clip: (K, B)."""
    k, b = purified.candidates.shape[:2]
    return recogniser(purified.candidates.flatten(0, 1)).view(k, b, -1).argmax(-1).numpy()
