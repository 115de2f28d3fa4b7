"""LingoLoop's configuration: typed, frozen, the victim and the attacks as nested specs.
``config("cpu")`` is what ``./run_all.sh`` runs; ``docs/papers/lingoloop.md`` has the profiles and
their measured budgets.

    >>> from repro import lingoloop
    >>> cfg = lingoloop.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

Budget (the same for every attack): the paper runs 300 PGD steps per image with up to 1024 new
tokens on Qwen2.5-VL-3B. The ``cpu`` profile attacks 12 scenes per victim with 150 steps (target
regenerated every 10 steps, as in the paper) and a 128-token cap; three victims (seeds) trained from
scratch on 9600 scenes for 4 epochs. Every attack gets the same eps, step, steps and regenerations;
the ledger in claims.json shows it.

eps: the paper's 8/255 (on 448x448 images) is raised to 32/255 (step 2/255) for the 32x32 victim:
an L_inf ball of the same eps holds ~14x less L2 energy on 32x32x3 pixels than on 448x448x3, and a
pilot at 8/255 left every caption at its clean length. The attention variant (no claim) runs at
``smoke`` and ``gpu`` only, and the lambda_rep sweep keeps 10 and 100 (0 is ``lps_only``, 1 is
``lingoloop``). ``paper`` names the real assets (COCO val2017 and a local Qwen2.5-VL-3B folder, see
data_manifests/) for users who have them and a GPU.

This module imports no torch code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from repro.core.arms import Arm
from repro.core.config import ConfigError, RunConfig, make_config


@dataclass(frozen=True)
class VictimSpec:
    """Sizes of the victim (``gpu`` profile: wider and deeper)."""

    image_size: int = 32
    patch_size: int = 8
    vision_width: int = 64
    vision_layers: int = 2
    width: int = 64
    layers: int = 2
    heads: int = 4
    max_positions: int = 256  # 16 visual tokens + BOS + 128 new tokens fit


@dataclass(frozen=True)
class AttackHP:
    """What every attack shares (the paper: eps 8/255, step 1/255, 300 steps, target every 10 steps,
    repetition penalty 1.05 in generation; 128 new tokens in the miniature)."""

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
    NICGSlowDown-style), "verbose" (Verbose Images), "verbose_uncertainty" (its uncertainty term
    alone), "noise" (random sign noise, no gradient)."""

    loss: str = "lingoloop"
    weighting: str = "pos"  # pos | uniform
    lps_mode: str = "loss"  # loss | attention
    lambda_rep: float = 1.0  # 0 = LPS only
    lambda_scaling: str = "consistent"  # consistent | reimpl
    optimizer: str = "momentum"  # momentum | sign (LoopConfig.optimizer can set one for every attack)
    noise_rows: str = "all"  # "noise" loss only: all | outside_strip | strip (baselines.random_noise)
    start: str = "zero"  # zero | randn (a Gaussian start clipped into the ball: Verbose Images' code)
    keep: str = "final"  # final | best (the iterate whose greedy caption was longest at a regeneration)
    target: str = "greedy"  # greedy | longest_sampled (the longest of 3 top-p 0.9 samples: Verbose Images)


METHODS: dict[str, AttackSpec] = {
    "random_noise": AttackSpec(loss="noise", optimizer="none"),
    "outside_noise": AttackSpec(loss="noise", optimizer="none", noise_rows="outside_strip"),
    "eos_only": AttackSpec(loss="eos", optimizer="sign"),
    "verbose_images": AttackSpec(
        loss="verbose", optimizer="sign", start="randn", keep="best", target="longest_sampled"
    ),
    # Verbose Images' uncertainty term alone (does it have a route to length?), run as Verbose Images
    # is but keeping the final iterate: the best of 16 would lengthen captions by selection alone
    "vi_uncertainty": AttackSpec(loss="verbose_uncertainty", optimizer="sign", start="randn", target="longest_sampled"),
    "uniform_eos": AttackSpec(weighting="uniform", lambda_rep=0.0),
    "lps_only": AttackSpec(lambda_rep=0.0),
    "lingoloop": AttackSpec(),
    "lingoloop_reimpl": AttackSpec(lambda_scaling="reimpl"),
    "lingoloop_attention": AttackSpec(lps_mode="attention"),
}


def sweep_arm(lambda_rep: float) -> Arm:
    """The lambda_rep sweep's arm: LingoLoop under the condition ``lam<value>``."""
    return Arm("lingoloop", f"lam{lambda_rep:g}")


OPTIMIZERS = ("per_attack", "momentum", "sign")


def spec_of(arm: Arm, optimizer: str = "per_attack") -> AttackSpec:
    """The spec of a registered attack, or of a lambda_rep sweep arm ``Arm("lingoloop", "lam<value>")``;
    ``optimizer`` other than "per_attack" replaces every gradient attack's optimiser (the switch that
    puts LingoLoop and Verbose Images on the same steps)."""
    if arm.condition is None and arm.method in METHODS:
        spec = METHODS[arm.method]
    elif arm.method == "lingoloop" and arm.condition and arm.condition.startswith("lam"):
        spec = AttackSpec(lambda_rep=float(arm.condition.removeprefix("lam")))
    else:
        raise KeyError(f"unknown attack {arm.name!r}; valid: {', '.join(METHODS)} or lingoloop@lam<value>")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    return spec if optimizer == "per_attack" or spec.optimizer == "none" else replace(spec, optimizer=optimizer)


ALL_METHODS = tuple(METHODS)


@dataclass(frozen=True)
class LingoloopConfig(RunConfig):
    paper: ClassVar[str] = "lingoloop"

    # data: procedural scenes (or COCO val2017 for the paper profile)
    data_source: str = "scenes"  # scenes | coco
    n_train: int = 2400
    n_eval: int = 20  # images attacked per victim (the same images for every attack)
    n_val: int = 64  # validation scenes: each victim's readiness (right ending) is measured on them
    noise: float = 0.03  # pixel noise of the scenes (the generator's difficulty knob)
    # victim (trained in place, one per seed) or a local HF VLM folder (victim_path)
    victim: VictimSpec = field(default_factory=VictimSpec)
    victim_path: str = ""  # a folder under $REPRO_DATA_DIR written by save_pretrained (skips training)
    victim_manifest: str = ""  # its manifest in data_manifests/ (files checked before loading)
    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-3
    # attacks
    hp: AttackHP = field(default_factory=lambda: AttackHP(eps=32 / 255, step_size=2 / 255, steps=300))
    methods: tuple[str, ...] = tuple(m for m in ALL_METHODS if m != "lingoloop_attention")
    optimizer: str = "per_attack"  # per_attack (each paper's own) | momentum | sign: one for every gradient attack
    lambda_sweep: tuple[float, ...] = (10.0, 100.0)  # lambda_rep besides 0 (lps_only) and 1 (lingoloop)
    probe_step: int = 20  # tokens after this many steps: the comparison below saturation
    # evaluation
    latency_arms: tuple[str, ...] = ("clean", "verbose_images", "lingoloop")
    latency_repeats: int = 3  # passes over every image (batch 1, arms interleaved); the score is the median


PROFILES = {
    "smoke": lambda: LingoloopConfig(
        profile="smoke",
        threads=1,  # tiny models: a second OpenMP thread only stalls them when the 2 cores are shared
        seeds=(0,),
        n_train=320,
        n_eval=4,
        n_val=8,
        epochs=2,
        lr=3e-3,
        hp=AttackHP(eps=32 / 255, step_size=2 / 255, steps=2, regen_every=1, max_new_tokens=16),
        methods=ALL_METHODS,
        lambda_sweep=(100.0,),
        probe_step=1,
        latency_repeats=1,
    ),
    # cpu: the main job: 3 victims x 12 images, 150 steps (half the paper's 300: with open-ended
    # captions an attacked output runs to the 128-token cap, ~5x the earlier victim's, so every step
    # and regeneration costs more), latency timed on every image, 3 interleaved passes. Victims: 9600
    # scenes x 4 epochs (at 2400 x 15 victims stayed at right ending 0.44-0.86; at 9600 x 6 only seed 1
    # of 3 was ready: the page's pilots). Each victim and each (victim, attack) is a job: ~460 CPU s
    # in all at 100 steps without the sweep, measured (docs/papers/lingoloop.md, budget)
    "cpu": lambda: LingoloopConfig(
        profile="cpu",
        threads=1,  # as smoke: on shared cores a second thread made a victim epoch ~100x slower (629 s)
        seeds=(0, 1, 2),
        n_train=9600,
        n_eval=12,
        epochs=4,
        hp=AttackHP(eps=32 / 255, step_size=2 / 255, steps=150),
    ),
    "gpu": lambda: LingoloopConfig(
        profile="gpu",
        seeds=(0, 1, 2, 3, 4),
        device="auto",
        n_train=20000,
        n_eval=64,
        victim=VictimSpec(width=128, layers=4, vision_width=128),
        epochs=10,
        batch_size=128,
        hp=AttackHP(eps=32 / 255, step_size=2 / 255, steps=300),
        methods=ALL_METHODS,
        lambda_sweep=(0.1, 10.0, 100.0),
        probe_step=50,
    ),
    # The paper's setting: COCO val2017 images against a local Qwen2.5-VL-3B-Instruct folder
    # (data_manifests/coco_val2017.yaml, qwen2_5_vl_3b.yaml), 300 steps, 1024 new tokens.
    "paper": lambda: LingoloopConfig(
        profile="paper",
        seeds=(0,),
        device="auto",
        data_source="coco",
        n_eval=100,
        victim_path="Qwen2.5-VL-3B-Instruct",
        victim_manifest="qwen2_5_vl_3b",
        hp=AttackHP(steps=300, max_new_tokens=1024),
        probe_step=50,
        latency_repeats=1,
    ),
}


def config(profile: str = "smoke", **overrides) -> LingoloopConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    cfg = make_config(PROFILES, profile, **overrides)
    unknown = sorted(set(cfg.methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"methods: unknown attacks {unknown}; valid: {', '.join(METHODS)}")
    bad = sorted(set(cfg.latency_arms) - {"clean", *cfg.methods})
    if bad:
        raise ConfigError(f"latency_arms {bad} are not among clean and the methods")
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {cfg.optimizer!r}")
    if cfg.data_source not in ("scenes", "coco"):
        raise ConfigError(f"data_source must be 'scenes' or 'coco', not {cfg.data_source!r}")
    if cfg.probe_step % cfg.hp.regen_every or cfg.probe_step > cfg.hp.steps:
        raise ConfigError("probe_step must be a multiple of hp.regen_every and at most hp.steps")
    return cfg
