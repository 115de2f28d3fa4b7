"""dFLMoE with one process per client: heads travel point to point over ``torch.distributed`` (gloo).

    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 3 -m repro.dflmoe.distributed \\
        --profile smoke --set n_clients=3 --partition digits-a0.5 --out /tmp/dflmoe-3ranks.json

(``accelerate launch --multi_gpu --num_processes 3 -m repro.dflmoe.distributed ...`` works the same;
on CPU, ``--cpu`` would silently start one process.) The world size must equal
``n_clients``. Each rank builds the same partition, trains its own client with the engine of
:mod:`repro.dflmoe.federation` (a group of one) and, each round, ``isend``s its head to its
out-neighbours in the peer graph and ``irecv``s its in-neighbours' heads; the shared seeded drop
model then decides which arrivals count, exactly as in :func:`repro.dflmoe.federation.simulate`,
so the two paths give the same result (``tests/dflmoe/test_distributed.py``). Rank 0 writes the
run's result as JSON. Introduced in ``notebooks/dflmoe/03_train.ipynb``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

import numpy as np
import torch
import torch.distributed as dist

from repro.core.cli import parse_overrides
from repro.core.steps import write_json
from repro.dflmoe.config import DflmoeConfig
from repro.dflmoe.data import Task
from repro.dflmoe.federation import Federation, Params, Transport, build_groups, peer_graph, run_rounds
from repro.dflmoe.method import make_method
from repro.dflmoe.models import client_specs
from repro.dflmoe.runs import faults


class PeerTransport(Transport):
    """One client per rank; messages are flat float32 tensors sent with ``isend``/``irecv``."""

    def __init__(self):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.bytes_sent = 0  # counted from the buffers handed to isend (checked against the method's count)

    def gather(self, fed: Federation, local: Params, edges: np.ndarray) -> Params:
        names = sorted(local)
        shapes = [local[k].shape[1:] for k in names]
        mine = torch.cat([local[k][0].reshape(-1) for k in names]).contiguous()
        inbox = {i: torch.empty_like(mine) for i in np.flatnonzero(edges[:, self.rank])}
        requests = [dist.isend(mine, int(j)) for j in np.flatnonzero(edges[self.rank])]
        requests += [dist.irecv(buf, int(i)) for i, buf in inbox.items()]
        for req in requests:
            req.wait()
        self.bytes_sent += mine.numel() * mine.element_size() * int(edges[self.rank].sum())
        rows = torch.zeros(fed.n_clients, mine.numel())
        rows[self.rank] = mine
        for i, buf in inbox.items():
            rows[i] = buf
        out, start = {}, 0
        for k, shape in zip(names, shapes):
            size = int(np.prod(shape))
            out[k] = rows[:, start : start + size].reshape(fed.n_clients, *shape)
            start += size
        return out

    def everyone(self, local: dict[int, float]) -> dict[int, float]:
        parts: list = [None] * self.world
        dist.all_gather_object(parts, local)
        return {k: v for part in parts for k, v in part.items()}

    def total(self, value: int) -> int:
        t = torch.tensor([value], dtype=torch.long)
        dist.all_reduce(t)
        return int(t.item())


def run(cfg: DflmoeConfig, task: Task, seed: int, fault: str | None, graph: str, hetero: bool = False) -> dict | None:
    """This rank's client trained for ``cfg.rounds`` (the entry point, as a step is: it reads the
    profile and hands its values on); the whole run's result on rank 0 (None elsewhere)."""
    rank, n = dist.get_rank(), len(task.clients)
    if dist.get_world_size() != n:
        raise ValueError(f"world size {dist.get_world_size()} != {n} clients: start one process per client")
    specs = client_specs(n, cfg.model.hidden, hetero, task.image_shape is not None)
    method = make_method("dflmoe", n, moe_alpha=cfg.moe_alpha, prox_mu=cfg.prox_mu, proto_lambda=cfg.proto_lambda)
    transport = PeerTransport()
    dims, shared_init = cfg.model, len(set(specs)) == 1
    groups = build_groups(task, specs, [rank], seed, dims.feature_dim, n, dims.attn_dim, shared_init=shared_init,
                          transform=dims.transform, rank=dims.rank)  # fmt: skip
    fed = Federation(task, groups, n, method, cfg.schedule, seed, peer_graph(n, graph), transport=transport)
    result = asdict(run_rounds(fed, faults(cfg, fault)))
    mine = {k: result[k] for k in ("correct", "prob_pos", "labels", "client_acc", "val_acc", "gate", "budget")}
    mine["bytes_counted"] = transport.bytes_sent
    parts: list = [None] * n
    dist.all_gather_object(parts, mine)
    if rank != 0:
        return None
    for key in ("correct", "prob_pos", "labels", "client_acc", "val_acc", "gate"):
        result[key] = [v for part in parts for v in (part[key] or [])]
    result["budget"] = {
        "optimizer_steps": sum(p["budget"]["optimizer_steps"] for p in parts),
        "forward_samples": {
            k: sum(p["budget"]["forward_samples"][k] for p in parts) for k in parts[0]["budget"]["forward_samples"]
        },
        "wall_s": max(p["budget"]["wall_s"] for p in parts),
    }
    result["bytes_sent_by_ranks"] = sum(p["bytes_counted"] for p in parts)
    result["world_size"] = n
    return result


def main(argv: list[str] | None = None) -> int:
    from repro.core.runtime import configure
    from repro.dflmoe import config
    from repro.dflmoe.runs import build_tasks

    parser = argparse.ArgumentParser(prog="python -m repro.dflmoe.distributed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--partition", default=None, help="task name, e.g. digits-a0.5 (default: the main one)")
    parser.add_argument("--seed", type=int, default=None, help="default: the profile's first seed")
    parser.add_argument("--fault", default=None, choices=(None, "drops+lost"))
    parser.add_argument("--graph", default=None, choices=(None, "all", "ring"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg = config(args.profile, **parse_overrides(args.set))
    configure(cfg)
    dist.init_process_group("gloo")
    try:
        from repro.dflmoe.runs import main_task

        seed = cfg.seeds[0] if args.seed is None else args.seed
        task = build_tasks(cfg, seed)[args.partition or main_task(cfg)]
        result = run(cfg, task, seed, args.fault, args.graph or cfg.graph)
        if result is not None:
            write_json(args.out, result)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
