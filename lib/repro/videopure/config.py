"""VideoPure's profiles. ``config("cpu")`` is what ``./run_all.sh`` runs; see ``docs/papers/videopure.md``.

    >>> from repro import videopure
    >>> cfg = videopure.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

Miniature choices (the paper leaves them to the scale): moving-digit clips (scikit-learn's real 8x8
glyphs moving on a torus), classes digit x direction so a single frame cannot name the class; a
Conv3d recogniser and a (2+1)D surrogate for transfer attacks; a per-frame diffusers ``UNet2DModel``
DDPM trained in place on frames. The purifier's DDIM grid has ``ddim_steps`` steps over 1000 DDPM
timesteps; every rung purifies from the same depth, ``inversion_steps`` grid steps (VideoPure's code:
``t = 5``, whose loops run ``t + 1 = 6`` steps of a 50-step grid, i.e. timestep 100, 7 candidates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from repro.core.config import ConfigError, RunConfig, bounded, make_config, one_of

RUNGS = (
    "none",  # no defence: the identity purifier
    "diffpure",
    "ddim",  # VideoPure's code's `ddim` baseline: fresh noise to the depth, DDIM back
    "ddim_inversion",
    "temporal_inversion",
    "guided",
    "videopure",
    "videopure_per_frame",  # VideoPure with per-frame inversion (the warping comparison C3a/b)
    "videopure_descent",  # the ablation: the kit's earlier descent as the guided step
)
GUIDANCE = ("official", "descent")
ATTACKS = ("clean", "pgd", "bpda", "transfer")


@dataclass(frozen=True)
class VideoSpec:
    """The moving-digit generator. ``noise`` (pixel noise std) is the difficulty knob."""

    digits: tuple[int, ...] = (0, 1, 2, 3, 4)  # classes: each digit x {moving left, moving right}
    frames: int = bounded(4, ge=2)  # a clip has motion
    canvas: int = bounded(12, ge=8)  # the glyphs are 8x8
    speed: int = 1  # pixels per frame, along x, on a torus (the glyph wraps around)
    noise: float = 0.05
    clips_per_glyph: int = bounded(2, ge=1)  # training clips drawn per training glyph (different positions, directions)


@dataclass(frozen=True)
class RecogniserSpec:
    """A video classifier on (B, T, 1, H, W) clips in [0, 1]. ``kind``: ``conv3d`` (the recogniser
    under attack) or ``r2plus1d`` (factorised space/time convolutions: the transfer surrogate)."""

    kind: str = one_of(("conv3d", "r2plus1d"), "conv3d")
    width: int = bounded(16, ge=1)
    epochs: int = 12
    lr: float = 3e-3
    batch_size: int = 64


@dataclass(frozen=True)
class UNetSpec:
    """A diffusers ``UNet2DModel`` denoising one frame (the fields the kit varies)."""

    sample_size: int = 12  # = the canvas
    block_out_channels: tuple[int, ...] = (16, 32)
    layers_per_block: int = 1
    norm_num_groups: int = 8


@dataclass(frozen=True)
class VideopureConfig(RunConfig):
    paper: ClassVar[str] = "videopure"

    # One thread: a tiny UNet gains little from a second one on a shared 2-core machine.
    threads: int = 1

    # frames: PNG frame folders (data_manifests/ucf101_frames.yaml)
    data_source: str = one_of(("moving_digits", "frames"), "moving_digits")
    frame_classes: int = 101  # the frame folders' class count (UCF-101); the data step checks it
    video: VideoSpec = field(default_factory=VideoSpec)
    test_fraction: float = 0.25
    validation_fraction: float = 0.15  # of the training glyphs: the gates' clips (never the test split)
    recogniser: RecogniserSpec = field(default_factory=RecogniserSpec)
    surrogate: RecogniserSpec = field(default_factory=lambda: RecogniserSpec(kind="r2plus1d", width=12, epochs=8))
    unet: UNetSpec = field(default_factory=UNetSpec)
    # the DDPM, trained in place on frames; only timesteps below `train_t_max` are sampled (the
    # purifiers never go deeper than `inversion_steps` grid steps)
    num_train_timesteps: int = 1000
    train_t_max: int = 300
    diffusion_steps: int = 400
    diffusion_lr: float = 2e-3
    diffusion_batch_size: int = 64
    # the purifiers (every rung starts from the same depth)
    ddim_steps: int = 50  # DDIM grid over the 1000 timesteps (VideoPure: 50)
    inversion_steps: int = 6  # grid steps inverted (VideoPure's code: t = 5, loops of t + 1: timesteps 0..100)
    diffpure_steps: int = 11  # DDPM ancestral steps from the same depth (DiffPure's code runs all 101)
    time_full_diffpure: bool = True  # also time DiffPure on every timestep (clean clips; a table row)
    guidance: str = one_of(GUIDANCE, "official")  # the guided step; descent: the kit's earlier reading (an ablation)
    w_rec: float = 800.0  # VideoPure's code
    w_tc: float = 5.0  # VideoPure's code
    # the element counts VideoPure's code averages its loss over (a ModelScope latent clip: 32 frames of
    # 4 x 32 x 42), so each element's step is the code's; 0: the miniature clip's own (the mean read literally)
    reference_frames: int = 32
    reference_frame_elements: int = 4 * 32 * 42
    max_shift: int = 2  # the flow estimator's search window (pixels per frame)
    # attacks: L_inf PGD (VideoPure's code: eps 4/255, step 2/255, 10 iterations) and one larger eps
    eps: tuple[float, ...] = (4 / 255, 16 / 255)
    step_size: float = bounded(2 / 255, gt=0)
    attack_steps: int = 10
    eot_samples: int = bounded(2, ge=1)  # purifications averaged per BPDA gradient (EOT over the purifier's noise)
    rungs: tuple[str, ...] = one_of(RUNGS, RUNGS)
    # the adaptive attack runs where a claim compares
    bpda_rungs: tuple[str, ...] = one_of(RUNGS, ("diffpure", "videopure"))
    bpda_eps: tuple[float, ...] = (16 / 255,)
    transfer_eps: tuple[float, ...] = (16 / 255,)
    # Seed i attacks and purifies the i-th block of n_eval test clips (stratified: the test clips cycle
    # through the classes), with its own attack starts and purification noise; the recognisers and the
    # DDPM are trained once (data_seed), so the claims' intervals cover clips, not retraining.
    n_eval: int = 20

    def __post_init__(self) -> None:
        # seeds, counts, sizes, learning rates, the bounded() and one_of() fields (here and in the specs):
        # repro.core.config.check_values; then what relates fields to each other
        super().__post_init__()
        if len(self.video.digits) < 1 or len(set(self.video.digits)) != len(self.video.digits):
            raise ConfigError(f"video.digits must be non-empty and unique, got {self.video.digits}")
        if not set(self.video.digits) <= set(range(10)):
            raise ConfigError(f"video.digits must lie in 0..9, got {self.video.digits}")
        if self.unet.sample_size != self.video.canvas:
            raise ConfigError(
                f"unet.sample_size ({self.unet.sample_size}) must equal video.canvas ({self.video.canvas})"
            )
        if self.inversion_steps >= self.ddim_steps:
            raise ConfigError(f"inversion_steps ({self.inversion_steps}) must be < ddim_steps ({self.ddim_steps})")
        if self.diffpure_steps > self.depth + 1:
            raise ConfigError(
                f"diffpure_steps ({self.diffpure_steps}) exceeds the {self.depth + 1} timesteps of depth {self.depth}"
            )
        if self.reference_frames < 0 or self.reference_frame_elements < 0:
            raise ConfigError("reference_frames and reference_frame_elements must be >= 0 (0: the clip's own)")
        if not 0 < self.validation_fraction < 1 or self.validation_fraction + self.test_fraction >= 1:
            raise ConfigError(f"validation_fraction must lie in (0, 1 - test_fraction), got {self.validation_fraction}")
        if not 0 < self.train_t_max <= self.num_train_timesteps:
            raise ConfigError(f"train_t_max must lie in (0, num_train_timesteps], got {self.train_t_max}")
        if not set(self.bpda_rungs) <= set(self.rungs):
            raise ConfigError(f"bpda_rungs {self.bpda_rungs} must be among rungs {self.rungs}")
        if not set(self.bpda_eps) | set(self.transfer_eps) <= set(self.eps):
            raise ConfigError(f"bpda_eps and transfer_eps must be among eps {self.eps}")
        if any(not 0 < e < 1 for e in self.eps):
            raise ConfigError(f"eps must lie in (0, 1), got {self.eps}")

    @property
    def n_classes(self) -> int:
        return self.frame_classes if self.data_source == "frames" else 2 * len(self.video.digits)

    @property
    def depth(self) -> int:
        """The DDPM timestep every purifier starts from: the last of ``inversion_steps`` grid timesteps
        0, s, 2s, ... (diffusers' DDIMInverseScheduler), s = num_train_timesteps // ddim_steps."""
        return (self.inversion_steps - 1) * (self.num_train_timesteps // self.ddim_steps)


SMOKE_VIDEO = VideoSpec(frames=3, clips_per_glyph=1)

PROFILES = {
    # smoke: every code path once, in seconds (the DDPM is barely trained: purified clips are blurry)
    "smoke": lambda: VideopureConfig(
        profile="smoke",
        seeds=(0,),
        video=SMOKE_VIDEO,
        recogniser=RecogniserSpec(epochs=1),
        surrogate=RecogniserSpec(kind="r2plus1d", width=8, epochs=1),
        unet=UNetSpec(block_out_channels=(8, 16)),
        diffusion_steps=10,
        diffusion_batch_size=32,
        inversion_steps=2,
        diffpure_steps=3,
        attack_steps=2,
        eot_samples=1,
        n_eval=4,
    ),
    # cpu: the miniature reproduction (sized by a pilot; see docs/papers/videopure.md for timings)
    "cpu": lambda: VideopureConfig(profile="cpu", seeds=(0, 1, 2)),
    # gpu: more clips, more seeds, the full EOT and DiffPure running every timestep from its depth
    "gpu": lambda: VideopureConfig(
        profile="gpu",
        seeds=(0, 1, 2, 3, 4),
        device="auto",
        threads=2,
        video=VideoSpec(frames=8, canvas=16, clips_per_glyph=4),
        unet=UNetSpec(sample_size=16, block_out_channels=(32, 64)),
        diffusion_steps=4000,
        diffusion_batch_size=256,
        diffpure_steps=101,
        eot_samples=8,
        bpda_rungs=RUNGS[1:],
        bpda_eps=(4 / 255, 16 / 255),
        transfer_eps=(4 / 255, 16 / 255),
        n_eval=40,
    ),
    # paper: UCF-101 as frame folders through data_manifests/ucf101_frames.yaml (VideoPure evaluates
    # UCF-101 clips of 32 frames; grey and 32x32 here, the DDPM and recognisers trained in place);
    # DiffPure on all 101 timesteps as in DiffPure's code. Without the frames, the data step stops with
    # the manifest's instructions.
    "paper": lambda: VideopureConfig(
        profile="paper",
        seeds=(0, 1, 2),
        device="auto",
        threads=4,
        data_source="frames",
        video=VideoSpec(frames=32, canvas=32),
        recogniser=RecogniserSpec(width=32, epochs=30),
        surrogate=RecogniserSpec(kind="r2plus1d", width=32, epochs=30),
        unet=UNetSpec(sample_size=32, block_out_channels=(64, 128, 128), norm_num_groups=32),
        diffusion_steps=50000,
        diffusion_batch_size=256,
        diffpure_steps=101,
        eot_samples=8,
        bpda_rungs=("diffpure", "videopure"),
        bpda_eps=(4 / 255, 16 / 255),
        transfer_eps=(4 / 255, 16 / 255),
        n_eval=200,
    ),
}


def config(profile: str = "smoke", **overrides) -> VideopureConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    return make_config(PROFILES, profile, **overrides)
