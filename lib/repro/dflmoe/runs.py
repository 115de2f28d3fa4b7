"""The run matrix: which (data, bodies, method, faults, graph) the train step simulates, trimmed to
what the claims and the table compare (trim the matrix, not the claims: see ``docs/design.md``).
Introduced in ``notebooks/dflmoe/03_train.ipynb``.

Each :class:`Run` is an arm (``repro.core.arms.Arm``: ``<method>[/hetero][/ring]`` under an optional
fault condition, named ``<method>[/hetero][/ring][@fault]``) measured on one partition (its metric):
all arms of a metric share the same test examples, so claims are paired.
"""

from __future__ import annotations

from dataclasses import dataclass

from repro.core.arms import Arm
from repro.dflmoe.config import DflmoeConfig
from repro.dflmoe.data import Task, breakhis_task, breast_cancer_task, digits_task, wdbc_task
from repro.dflmoe.federation import Faults

DROPS = "drops+lost"
OUTAGE = "server_down"
ISOLATED = "isolated"  # every peer message dropped: the control that dFLMoE then equals local training
SERVERLESS = ("local", "dpsgd", "dflmoe")


@dataclass(frozen=True)
class Run:
    """One row of the run matrix: ``arm`` (whose name keys the scores) simulated with ``method``
    (heterogeneous bodies or not, on a peer ``graph``, under a ``fault`` or none) and scored on the
    partition ``metric``."""

    metric: str  # the partition (task name) it is scored on
    arm: Arm
    method: str
    hetero: bool = False
    graph: str = "all"
    fault: str | None = None

    @property
    def name(self) -> str:
        return self.arm.name


def digits_name(alpha: float) -> str:
    return f"digits-a{alpha:g}"


def main_task(cfg: DflmoeConfig) -> str:
    """The partition the faults, the heterogeneous bodies and the sparse graph run on."""
    return digits_name(cfg.fault_alpha) if cfg.data_source == "digits" else cfg.data_source


def faults(cfg: DflmoeConfig, fault: str | None, method: str | None = None) -> Faults:
    """The fault model of ``fault`` for ``method``. The outage takes one node down for the last
    ``server_down_rounds`` rounds: FedAvg's server, or for a serverless method (which has none) the
    peer ``lost_client``, which keeps training alone and rejoins nothing (the run ends)."""
    if fault is None:
        return Faults()
    if fault == DROPS:
        return Faults(drop_rate=cfg.drop_rate, lost_client=cfg.lost_client, lost_round=cfg.lost_round)
    if fault == OUTAGE:
        window = (cfg.server_down_start, cfg.server_down_start + cfg.server_down_rounds)
        if method in SERVERLESS:
            return Faults(lost_client=cfg.lost_client, lost_round=window[0], lost_until=window[1])
        return Faults(server_down=window)
    if fault == ISOLATED:
        return Faults(drop_rate=1.0)
    raise ValueError(f"unknown fault {fault!r}")


def arms(cfg: DflmoeConfig) -> list[Run]:
    """Every run of the profile's matrix (the real-data profile runs one partition)."""
    main = main_task(cfg)
    out = []
    partitions = [digits_name(a) for a in cfg.alphas] if cfg.data_source == "digits" else [main]
    for metric in partitions:
        out += [Run(metric, Arm(m), m, graph=cfg.graph) for m in cfg.methods]
    out += [Run(main, Arm(f"{m}/hetero"), m, hetero=True, graph=cfg.graph) for m in cfg.hetero_methods]
    if "dflmoe" in cfg.methods and cfg.graph == "all":
        out.append(Run(main, Arm("dflmoe/ring"), "dflmoe", graph="ring"))
    out += [Run(main, Arm(m, DROPS), m, graph=cfg.graph, fault=DROPS) for m in cfg.fault_methods]
    out += [Run(main, Arm(m, OUTAGE), m, graph=cfg.graph, fault=OUTAGE) for m in cfg.fault_methods if m != "local"]
    if "dflmoe" in cfg.control_methods and "local" in cfg.methods:
        out.append(Run(main, Arm("dflmoe", ISOLATED), "dflmoe", graph=cfg.graph, fault=ISOLATED))
    if cfg.data_source == "digits":
        iid = digits_name(cfg.iid_alpha)
        out += [Run(iid, Arm(m), m) for m in cfg.control_methods]
        out += [Run("breast_cancer", Arm(m), m) for m in cfg.breast_cancer_methods]
    return out


def aliases(cfg: DflmoeConfig) -> dict[tuple[str, str], str]:
    """Local training under an outage is the same computation as without one (it sends nothing):
    reuse its fault-free run. Every other method's outage arm is run (:func:`faults`)."""
    main = main_task(cfg)
    return (
        {(main, Arm("local", OUTAGE).name): "local"} if "local" in cfg.fault_methods and "local" in cfg.methods else {}
    )


def partition_seed(data_seed: int, seed: int) -> int:
    """The partition follows the run's seed, so the interval over seeds includes the partition's
    variance (seed 0 keeps the ``data_seed`` partition)."""
    return data_seed + 7919 * seed


def build_tasks(cfg: DflmoeConfig, seed: int) -> dict[str, Task]:
    """Every partition the run matrix scores on, drawn for one seed."""
    at = partition_seed(cfg.data_seed, seed)
    if cfg.data_source == "image_folder":
        tasks = [breakhis_task(cfg.n_clients, cfg.test_fraction, cfg.image_size, at)]
    elif cfg.data_source == "csv":
        tasks = [wdbc_task(cfg.n_clients, cfg.test_fraction, cfg.feature_shift, at)]
    else:
        alphas = (*cfg.alphas, *((cfg.iid_alpha,) if cfg.control_methods else ()))
        tasks = [digits_task(a, cfg.n_clients, cfg.test_fraction, at, cfg.min_client_size) for a in alphas]
        if cfg.breast_cancer_methods:
            tasks.append(breast_cancer_task(cfg.n_clients, cfg.test_fraction, cfg.feature_shift, at))
    return {t.name: t for t in tasks}
