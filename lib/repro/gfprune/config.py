"""gfprune's profiles. ``config("cpu")`` is what ``./run_all.sh`` runs; see the README for timings.

    >>> from repro import gfprune
    >>> cfg = gfprune.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

Miniature choices (the paper leaves them open; see ``docs/papers/gfprune.md``): sklearn digits upsampled
to 16x16 and scaled to [-1, 1]; a tiny diffusers UNet2DModel (attention at the lowest resolution, as
DDPM-CIFAR has at 16x16) pretrained in place with the DDPM loss; DDIM sampling (eta = 0) for every
evaluation. Pruning is local (every channel group loses the same fraction, Diff-Pruning's setting), so at
one ratio every criterion reaches the same architecture and the same MACs; the ratio is searched per
method so the MACs land on ``macs_target`` (an honesty guard; ``global_pruning=True`` makes the search
matter). Every method then gets the same fine-tuning (``finetune_steps`` Adam steps, same batches per
seed). The two iterative methods also train between pruning stages (``prune_stages`` x ``stage_steps``
steps): the ledger counts those steps and the HVPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from repro.core.arms import Arm
from repro.core.config import ConfigError, RunConfig, make_config, one_of

METHODS = (
    "random", "magnitude", "taylor", "diffpruning", "diffpruning_grid", "iterative_taylor", "gfprune", "gfprune_abs",
    "flow_magnitude",
)  # fmt: skip


@dataclass(frozen=True)
class UNetSpec:
    """A diffusers ``UNet2DModel`` as data (the fields of its config that the kit varies)."""

    sample_size: int = 16
    channels: int = 1
    block_out_channels: tuple[int, ...] = (16, 32, 32)
    down_block_types: tuple[str, ...] = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D")
    up_block_types: tuple[str, ...] = ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D")
    layers_per_block: int = 1
    norm_num_groups: int = 1  # 1: any channel count can be pruned (GroupNorm's groups must divide it)
    attention_head_dim: int | None = 8


# google/ddpm-cifar10-32's published UNet config (35.7M parameters); the paper profile loads the
# checkpoint itself, this spec only lets the config-build test instantiate the same architecture.
DDPM_CIFAR10 = UNetSpec(
    sample_size=32,
    channels=3,
    block_out_channels=(128, 256, 256, 256),
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    layers_per_block=2,
    norm_num_groups=32,
    attention_head_dim=None,
)


@dataclass(frozen=True)
class Schedule:
    """What the two iterative methods (ours and iterative hard Taylor) share: ``stages`` prunes or
    mask stages, ``stage_steps`` Adam steps at ``lr`` after each, ``criterion_batches`` batches per
    criterion, every batch of ``batch_size`` images; ours splits each into Hessian-vector products of
    ``micro_batch`` images (0: one per batch)."""

    stages: int
    stage_steps: int
    criterion_batches: int
    batch_size: int
    lr: float
    micro_batch: int = 0


@dataclass(frozen=True)
class OneShot:
    """A one-shot criterion's settings: ``criterion_batches`` batches of ``batch_size`` images
    (Taylor), Diff-Pruning's loss ``threshold`` and the kit's earlier timestep ``grid`` (the
    ``diffpruning_grid`` method), magnitude's norm ``p`` and one-shot Taylor's ``multivariable``
    (``|sum w g|`` per channel instead of ``sum |w g|``; Diff-Pruning's own criterion is always
    ``sum |w g|``, as its code)."""

    batch_size: int
    criterion_batches: int
    diffpruning_grid: int
    diffpruning_threshold: float
    diffpruning_max_steps: int = 1000  # the walk's cap: the official code's range(1000); smoke walks fewer
    global_pruning: bool = False
    magnitude_p: int = 2  # Diff-Pruning's code: MagnitudeImportance(p=2)
    taylor_multivariable: bool = True  # Diff-Pruning's code, --pruner taylor: TaylorImportance(multivariable=True)


@dataclass(frozen=True)
class GfpruneConfig(RunConfig):
    paper: ClassVar[str] = "gfprune"

    # One thread: the tiny UNet's kernels gain little from a second one, and on a shared 2-core
    # machine (load ~8) two OpenMP threads stalled a training step 12x (1.9 s vs 0.15 s, measured).
    threads: int = 1

    # data and the pretrained diffusion model
    data_source: str = one_of(("digits", "cifar10"), "digits")  # digits | cifar10 (python batches from $REPRO_DATA_DIR)
    test_fraction: float = 0.2
    train_limit: int = 0  # >0 keeps only this many training images (smoke)
    pretrained: str = ""  # "" pretrains `unet` in place; else a local diffusers DDPM pipeline folder
    unet: UNetSpec = field(default_factory=UNetSpec)
    num_train_timesteps: int = 1000
    # Pretraining: one Adam optimizer, a 5% linear warm-up to 4e-3, then a cosine decay to 0 (issue 16:
    # the constant 2e-3 of earlier runs was still improving ~10% at 3000 steps). 1000 annealed steps give a
    # far better dense model than 3000 constant ones (plug-in Frechet distance 33 vs 84) but have not
    # flattened (500 -> 1000 improved the validation loss 16%); 1000 is a budget choice, measured in
    # docs/papers/gfprune.md. The model step records the validation loss after every tenth of pretraining.
    pretrain_steps: int = 1000
    pretrain_lr: float = 4e-3  # the peak rate
    pretrain_batch_size: int = 64
    pretrain_warmup: float = 0.05  # fraction of pretraining that warms up before the cosine decay; < 0: constant
    batch_size: int = 32  # pruning criteria, soft phase, fine-tuning
    classifier_epochs: int = 15  # the digit classifier whose features define the Frechet distance
    # pruning: every method at the same MACs
    methods: tuple[str, ...] = one_of(METHODS, METHODS)
    # in no claim: first seed only (random is a trivial reference). diffpruning_grid, the kit's earlier walk, ends
    # where the official one does (the previous golden, 3 seeds: plug-in Frechet distance 61.0 both)
    table_only_methods: tuple[str, ...] = one_of(METHODS, ("taylor", "diffpruning_grid"))
    macs_target: float = 0.56  # fraction of the dense model's MACs (Diff-Pruning CIFAR-10: 3.4G / 6.1G)
    macs_tolerance: float = 0.02  # the honesty guard: MACs within 2% of the target
    global_pruning: bool = False
    ratio_search_steps: int = 10  # bisection steps of the ratio search (each prunes a copy and counts MACs)
    # batches of gradients (Taylor) or gradient + HVP (ours) per criterion, the same for every criterion; ours
    # draws each batch's timesteps on a fixed grid over [0, T). At 2 batches with uniform timesteps ours was
    # noise: pairwise Spearman of 8 draws -0.87 to +0.90 (issue 32). The train step gates the split-half
    # Spearman per seed.
    criterion_batches: int = 8
    # Ours splits each criterion batch into Hessian-vector products of this many images (0: the whole batch):
    # the same images and gradient evaluations, a steadier signed score. At a trained model the mean gradient
    # is ~0, so a product's signal (the per-example term) and its noise (other examples' cross terms) both
    # scale as 1/size: reliability grows with the number of products, not of images. Split-half Spearman of
    # the signed score on the cpu dense model, the draws that failed the gate (seed 2's): 16 products of 32
    # images 0.36, 48 of 32 0.71, 64 of 8 0.94, 64 of 4 0.94, 128 of 4 0.98; every product on the same
    # timestep grid (products of 4 on interleaved points of a 32-point grid: -0.54; docs/papers/gfprune.md).
    criterion_micro_batch: int = 4
    magnitude_p: int = 2  # Diff-Pruning's official magnitude criterion (L2); 1 gives the L1 of earlier runs
    taylor_multivariable: bool = True  # one-shot Taylor as Diff-Pruning's --pruner taylor; False: sum |w g|
    # Diff-Pruning walks t = 0, 1, 2, ... (one batch, one fixed noise) until L_t < 0.05 max L (its code's
    # --thr); the method diffpruning_grid is the kit's earlier walk, probing this many timesteps (0, T/20, ...)
    diffpruning_threshold: float = 0.05
    diffpruning_grid: int = 20
    diffpruning_max_steps: int = 1000  # the official range(1000) (= T); smoke caps it (its model never gets below)
    # the iterative methods (ours and iterative hard Taylor)
    prune_stages: int = 4
    stage_steps: int = 15  # optimizer steps per stage (soft gradient flow, or fine-tuning between hard prunes)
    mask_lr: float = 1.0  # explicit-Euler step of the masks along -dE/dm
    mask_decay: float = 2.0  # sparsity strength: a mask with no loss gradient falls by this much per stage
    # GroupNorm statistics in the soft phase: "live" weights each channel by its mask, so removal is exact;
    # "all" is the plain GroupNorm of the runs before issue 16 (zeroed channels counted; removal jumped 12-16%)
    norm_stats: str = one_of(("live", "all"), "live")
    # fine-tuning: the same for every method
    finetune_steps: int = 60
    finetune_lr: float = 1e-3  # the peak rate
    finetune_warmup: float = 0.05  # warm-up fraction before a cosine decay to 0, as pretraining; < 0: constant
    eval_every: int = 20  # validation diffusion loss every n fine-tuning steps (convergence curves)
    val_examples: int = 128
    # evaluation
    n_samples: int = 128  # DDIM samples per model, from the same noise for every model
    ddim_steps: int = 16
    latency_methods: tuple[str, ...] = one_of(METHODS, ("gfprune",))  # timed against the dense model (claim C3)
    latency_repeats: int = 5
    latency_batch: int = 32
    # control K1: dead channels planted in the dense model (this share of every channel group, all their
    # weights zeroed), then each criterion ranks the channels at that share: which planted ones go first
    control_ratio: float = 0.05
    planted_criteria: tuple[str, ...] = one_of(METHODS, ("random", "magnitude", "gfprune", "gfprune_abs"))
    control_methods: tuple[str, ...] = one_of(METHODS, ())  # arms at control_ratio (the old K1's; optional table rows)
    # drift: ours at ratio 0 (nothing removed) measures what the procedure's own training does
    drift_methods: tuple[str, ...] = one_of(METHODS, ("gfprune",))

    @property
    def one_shot(self) -> OneShot:
        return OneShot(
            self.batch_size,
            self.criterion_batches,
            self.diffpruning_grid,
            self.diffpruning_threshold,
            self.diffpruning_max_steps,
            self.global_pruning,
            self.magnitude_p,
            self.taylor_multivariable,
        )

    @property
    def schedule(self) -> Schedule:
        return Schedule(
            self.prune_stages,
            self.stage_steps,
            self.criterion_batches,
            self.batch_size,
            self.finetune_lr,
            self.criterion_micro_batch,
        )


PROFILES = {
    # smoke: every code path once, in seconds (samples are noise-like after 20 pretraining steps)
    "smoke": lambda: GfpruneConfig(
        profile="smoke",
        seeds=(0,),
        train_limit=128,
        pretrain_steps=20,
        pretrain_batch_size=32,
        batch_size=16,
        classifier_epochs=2,
        criterion_batches=1,
        ratio_search_steps=5,
        diffpruning_grid=8,
        diffpruning_max_steps=16,
        prune_stages=2,
        stage_steps=3,
        finetune_steps=6,
        eval_every=3,
        val_examples=32,
        n_samples=32,
        ddim_steps=4,
        latency_repeats=2,
        latency_batch=8,
    ),
    # 3 seeds: with 5 seeds and 3000 pretraining steps the profile took 1353 s (issue 16). One thread per
    # job, the train step's (arm, seed) runs side by side (repro.core.jobs): two OpenMP threads stalled
    # 25-36x on shared cores (docs/papers/gfprune.md). Every arm loses the same seeds.
    "cpu": lambda: GfpruneConfig(profile="cpu", seeds=(0, 1, 2)),
    # gpu: a 1.1M-parameter UNet pretrained at batch 256. Tiny models are launch-bound on a GPU (an H100
    # took ~35 ms per fine-tuning step at batch 256, about what a step at batch 32 costs), so the profile
    # buys larger batches and samples, not more steps. Measured on an H100 with an earlier, larger version
    # of this profile (3000 pretraining steps, 5 seeds, 300 fine-tuning steps): model step 113 s, 12 s per
    # one-shot method and seed; these settings were cut from it so the whole run aims at ~3 minutes.
    "gpu": lambda: GfpruneConfig(
        profile="gpu",
        seeds=(0, 1, 2),
        device="auto",
        threads=2,
        unet=UNetSpec(block_out_channels=(32, 64, 64)),
        pretrain_steps=2000,
        pretrain_batch_size=256,
        batch_size=256,
        criterion_batches=8,
        stage_steps=25,
        finetune_steps=100,
        eval_every=25,
        val_examples=1024,
        n_samples=1024,
        ddim_steps=25,
        latency_batch=256,
    ),
    # The paper's setting: google/ddpm-cifar10-32 (data_manifests/ddpm_cifar10_32.yaml) pruned on
    # CIFAR-10 (data_manifests/cifar10.yaml), Diff-Pruning's 100-step DDIM; needs a GPU and the files.
    "paper": lambda: GfpruneConfig(
        profile="paper",
        seeds=(0,),
        device="auto",
        threads=2,
        data_source="cifar10",
        pretrained="ddpm_cifar10_32",
        unet=DDPM_CIFAR10,
        pretrain_batch_size=128,
        batch_size=128,
        table_only_methods=(),
        classifier_epochs=30,
        criterion_batches=8,
        stage_steps=2000,
        finetune_steps=100_000,
        finetune_lr=2e-4,
        eval_every=5000,
        val_examples=2048,
        n_samples=10_000,
        ddim_steps=100,
        latency_batch=128,
    ),
}


def config(profile: str = "smoke", **overrides) -> GfpruneConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    cfg = make_config(PROFILES, profile, **overrides)
    if not 0 < cfg.macs_target < 1:
        raise ConfigError(f"macs_target must lie in (0, 1), got {cfg.macs_target}")
    if not 0 <= cfg.criterion_micro_batch <= cfg.batch_size:
        raise ConfigError(f"criterion_micro_batch {cfg.criterion_micro_batch}: must lie in [0, {cfg.batch_size}]")
    if cfg.finetune_steps % cfg.eval_every:
        raise ConfigError(f"finetune_steps ({cfg.finetune_steps}) must be a multiple of eval_every ({cfg.eval_every})")
    return cfg


def arms(cfg: GfpruneConfig) -> list[Arm]:
    """Every method at the MACs target, and the control methods at the tiny ratio (``Arm(m, "0.05")``)."""
    return (
        [Arm(m) for m in cfg.methods]
        + [Arm(m, f"{cfg.control_ratio:g}") for m in cfg.control_methods]
        + [Arm(m, "0") for m in cfg.drift_methods]
    )


def arm_seeds(cfg: GfpruneConfig, arm: Arm) -> tuple[int, ...]:
    """Methods that no claim compares run on the first seed only (the run matrix is trimmed, not the claims)."""
    trimmed = (arm.method in cfg.table_only_methods and arm.condition is None) or arm.condition == "0"
    return cfg.seeds[:1] if trimmed else cfg.seeds
