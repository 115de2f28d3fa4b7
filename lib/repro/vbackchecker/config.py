"""VBackChecker's profiles. ``config("cpu")`` is what ``./run_all.sh`` runs; see the README for timings.

    >>> from repro import vbackchecker
    >>> cfg = vbackchecker.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

The paper tunes LLaVA-7B with LoRA (r 8, alpha 16, q/v projections, lr 3e-4) and SAM's mask decoder on
800k R-Instruct samples. Here every network is trained from scratch on procedural scenes: a ViT with a
convolutional stem on 64x64 images with 16x16 patches, a decoder of width 64, all arms with the same
optimizer steps, every checker arm fine-tuning from its seed's grounder pretrained by the kit (the ``pretrain``
step: referring expressions, head noun phrases first; the paper starts from GSVA). Because nothing is
pretrained outside the kit there is no LoRA and the learning rate is higher (2e-3, AdamW). The loss weights
are the paper's (1.0 CE + 2.0 BCE + 0.5 DICE, x10 on [SEG] and [REJ]).
``smoke`` and ``cpu`` use one thread: these models are too small to gain from a second, and on shared
cores two threads made a training step six times slower (measured at load 25).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from repro.core.config import ConfigError, RunConfig, bounded, make_config
from repro.vbackchecker.recipes import RECIPES
from repro.vbackchecker.scenes import OPERATORS

ALL_ARMS = tuple(RECIPES)
CLAIMED_ARMS = ("checker", "grounder", "gsva", "similarity", "text_only")  # what the claims compare
HELD_OUT = ("size", "above_below")  # swap operators used only by the benchmark and the referring set


@dataclass(frozen=True)
class CheckerSpec:
    patch: int = 16
    vision_width: int = 64
    vision_layers: int = 2
    width: int = 64
    layers: int = 2
    heads: int = 4
    mask_dim: int = 16
    max_len: int = 40  # text positions (prompt + answer with its reason)
    prefix_lm: bool = True  # image + prompt attend both ways (PaliGemma-style); False: causal throughout


@dataclass(frozen=True)
class JudgeSpec:
    patch: int = 16
    width: int = 64
    layers: int = 2
    heads: int = 4
    embed_dim: int = 64
    max_len: int = 40  # the checker's text positions (the same encoded rows)


@dataclass(frozen=True)
class LossWeights:
    """The paper's objective: ``ce * CE(text) + bce * BCE(mask) + dice * DICE(mask)``, with the
    cross-entropy class weight ``special_token`` on [SEG] and [REJ]."""

    ce: float = 1.0
    bce: float = 2.0
    dice: float = 0.5
    special_token: float = 10.0


@dataclass(frozen=True)
class OptimSpec:
    """The same for every arm: AdamW, ``epochs x steps_per_epoch`` steps of ``batch_size`` rows drawn
    with replacement, a 5% warm-up and a cosine decay."""

    epochs: int = 10
    steps_per_epoch: int = 100
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01


@dataclass(frozen=True)
class PretrainSpec:
    """The grounder every checker arm starts from: ``steps`` optimizer steps (0: every arm from scratch)
    on referring expressions, with the checker's objective, once per run (``seed``),
    after a first stage of ``phrase_steps`` on the referring expressions cut to their head noun phrase
    (``the big red circle``; a curriculum: without the relation clauses every colour and shape word
    belongs to the target, so the decoder learns which object a phrase names before it reads clauses
    and before it learns to reject)."""

    steps: int = bounded(0, ge=0)  # 0: no pretraining
    phrase_steps: int = bounded(0, ge=0)  # 0: no curriculum
    batch_size: int = 16
    lr: float = 2e-3


@dataclass(frozen=True)
class VbackcheckerConfig(RunConfig):
    paper: ClassVar[str] = "vbackchecker"

    # data: procedural scenes (scenes per split, positives per training scene), or the released files
    data_source: str = "procedural"  # procedural | released (R-Instruct, gRefCOCO, R^2-HalBench manifests)
    image_size: int = 64
    n_train: int = 3000
    n_val: int = 300
    n_bench: int = 600  # x 4 describers = the mini R^2-HalBench
    n_refer: int = 400
    per_scene: int = 2
    max_objects: int = 3
    noise: float = 0.04  # pixel noise (the generator's difficulty knob)
    train_operators: tuple[str, ...] = ("shape", "colour", "left_right")
    # models and training (every arm: the same steps, batch and learning rate)
    checker: CheckerSpec = field(default_factory=CheckerSpec)
    judge: JudgeSpec = field(default_factory=JudgeSpec)
    loss: LossWeights = field(default_factory=LossWeights)
    optim: OptimSpec = field(default_factory=OptimSpec)
    pretrain: PretrainSpec = field(default_factory=PretrainSpec)
    arms: tuple[str, ...] = CLAIMED_ARMS
    eval_batch: int = 256

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("seeds must be a non-empty list of distinct integers")
        for name in ("image_size", "n_train", "n_val", "n_bench", "n_refer", "per_scene", "eval_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("epochs", "steps_per_epoch", "batch_size"):
            if getattr(self.optim, name) < 1:
                raise ConfigError(f"optim.{name} must be >= 1, got {getattr(self.optim, name)}")
        if self.data_source not in ("procedural", "released"):
            raise ConfigError(f"data_source must be procedural or released, got {self.data_source!r}")
        if self.pretrain.phrase_steps and self.data_source != "procedural":
            raise ConfigError("pretrain.phrase_steps needs the procedural scene graph (data_source='procedural')")
        for name in ("optim", "pretrain"):
            if getattr(self, name).batch_size % 2:
                raise ConfigError(f"{name}.batch_size must be even (a positive and its negative per pair)")
        if self.max_objects < 2:
            raise ConfigError("max_objects must be >= 2 (a relation needs two objects)")
        if self.optim.lr <= 0 or self.noise < 0:
            raise ConfigError("optim.lr must be > 0 and noise >= 0")
        for spec_name in ("checker", "judge"):
            spec = getattr(self, spec_name)
            for f in fields(spec):
                if getattr(spec, f.name) < 1:
                    raise ConfigError(f"{spec_name}.{f.name} must be >= 1")
            if self.image_size % spec.patch:
                raise ConfigError(f"image_size must be a multiple of {spec_name}.patch")
            widths = [getattr(spec, n) for n in ("width", "vision_width") if hasattr(spec, n)]
            if any(w % spec.heads for w in widths):
                raise ConfigError(f"{spec_name}.heads must divide its widths")
        unknown = sorted(set(self.arms) - set(RECIPES))
        if unknown or not self.arms:
            raise ConfigError(f"arms: unknown {unknown}; valid: {', '.join(RECIPES)}")
        bad = sorted(set(self.train_operators) - set(OPERATORS))
        if bad or not self.train_operators:
            raise ConfigError(f"train_operators: unknown {bad}; valid: {', '.join(OPERATORS)}")


PROFILES = {
    # every code path once, in seconds
    "smoke": lambda: VbackcheckerConfig(
        profile="smoke",
        seeds=(0,),
        threads=1,
        n_train=120,
        n_val=30,
        n_bench=30,
        n_refer=30,
        optim=OptimSpec(epochs=2, steps_per_epoch=4, batch_size=32),
        pretrain=PretrainSpec(steps=4, phrase_steps=4, batch_size=32),
        arms=ALL_ARMS,
        checker=CheckerSpec(vision_width=32, width=32, mask_dim=16, heads=2),
        judge=JudgeSpec(width=32, embed_dim=32, heads=2),
    ),
    # the miniature reproduction: one pretrained grounder per seed (800 steps of 16 rows on referring phrases, then
    # 800 on full referring expressions), then five claimed arms x three seeds x 600 steps
    # of 16 rows (a smaller batch buys more optimizer steps: a step's cost scales with its rows)
    "cpu": lambda: VbackcheckerConfig(
        profile="cpu",
        seeds=(0, 1, 2),
        threads=1,
        n_train=600,
        n_val=100,
        n_bench=300,
        n_refer=200,
        checker=CheckerSpec(width=48, vision_width=48, layers=3),
        judge=JudgeSpec(width=48, embed_dim=48),
        optim=OptimSpec(epochs=6, steps_per_epoch=100, batch_size=16),
        pretrain=PretrainSpec(steps=800, phrase_steps=800, batch_size=16),
    ),
    # a larger miniature on one GPU: wider models, more scenes and steps, five seeds
    "gpu": lambda: VbackcheckerConfig(
        profile="gpu",
        seeds=(0, 1, 2, 3, 4),
        device="auto",
        mixed_precision="bf16",
        n_train=20000,
        n_val=1000,
        n_bench=1000,
        n_refer=1000,
        checker=CheckerSpec(vision_width=128, width=128, layers=4, vision_layers=4, mask_dim=64),
        judge=JudgeSpec(width=128, layers=4, embed_dim=128),
        optim=OptimSpec(epochs=20, steps_per_epoch=300, batch_size=256, lr=1e-3),
        pretrain=PretrainSpec(steps=6000, phrase_steps=2000, batch_size=256, lr=1e-3),
        arms=ALL_ARMS,
        eval_batch=1024,
    ),
    # the released data (R-Instruct for training, gRefCOCO val, R^2-HalBench) through their manifests, on
    # one GPU with the gpu profile's networks at 224 px. Not the paper's model: no 7B MLLM and no SAM
    # here, and the word vocabulary is the miniature's grammar (real words outside it read as [UNK]).
    "paper": lambda: VbackcheckerConfig(
        profile="paper",
        data_source="released",
        seeds=(0, 1, 2),
        device="auto",
        mixed_precision="bf16",
        image_size=224,
        checker=CheckerSpec(vision_width=128, width=128, layers=4, vision_layers=4, mask_dim=64, max_len=64),
        judge=JudgeSpec(width=128, layers=4, embed_dim=128, max_len=64),
        optim=OptimSpec(epochs=20, steps_per_epoch=300, batch_size=64, lr=3e-4),
        pretrain=PretrainSpec(steps=6000, batch_size=64, lr=3e-4),
        eval_batch=256,
    ),
}


def config(profile: str = "smoke", **overrides) -> VbackcheckerConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    return make_config(PROFILES, profile, **overrides)
