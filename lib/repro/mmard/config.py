"""MMARD's configuration: typed, frozen, one nested spec per network. ``config("cpu")`` is what
``./run_all.sh`` runs; the profiles and their measured budgets are in ``docs/papers/mmard.md``.

    >>> from repro import mmard
    >>> cfg = mmard.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

Miniature choices (the paper leaves them open; ``docs/papers/mmard.md`` says why): sklearn digits
scaled to [0, 1]; eps = 0.1 in pixel units (digits' 16 grey levels are 0.0625 apart, so eps moves a
pixel by 1.6 levels), training step eps/4 with 10 steps (the paper's ratio); Adam with a cosine
schedule for every method alike.

This module imports no torch code: networks are built from the specs by :mod:`repro.mmard.models`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from repro.core.config import ConfigError, RunConfig, make_config, one_of

# The training methods (their losses are registered in repro.mmard.method.METHODS, in this order).
METHOD_NAMES = ("natural", "pgd_at", "trades", "ard", "iad", "kd", "rslad", "adaad", "mmard", "rslad_mmard")
TEACHER_METHODS = frozenset({"ard", "iad", "kd", "rslad", "adaad", "mmard", "rslad_mmard"})
NET_KINDS = ("cnn", "mlp")


@dataclass(frozen=True)
class MethodHP:
    """Hyperparameters of every method, with the paper's values where it gives them.

    eps 0.1 and step eps/4 are the digits miniature's (the paper: eps 8/255, step 2/255 = eps/4,
    10 steps on CIFAR-10). `init_std` is the Gaussian start of TRADES, RSLAD and AdaAD (their code);
    PGD-AT and ARD start uniformly in the ball (Madry; ARD's code). The `mmard_*` and `plug_weight`
    fields belong to the reconstruction in `repro.mmard.method`, documented there.
    """

    eps: float = 0.1
    step: float = 0.025
    steps: int = 10
    init_std: float = 0.001
    trades_beta: float = 6.0  # TRADES (Zhang et al., 2019); the paper
    ard_temperature: float = 30.0  # ARD (Goldblum et al., 2020); ARD's paper and code defaults
    ard_alpha: float = 1.0
    iad_temperature: float = 1.0  # IAD (Zhu et al., 2022): ZFancy/IAD IAD-I.py defaults (--temp, --beta)
    iad_beta: float = 0.1
    iad_begin: float = 0.3  # introspection starts after this fraction of the epochs (its code: 60 of 200)
    rslad_adv_weight: float = 5 / 6  # RSLAD (Zhu et al., 2021): 5/6 adversarial, 1/6 natural
    adaad_alpha: float = 1.0  # AdaAD (Huang et al., 2023): default of --AdaAD_alpha in boyellow/AdaAD
    mmard_gamma: float = 1.0
    mmard_tie_weight: float = 1.0
    mmard_student_first: bool = False
    plug_weight: float = 1.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool) and value < 0:
                raise ConfigError(f"MethodHP.{f.name} must be >= 0, got {value}")
        for name in ("ard_alpha", "rslad_adv_weight", "adaad_alpha", "iad_begin"):
            if getattr(self, name) > 1:
                raise ConfigError(
                    f"MethodHP.{name} must be in [0, 1] (a weight or a fraction), got {getattr(self, name)}"
                )
        for name in ("ard_temperature", "iad_temperature"):
            if getattr(self, name) == 0:
                raise ConfigError(f"MethodHP.{name} must be > 0")


@dataclass(frozen=True)
class NetSpec:
    """A network's architecture as data: ``kind`` "cnn" or "mlp"; ``depth`` conv layers (CNN) or
    hidden layers (MLP) of ``width`` channels or units. The input size comes from the data."""

    kind: str
    width: int
    depth: int

    def __post_init__(self):
        if self.kind not in NET_KINDS:
            raise ConfigError(f"NetSpec.kind={self.kind!r}; valid kinds: {', '.join(NET_KINDS)}")
        for name in ("width", "depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"NetSpec.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class TeacherSpec:
    """A teacher: its name (the condition of the arms distilled from it), its network, and the
    method it is trained with (TRADES for the robust teachers)."""

    name: str
    net: NetSpec
    method: str = "trades"


# Two robust teachers of different capacity (4x narrower, ~10x fewer parameters: the earlier pair,
# 16 vs 32 channels, reached almost the same PGD-20 accuracy, 86.4 vs 88.9, so swapping them tested
# little), and the control's naturally trained teacher of the large architecture.
TEACHERS_DEFAULT = (
    TeacherSpec("small", NetSpec("cnn", 8, 3)),
    TeacherSpec("large", NetSpec("cnn", 32, 3)),
    TeacherSpec("natural", NetSpec("cnn", 32, 3), method="natural"),
)


@dataclass(frozen=True)
class MmardConfig(RunConfig):
    paper: ClassVar[str] = "mmard"

    # data
    data_source: str = "digits"  # digits | cifar10 (python batches from $REPRO_DATA_DIR)
    image_size: int = 8  # digits are 8x8; 16 upsamples them (gpu profile)
    test_fraction: float = 0.2  # 360 of 1797 digits
    valid_fraction: float = 0.1  # of the training images (144 digits): the gates are measured there
    train_limit: int = 0  # >0 keeps only this many training images (smoke)
    # networks
    student: NetSpec = NetSpec("cnn", 8, 2)
    teachers: tuple[TeacherSpec, ...] = TEACHERS_DEFAULT
    main_teacher: str = "large"  # every distillation method learns from it (the paper's WRN-34-10)
    # methods and their shared hyperparameters (eps, step, steps live in hp: one source)
    hp: MethodHP = field(default_factory=MethodHP)
    # also distilled from every swap teacher (C2)
    teacher_swap_methods: tuple[str, ...] = one_of(METHOD_NAMES, ("rslad", "mmard"))
    swap_teachers: tuple[str, ...] = ("small", "large")
    methods: tuple[str, ...] = one_of(METHOD_NAMES, METHOD_NAMES)
    # sized to the cpu budget (10 minutes on 2 quiet cores): 30 teacher and 25 student epochs took 877 s
    # (teachers 191 s, students 518 s, evaluation 150 s), 20 and 15 took 613 s (121, 338, 136)
    teacher_epochs: int = 20
    student_epochs: int = 12
    # methods that learn from the teacher's logits at T = 30 move slowly (ARD reached 81 clean at 12
    # epochs, seed sd 6, against ~89 for the rest): trained to convergence on clean validation accuracy
    slow_methods: tuple[str, ...] = one_of(METHOD_NAMES, ("ard", "kd"))
    slow_epochs: int = 40
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    # evaluation
    eval_limit: int = 0  # >0 evaluates only the first n test images
    # AutoAttack on every method (with the main teacher) and every swap-teacher arm: C2 and the robustness
    # ranking are decided on it (PGD-20 flatters students trained on soft targets); not on the control arms
    autoattack_methods: tuple[str, ...] = one_of(METHOD_NAMES, METHOD_NAMES)
    # 12 arms x 60 images: the same AutoAttack work per seed as the earlier 6 arms x 120 (estimated
    # CPU time of the cpu profile at 120: 775 s, over its 600-s budget; docs/papers/mmard.md, Budget)
    autoattack_subset: int = 60
    eps_sweep: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2)
    # control (K1): distillation from the naturally trained teacher (robustness must come from the teacher):
    # clean KD, the path that can carry it, and RSLAD, whose soft labels at T = 1 did not (table row)
    control_methods: tuple[str, ...] = one_of(METHOD_NAMES, ("kd", "rslad"))
    control_teacher: str = "natural"

    def __post_init__(self):
        super().__post_init__()  # seeds, counts, sizes, lr, method names (repro.core.config.check_values)
        names = [t.name for t in self.teachers]
        if len(set(names)) != len(names):
            raise ConfigError(f"teachers: names must be unique, got {names}")
        for name in (self.main_teacher, self.control_teacher, *self.swap_teachers):
            if name not in names:
                raise ConfigError(f"teacher {name!r} (main, control or swap) is not among teachers {names}")

    def teacher(self, name: str) -> TeacherSpec:
        return next(t for t in self.teachers if t.name == name)

    def epochs_of(self, method: str) -> int:
        """A student's epochs: ``slow_epochs`` for the ``slow_methods``, ``student_epochs`` otherwise."""
        return self.slow_epochs if method in self.slow_methods else self.student_epochs

    @property
    def autoattack_arms(self) -> frozenset[str]:
        """The arms AutoAttack runs on: ``autoattack_methods`` (with the main teacher where they have
        one), and every arm C2 compares (each swap-teacher method with each swap teacher)."""
        main = {f"{m}@{self.main_teacher}" if m in TEACHER_METHODS else m for m in self.autoattack_methods}
        return frozenset(main | {f"{m}@{t}" for m in self.teacher_swap_methods for t in self.swap_teachers})


PROFILES = {
    # smoke: every code path once, in seconds; a higher lr so that even 12 steps learn something to look at
    "smoke": lambda: MmardConfig(
        profile="smoke",
        threads=1,  # tiny models: a second OpenMP thread only stalls them when the 2 cores are shared
        seeds=(0,),
        teacher_epochs=5,
        student_epochs=3,
        slow_epochs=5,
        train_limit=512,
        lr=1e-2,
        eval_limit=64,
        autoattack_subset=8,
        eps_sweep=(0.05, 0.1),
    ),
    # cpu: the main job, 3 seeds on 2 CPU cores within 10 minutes; one intra-op thread, as smoke: on
    # cores shared with other jobs two threads spent 115 s of CPU on 6 epochs of the small teacher
    # (about 9 s with one thread at smoke's rate)
    "cpu": lambda: MmardConfig(profile="cpu", threads=1, seeds=(0, 1, 2)),
    # gpu: 5 seeds, digits upsampled to 16x16, longer training, AutoAttack on every test image
    "gpu": lambda: MmardConfig(
        profile="gpu",
        seeds=(0, 1, 2, 3, 4),
        device="auto",
        mixed_precision="bf16",
        image_size=16,
        teacher_epochs=40,
        student_epochs=40,
        slow_epochs=100,
        batch_size=512,  # tiny models are launch-bound on a GPU: fewer, larger steps
        lr=5e-3,
        autoattack_subset=360,
    ),
    # paper: the paper's data and protocol (CIFAR-10, data_manifests/cifar10.yaml, eps 8/255) on a GPU;
    # the miniature's CNNs stand in for ResNet-18 / WRN-34-10
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
        slow_epochs=300,
        batch_size=128,
        autoattack_subset=1000,
        eps_sweep=(2 / 255, 4 / 255, 8 / 255, 12 / 255),
    ),
}


def config(profile: str = "smoke", **overrides) -> MmardConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    return make_config(PROFILES, profile, **overrides)
