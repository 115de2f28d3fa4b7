"""dFLMoE's profiles. ``config("cpu")`` is what ``./run_all.sh`` runs; see the README for timings.

    >>> from repro import dflmoe
    >>> cfg = dflmoe.config("smoke", rounds=2)
    >>> cfg.run_name.startswith("smoke+")
    True

Miniature choices (the paper leaves them open; each is a field, so it can be switched; see
``docs/papers/dflmoe.md``):
8 clients; sklearn digits (1797 x 64, scaled to [0, 1]) split by Dirichlet label skew, each client's
share then split 80/20; plain SGD (no momentum, so a client with no batch left in a vectorised step
is an exact no-op) with the same learning rate, rounds, local epochs, batch size and per-client data
order for every method; the MoE loss weight ``moe_alpha`` = 0.5 and a 16-d attention gate
(reconstruction: the paper does not give them).

Device: the federated engine runs on the CPU in every profile (``device="cpu"``). Eight clients with
6k-parameter bodies are launch-bound on a GPU (see ``docs/design.md``), and the engine is plain
``torch.func`` SGD rather than ``repro.core.train.fit``; ``gpu`` is the larger miniature (50 rounds,
5 seeds) for a machine with more time, and ``paper`` the real data with the same engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from repro.core.config import ConfigError, RunConfig, make_config, one_of

METHODS = ("local", "fedavg", "fedprox", "fedper", "fedrep", "lg_fedavg", "fedproto", "dpsgd", "dflmoe")
# methods that average whole models need one body architecture for all clients
HOMOGENEOUS_ONLY = ("fedavg", "fedprox", "fedper", "fedrep", "dpsgd")
GRAPHS = ("all", "ring")
TRANSFORMS = ("full", "diagonal", "lowrank", "none")  # how a peer's head sees the local feature (models.moe_logits)
DATASETS = ("digits", "breast_cancer", "image_folder", "csv")


@dataclass(frozen=True)
class Schedule:
    """What every method trains with alike (:mod:`repro.dflmoe.federation`): ``rounds`` rounds of
    ``local_epochs`` plain-SGD epochs at ``lr`` on batches of ``batch_size``, evaluated every
    ``eval_every`` rounds and after the last."""

    rounds: int
    local_epochs: int
    batch_size: int
    lr: float
    eval_every: int = 1


@dataclass(frozen=True)
class ModelSpec:
    """The widths every client's model shares (:mod:`repro.dflmoe.models`): each body emits
    ``feature_dim`` features and each head is ``Linear(feature_dim, classes)``, one shape for all
    clients so heads can be exchanged; ``hidden`` is the homogeneous MLP body's width (the
    heterogeneous bodies are derived from it); ``attn_dim`` is the MoE gate's query/key size;
    ``transform`` how each expert sees the local feature (:data:`TRANSFORMS`; ``rank`` for
    "lowrank"). The paper describes a lightweight per-expert feature-space transform without its
    form; "diagonal" (a per-feature scale and shift per expert) is the lightest that aligns feature
    scales and keeps each received head's decision rule. A "full" d x d map (the kit's earlier
    default) lets ``W_k T_k`` be any map, so a peer's frozen head constrains nothing."""

    feature_dim: int = 32
    hidden: int = 64
    attn_dim: int = 16
    transform: str = one_of(TRANSFORMS, "diagonal")
    rank: int = 4


@dataclass(frozen=True)
class DflmoeConfig(RunConfig):
    paper: ClassVar[str] = "dflmoe"

    threads: int = 1  # the models are tiny: a second intra-op thread only fights the other processes

    # data: partitions over clients
    # digits (sklearn) | image_folder / csv (paper profile, $REPRO_DATA_DIR)
    data_source: str = one_of(DATASETS, "digits")
    n_clients: int = 8
    alphas: tuple[float, ...] = (0.1, 0.5)  # Dirichlet label skew; smaller = more skewed
    iid_alpha: float = 100.0  # the control's near-IID partition
    min_client_size: int = 25  # resample the Dirichlet draw until every client holds this many
    test_fraction: float = 0.2  # per client
    feature_shift: float = 0.5  # breast cancer: strength of each site's feature transform (difficulty knob)
    image_size: int = 32  # image_folder: side of the grey image a CNN body sees
    model: ModelSpec = field(default_factory=ModelSpec)
    # training: identical for every method
    rounds: int = 20
    local_epochs: int = 2
    batch_size: int = 32
    # plain SGD; in a dev run 0.5 was unstable (local and FedRep swung by 10 points), 0.1 had not converged in 20 rounds
    lr: float = 0.3
    moe_alpha: float = 0.5  # loss = alpha * CE(local head) + (1 - alpha) * CE(MoE)
    prox_mu: float = 0.01  # FedProx
    proto_lambda: float = 1.0  # FedProto
    # 1 head + E body epochs as PFLlib | "split": E split between them (baselines.py)
    fedrep_form: str = one_of(("pfllib", "split"), "pfllib")
    # unweighted prototypes, nearest-prototype prediction | "weighted": counts, head
    fedproto_form: str = one_of(("pfllib", "weighted"), "pfllib")
    graph: str = one_of(GRAPHS, "all")  # dFLMoE / D-PSGD peer graph in the main runs: all | ring
    # run matrix (trimmed to what the claims compare, not the claims)
    methods: tuple[str, ...] = one_of(METHODS, METHODS)
    hetero_methods: tuple[str, ...] = one_of(METHODS, ("local", "lg_fedavg", "fedproto", "dflmoe"))
    # IID partition; with dflmoe also dflmoe@isolated
    control_methods: tuple[str, ...] = one_of(METHODS, ("local", "dflmoe"))
    breast_cancer_methods: tuple[str, ...] = one_of(METHODS, ("local", "fedavg", "fedrep", "dflmoe"))
    fault_methods: tuple[str, ...] = one_of(METHODS, ("fedavg", "dpsgd", "dflmoe"))
    fault_alpha: float = 0.5
    # faults: one seeded drop model for every method
    drop_rate: float = 0.3  # each message (peer-to-peer, upload, download) lost with this probability
    lost_client: int = 7  # disconnects (sends and receives nothing) from lost_round on; keeps training
    lost_round: int = 5
    # FedAvg's server answers nothing in the last server_down_rounds rounds; a serverless method loses
    # one peer (lost_client) for the same rounds instead: each system loses one node (runs.faults)
    server_down_start: int = 15
    server_down_rounds: int = 5
    eval_every: int = 1

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.rounds, self.local_epochs, self.batch_size, self.lr, self.eval_every)


PROFILES = {
    "smoke": lambda: DflmoeConfig(
        profile="smoke",
        seeds=(0,),
        rounds=4,
        local_epochs=1,
        lost_round=1,
        server_down_start=2,
        server_down_rounds=2,
        eval_every=2,
    ),
    # 5 seeds: the 3-seed design took 100 s on a quiet 2-core machine (it was sized while five jobs
    # shared the cores); the budget leaves room for tighter intervals.
    "cpu": lambda: DflmoeConfig(profile="cpu", seeds=(0, 1, 2, 3, 4)),
    "gpu": lambda: DflmoeConfig(
        profile="gpu",
        seeds=(0, 1, 2, 3, 4),
        rounds=50,
        local_epochs=2,
        lost_round=10,
        server_down_start=40,
        server_down_rounds=10,
        hetero_methods=("local", "lg_fedavg", "fedproto", "dflmoe"),
    ),
    # The paper's data (BreaKHis, class-per-folder images; data_manifests/breakhis.yaml): grey 32x32
    # images and tiny CNN bodies stand in for the paper's backbones.
    "paper": lambda: DflmoeConfig(
        profile="paper",
        seeds=(0, 1, 2),
        data_source="image_folder",
        image_size=32,
        model=ModelSpec(feature_dim=64, hidden=128),
        rounds=50,
        lost_round=10,
        server_down_start=40,
        server_down_rounds=10,
        breast_cancer_methods=(),
    ),
}


def config(profile: str = "smoke", **overrides) -> DflmoeConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    cfg = make_config(PROFILES, profile, **overrides)
    hetero_bad = sorted(set(cfg.hetero_methods) & set(HOMOGENEOUS_ONLY))
    if hetero_bad:
        raise ConfigError(f"hetero_methods {hetero_bad} average whole bodies and need one architecture")
    if not 0 <= cfg.lost_client < cfg.n_clients:
        raise ConfigError(f"lost_client {cfg.lost_client} is not one of the {cfg.n_clients} clients")
    if not 0.0 <= cfg.drop_rate < 1.0 or not 0.0 <= cfg.moe_alpha <= 1.0:
        raise ConfigError("drop_rate must lie in [0, 1) and moe_alpha in [0, 1]")
    return cfg
