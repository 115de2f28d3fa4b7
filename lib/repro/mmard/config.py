"""MMARD's profiles. ``config("cpu")`` is what ``./run_all.sh`` runs; see the README for timings.

    >>> from repro import mmard
    >>> cfg = mmard.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

Miniature choices (documented here because the card leaves them open): sklearn digits scaled to
[0, 1]; eps = 0.1 in pixel units (digits' 16 grey levels are 0.0625 apart, so eps moves a pixel by
1.6 levels), training step eps/4 with 10 steps (the card's ratio); Adam with a cosine schedule for
every method alike; teachers trained once per size with TRADES (beta 6) and shared by all student
seeds, as a released robust teacher would be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from repro.core.config import ConfigError, RunConfig, make_config
from repro.mmard.method import METHODS, MethodHP

ALL_METHODS = tuple(METHODS)


@dataclass(frozen=True)
class MmardConfig(RunConfig):
    paper: ClassVar[str] = "mmard"

    # data
    data_source: str = "digits"  # digits | cifar10 (python batches from $REPRO_DATA_DIR)
    image_size: int = 8  # digits are 8x8; 16 upsamples them (gpu profile)
    test_fraction: float = 0.2  # 360 of 1797 digits
    train_limit: int = 0  # >0 keeps only this many training images (smoke)
    # methods and their shared hyperparameters (eps, step, steps live in hp: one source)
    hp: MethodHP = field(default_factory=MethodHP)
    teachers: tuple[str, ...] = ("small", "large")
    main_teacher: str = "large"  # every distillation method learns from it (the paper's WRN-34-10)
    teacher_swap_methods: tuple[str, ...] = ("rslad", "mmard")  # also distilled from the other teachers (claim C2)
    methods: tuple[str, ...] = ALL_METHODS
    teacher_epochs: int = 30
    student_epochs: int = 25
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    # evaluation
    eval_limit: int = 0  # >0 evaluates only the first n test images
    autoattack_methods: tuple[str, ...] = ("ard", "rslad", "mmard", "rslad_mmard")  # with the main teacher
    autoattack_subset: int = 200
    eps_sweep: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2)
    # control: distillation at eps = 0 (nothing adversarial for MMARD's mechanism to act on)
    control_methods: tuple[str, ...] = ("rslad", "mmard")


PROFILES = {
    # smoke: every code path once, in seconds; a higher lr so that even 12 steps learn something to look at
    "smoke": lambda: MmardConfig(
        profile="smoke",
        seeds=(0,),
        teacher_epochs=5,
        student_epochs=3,
        train_limit=512,
        lr=1e-2,
        eval_limit=64,
        autoattack_subset=8,
        eps_sweep=(0.05, 0.1),
    ),
    "cpu": lambda: MmardConfig(profile="cpu", seeds=(0, 1, 2)),
    "gpu": lambda: MmardConfig(
        profile="gpu",
        seeds=(0, 1, 2, 3, 4),
        device="auto",
        mixed_precision="bf16",
        image_size=16,
        teacher_epochs=40,
        student_epochs=40,
        batch_size=512,  # tiny models are launch-bound on a GPU: fewer, larger steps
        lr=5e-3,
        autoattack_subset=360,
    ),
    # The paper's setting needs CIFAR-10 (data_manifests/cifar10.yaml) and a GPU; the miniature's
    # CNNs stand in for ResNet-18 / WRN-34-10, so it is the data and protocol, not the models.
    "paper": lambda: MmardConfig(
        profile="paper",
        seeds=(0, 1, 2),
        device="auto",
        mixed_precision="bf16",
        data_source="cifar10",
        image_size=32,
        hp=MethodHP(eps=8 / 255, step=2 / 255, steps=10),
        teacher_epochs=100,
        student_epochs=300,
        batch_size=128,
        autoattack_subset=1000,
        eps_sweep=(2 / 255, 4 / 255, 8 / 255, 12 / 255),
    ),
}


def config(profile: str = "smoke", **overrides) -> MmardConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    cfg = make_config(PROFILES, profile, **overrides)
    for name in ("methods", "teacher_swap_methods", "autoattack_methods", "control_methods"):
        unknown = sorted(set(getattr(cfg, name)) - set(METHODS))
        if unknown:
            raise ConfigError(f"{name}: unknown methods {unknown}; valid: {', '.join(METHODS)}")
    if cfg.main_teacher not in cfg.teachers:
        raise ConfigError(f"main_teacher {cfg.main_teacher!r} is not among teachers {cfg.teachers}")
    return cfg
