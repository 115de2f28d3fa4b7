"""MGTIL's profiles. ``config("cpu")`` is what ``./run_all.sh`` runs; see ``docs/papers/mgtil.md``.

    >>> from repro import mgtil
    >>> cfg = mgtil.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

Miniature choices (the paper leaves them open or works at a scale we cannot; each is a field):
a 16x16 procedural world of four imaging domains; a tiny CLIP (2 layers, width 64) pretrained
contrastively on the caption database; Adam at lr 3e-4 for every continual method (the paper's 1e-5
is for a pretrained ViT-B/16), the same steps and task batches for every arm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from repro.core.config import ConfigError, RunConfig, bounded, make_config, one_of

METHODS = (
    "zeroshot",
    "finetune",
    "l2",
    "lwf",
    "zscl",
    "ours_uniform",
    "ours",
    "ours_no_ckt",
    "ours_no_cmc",
    "ours_no_dfg",
)
CPU_METHODS = ("zeroshot", "finetune", "l2", "zscl", "ours_uniform", "ours", "ours_no_ckt")
REFERENCE_MODES = ("dynamic", "equal", "uniform")
DATA_SOURCES = ("procedural", "released")


@dataclass(frozen=True)
class ClipSpec:
    """The tiny CLIP (a ``transformers`` CLIPModel): both towers share width and depth."""

    image_size: int = 16
    patch_size: int = 4
    width: int = bounded(64, ge=1)
    layers: int = bounded(2, ge=1)
    heads: int = 4
    embed_dim: int = 64
    max_words: int = bounded(12, ge=1)
    mid_layer: int = 1  # the shallower depth indexed for multi-layer retrieval


@dataclass(frozen=True)
class WorldSpec:
    """The procedural world (``repro.mgtil.world``)."""

    database_size: int = 4000
    attribute_rate: float = 0.3  # share of database captions that name the fine attribute (size)
    n_train: int = 256  # per task
    n_test: int = 100  # per task (the same for every task, so per-example means are per-task means)
    n_val: int = 100  # per task, drawn like the test split: weights are tuned and gates measured here
    shift: float = 0.4  # acquisition shift of the task images (difficulty knob; the control uses 0)


@dataclass(frozen=True)
class RetrievalSpec:
    """The retrieval pipeline and the three siphon budgets (``repro.mgtil.retrieval``)."""

    budget: int = bounded(192, ge=1)  # reference pairs per task, for every distilling method alike
    k_prime: int = bounded(32, ge=1)  # candidates kept per search: similarity >= the k'-th largest unique value
    rerank_keep: int = bounded(48, ge=1)  # per query, after the VLM rerank
    exemplars: int = bounded(4, ge=1)  # current-task training images used as image queries
    # dynamic | equal (three equal budgets) | uniform (random database sample)
    mode: str = one_of(REFERENCE_MODES, "dynamic")
    ivf_threshold: int = 20_000  # exact inner-product index below this many pairs, IVF above


@dataclass(frozen=True)
class LossSpec:
    """Weights of every continual method's terms (``repro.mgtil.method`` and ``baselines``). The
    weight each method's name lists in ``TUNED`` (l2's lambda, LwF's and ZSCL's distillation weight,
    ours' DFG gamma) is not this default in a run: the train step picks it on the validation split
    (:mod:`repro.mgtil.tuning`), every method over the same grid and the same pilot runs. The others
    are the papers' (T = 2, ZSCL's official ``--l2 1``) or 1."""

    alpha: float = 1.0  # CKT
    beta: float = 1.0  # CMC
    gamma: float = 1.0  # DFG (importances normalised to mean 1): tuned
    temperature: float = 2.0  # distillation temperature (ZSCL's T = 2, used by LwF and CKT too)
    l2: float = 100.0  # l2 baseline: weight of sum (theta - theta_{t-1})^2: tuned
    lwf: float = 1.0  # tuned
    zscl: float = 1.0  # ZSCL's distillation weight: tuned
    zscl_l2: float = 1.0  # ZSCL's official weight constraint (--l2 1), to the weights the task began with
    we_every: int = 1  # ZSCL weight ensembling: average every n updates (official avg_freq)


TUNED = {"l2": "l2", "lwf": "lwf", "zscl": "zscl", "ours": "gamma"}  # method -> the LossSpec weight tuned
# one grid for every tuned weight, wide enough that each choice lies inside it (the cpu golden's
# one-seed pilots: l2 peaks at 100-1000 and falls at 10^4, ZSCL at 0.1-1 and falls at 0.01)
UNIFORM_GRID = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)


@dataclass(frozen=True)
class MgtilConfig(RunConfig):
    paper: ClassVar[str] = "mgtil"

    threads: int = 1  # tiny models on a shared 2-core machine: one intra-op thread is faster
    # procedural: the miniature's world (repro.mgtil.world); released: MedMNIST task splits and PMC-OA
    # captions through data_manifests/medmnist.yaml and pmc_oa.yaml (repro.mgtil.data.released_world)
    data_source: str = one_of(DATA_SOURCES, "procedural")
    clip: ClipSpec = field(default_factory=ClipSpec)
    world: WorldSpec = field(default_factory=WorldSpec)
    retrieval: RetrievalSpec = field(default_factory=RetrievalSpec)
    loss: LossSpec = field(default_factory=LossSpec)
    orders: tuple[str, ...] = ("order1",)  # the first is the main stream the claims read
    methods: tuple[str, ...] = one_of(METHODS, METHODS)
    second_order_methods: tuple[str, ...] = one_of(METHODS, ("l2", "zscl", "ours"))  # also run on orders[1:]
    control_methods: tuple[str, ...] = one_of(METHODS, ())  # also run on the no-shift stream (no claim reads it)
    tuning_grid: tuple[float, ...] = UNIFORM_GRID  # every tuned weight, alike (TUNED)
    pilot_seeds: tuple[int, ...] = (
        100,
        101,
    )  # the tuning runs' seeds (every method's), apart from the evaluation seeds
    pretrain_epochs: int = 12
    pretrain_lr: float = 2e-3
    steps_per_task: int = bounded(20, ge=1)
    batch_size: int = 32
    ref_batch: int = 32
    lr: float = 3e-4

    def __post_init__(self) -> None:
        # seeds, counts and sizes (here and in the specs: the name rule or bounded()), lr and
        # pretrain_lr, the one_of() names: repro.core.config.check_values; then what relates fields
        super().__post_init__()
        if self.clip.image_size % self.clip.patch_size or self.clip.width % self.clip.heads:
            raise ConfigError("clip.image_size must be a multiple of patch_size, clip.width of heads")
        if not 1 <= self.clip.mid_layer <= self.clip.layers:
            raise ConfigError(f"clip.mid_layer must lie in [1, {self.clip.layers}]")
        released = self.data_source == "released"
        if ("medmnist" in self.orders) != released or (released and self.orders != ("medmnist",)):
            raise ConfigError("the medmnist order is the released data's only order, and it reads released data only")
        if released and self.control_methods:
            raise ConfigError("control_methods need the procedural world (released data have no unshifted stream)")
        from repro.mgtil.world import ORDERS

        if not self.orders or set(self.orders) - set(ORDERS):
            raise ConfigError(f"orders must be a non-empty subset of {tuple(ORDERS)}, got {self.orders}")
        if not self.tuning_grid or min(self.tuning_grid) < 0 or not self.pilot_seeds:
            raise ConfigError("tuning_grid needs non-negative weights and pilot_seeds at least one seed")
        if set(self.pilot_seeds) & set(self.seeds):
            raise ConfigError("pilot_seeds must differ from seeds: tuning runs are not evaluation runs")
        if not {"zeroshot", "finetune"} <= set(self.methods):
            raise ConfigError("methods must include zeroshot and finetune: the gates are measured on them")


PROFILES = {
    # smoke: every code path once, in seconds (tiny world, a few steps, one seed)
    "smoke": lambda: MgtilConfig(
        profile="smoke",
        seeds=(0,),
        world=WorldSpec(database_size=384, n_train=32, n_test=16, n_val=16),
        retrieval=RetrievalSpec(budget=32, k_prime=8, rerank_keep=8, exemplars=2),
        methods=("zeroshot", "finetune", "l2", "lwf", "zscl", "ours_uniform", "ours", "ours_no_ckt"),
        orders=("order1", "order2"),
        second_order_methods=("ours",),
        tuning_grid=(1.0, 10.0, 100.0),  # the tuning path once, not the grid
        pilot_seeds=(100,),
        pretrain_epochs=2,
        steps_per_task=2,
        batch_size=16,
        ref_batch=16,
    ),
    # cpu: the miniature reproduction on order I (five seeds share one pretrained CLIP, as they
    # would share BiomedCLIP; the claims pair arms on seeds and test images), after two pilot runs
    # per grid value and tuned method on validation (42: l2, ZSCL, PRIMED x 7 weights x 2 seeds).
    # LwF, the CMC and DFG ablations and order II run in the smoke and gpu profiles: no claim reads them.
    "cpu": lambda: MgtilConfig(
        profile="cpu",
        seeds=(0, 1, 2, 3, 4),
        methods=CPU_METHODS,
        orders=("order1",),
        second_order_methods=(),
    ),
    # gpu: a larger world, longer tasks, more seeds and both orders for every method
    "gpu": lambda: MgtilConfig(
        profile="gpu",
        seeds=(0, 1, 2, 3, 4),
        device="auto",
        mixed_precision="bf16",
        clip=ClipSpec(image_size=24, width=128, layers=4, heads=4, embed_dim=128, mid_layer=2),
        world=WorldSpec(database_size=30_000, n_train=1024, n_test=400, n_val=400),
        retrieval=RetrievalSpec(budget=1024, k_prime=128, rerank_keep=96, exemplars=16),
        orders=("order1", "order2"),
        second_order_methods=METHODS,
        pretrain_epochs=30,
        steps_per_task=300,
        batch_size=128,
        ref_batch=128,
    ),
    # paper: the released data through their manifests (MedMNIST's six 28x28 subsets as the task
    # stream, 200k PMC-OA pairs as the database), at the gpu profile's model and schedule with 28x28
    # images and 32-word captions. Not the paper's model: no BiomedCLIP, a CLIP pretrained in place on
    # the sampled pairs. Without the files, the data step stops with the manifests' instructions.
    "paper": lambda: MgtilConfig(
        profile="paper",
        data_source="released",
        seeds=(0, 1, 2),
        device="auto",
        mixed_precision="bf16",
        clip=ClipSpec(image_size=28, width=128, layers=4, heads=4, embed_dim=128, max_words=32, mid_layer=2),
        world=WorldSpec(database_size=200_000, n_train=1000, n_val=120, n_test=400),
        retrieval=RetrievalSpec(budget=1024, k_prime=128, rerank_keep=96, exemplars=16),
        orders=("medmnist",),
        second_order_methods=(),
        pretrain_epochs=10,
        steps_per_task=300,
        batch_size=128,
        ref_batch=128,
    ),
}


def config(profile: str = "smoke", **overrides) -> MgtilConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    return make_config(PROFILES, profile, **overrides)
