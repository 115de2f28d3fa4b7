"""What each arm trains: the task mix, the inversion share p, the reward kind and the data set.

An arm is ``repro.core.arms.Arm(method, condition)``. Methods (the paper's comparisons):

* ``sft``: the format warm-up alone (every GRPO arm starts from it, per seed).
* ``tvg_iou``: GRPO on TVG only with the IoU reward (the paper's TVG-only row, p = 0).
* ``tvg_iouv2``: GRPO on TVG only with Time-R1's iou_v2 reward (the paper's Time-R1 row).
* ``invert4tvg``: TVG plus all three inversion tasks (Verb Completion, Action Recognition, Video
  Description), TVG with probability 1 - p, else one inversion task uniformly.
* ``vc_only`` / ``ar_only`` / ``vd_only``: TVG plus one inversion task at the same p.

Conditions: none (p = 0.2, binary inversion rewards, verb-contrast data), ``p0.5`` / ``p0.8`` (the
inversion share), ``cosine`` (cosine-similarity inversion rewards), ``objects`` (the control data set
whose distractors differ by object, not verb).
"""

from __future__ import annotations

from dataclasses import dataclass

from repro.core.arms import Arm
from repro.core.config import ConfigError

TASKS = ("tvg", "vc", "ar", "vd")
INVERSION = ("vc", "ar", "vd")

METHODS: dict[str, tuple[str, ...]] = {
    "sft": (),
    "tvg_iou": ("tvg",),
    "tvg_iouv2": ("tvg",),
    "invert4tvg": ("tvg", *INVERSION),
    "vc_only": ("tvg", "vc"),
    "ar_only": ("tvg", "ar"),
    "vd_only": ("tvg", "vd"),
}
CONDITIONS = ("p0.5", "p0.8", "cosine", "objects")
CONDITION_P = {"p0.5": 0.5, "p0.8": 0.8}


@dataclass(frozen=True)
class Plan:
    """One arm as the training loop reads it."""

    arm: Arm
    tasks: tuple[str, ...]  # empty: no GRPO (the warm-up alone)
    p_inversion: float
    tvg_reward: str  # "iou" | "iou_v2"
    inversion_reward: str  # "binary" | "cosine"
    contrast: str  # the data set: "verb" (main) | "object" (control)

    @property
    def grpo(self) -> bool:
        return bool(self.tasks)


ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        *(Arm(m) for m in METHODS),
        *(Arm("invert4tvg", c) for c in CONDITIONS),
        Arm("tvg_iou", "objects"),
        Arm("sft", "objects"),
    )
}


def parse_arm(name: str) -> Arm:
    """The registered arm of this name (a table lookup, never string surgery)."""
    if name not in ARMS:
        raise ConfigError(f"unknown arm {name!r}; valid arms: {', '.join(ARMS)}")
    return ARMS[name]


def plan(arm: Arm, p_inversion: float) -> Plan:
    """The training plan of ``arm``; ``p_inversion`` is the profile's default share (the paper's 0.2)."""
    tasks = METHODS[arm.method]
    has_inversion = len(tasks) > 1
    return Plan(
        arm=arm,
        tasks=tasks,
        p_inversion=CONDITION_P.get(arm.condition, p_inversion) if has_inversion else 0.0,
        tvg_reward="iou_v2" if arm.method == "tvg_iouv2" else "iou",
        inversion_reward="cosine" if arm.condition == "cosine" else "binary",
        contrast="object" if arm.condition == "objects" else "verb",
    )
