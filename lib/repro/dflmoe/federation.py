"""The federated engine: clients as vectorised groups, local training, the drop model, the peer
graph, evaluation and the bytes on the wire. Introduced in ``notebooks/dflmoe/03_train.ipynb``.

One round, for every method alike: each client trains ``local_epochs`` on its own data (same
optimiser, same per-client data order: the permutation depends only on seed, client, round and
epoch), then the method communicates (``Method.communicate``): FedAvg-style methods through a
server, D-PSGD and dFLMoE along the peer graph. Every message goes through one seeded
:class:`Faults` model: node ``n`` is the server; a message ``i -> j`` in round ``r`` arrives when
``delivered(r)[i, j]``. Bytes are counted from the tensors a method sends (a message lost on the
way was still sent; a disconnected client or a dead server sends nothing).

Identical bodies are trained as one group with ``torch.func.vmap(grad(...))`` over stacked
parameters; a client that has no batch left in a step gets zero weights, zero gradient and (plain
SGD) no update, so vectorising changes nothing. :func:`simulate` runs a whole federation in one
process; :mod:`repro.dflmoe.distributed` runs the same :class:`Federation` with one client per rank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from repro.core.train import Budget
from repro.dflmoe.config import Schedule
from repro.dflmoe.data import Task
from repro.dflmoe.models import DEFAULT, Body, BodySpec, features, head_logits, init_params

Params = dict[str, torch.Tensor]


# ----------------------------------------------------------------------------------------------
# faults and graphs


@dataclass(frozen=True)
class Faults:
    """One drop model for every method: each message lost with ``drop_rate``; client ``lost_client``
    disconnected in rounds [``lost_round``, ``lost_until``) (for good when ``lost_until`` is None);
    the server (node n) dead in ``server_down`` = [start, stop)."""

    drop_rate: float = 0.0
    lost_client: int | None = None
    lost_round: int = 0
    server_down: tuple[int, int] | None = None
    lost_until: int | None = None

    def alive(self, n: int, rnd: int) -> np.ndarray:
        """(n+1, n+1) links that exist this round (structural faults only)."""
        ok = np.ones((n + 1, n + 1), dtype=bool)
        back = self.lost_until is not None and rnd >= self.lost_until
        if self.lost_client is not None and rnd >= self.lost_round and not back:
            ok[self.lost_client, :] = ok[:, self.lost_client] = False
        if self.server_down is not None and self.server_down[0] <= rnd < self.server_down[1]:
            ok[n, :] = ok[:, n] = False
        return ok

    def delivered(self, n: int, rnd: int, seed: int) -> np.ndarray:
        """(n+1, n+1) [sender, receiver]: the same draw for every method with this seed and round."""
        rng = np.random.default_rng([seed, 104729, rnd])
        return self.alive(n, rnd) & (rng.random((n + 1, n + 1)) >= self.drop_rate)


def peer_graph(n: int, kind: str) -> np.ndarray:
    """(n, n) directed edges without self loops: ``all`` (all-to-all) or ``ring`` (both neighbours)."""
    if kind == "all":
        return ~np.eye(n, dtype=bool)
    if kind == "ring":
        g = np.zeros((n, n), dtype=bool)
        idx = np.arange(n)
        g[idx, (idx + 1) % n] = g[idx, (idx - 1) % n] = True
        np.fill_diagonal(g, False)
        return g
    raise ValueError(f"unknown graph {kind!r}; valid: all, ring")


# ----------------------------------------------------------------------------------------------
# groups of identical bodies


@dataclass
class Group:
    """Clients with one body architecture: stacked parameters and padded data on a client axis."""

    spec: BodySpec
    body: Body
    ids: list[int]
    params: Params  # each (G, ...)
    x_train: list[torch.Tensor]
    y_train: list[torch.Tensor]
    x_test: torch.Tensor  # (G, T, D) padded
    y_test: torch.Tensor  # (G, T)
    test_mask: torch.Tensor  # (G, T) bool
    x_val: torch.Tensor  # (G, V, D) padded: each client's validation set (the gates read it)
    y_val: torch.Tensor
    val_mask: torch.Tensor
    state: dict[str, torch.Tensor] = field(default_factory=dict)  # method state per client, (G, ...)

    def batches(self, seed: int, rnd: int, epoch: int, batch_size: int) -> tuple[torch.Tensor, ...]:
        """(S, G, B, D) inputs, (S, G, B) labels and weights for one epoch; each client's order is its
        own permutation of its data (seeded by seed, client, round, epoch), padded with zero weights."""
        steps = max(math.ceil(len(y) / batch_size) for y in self.y_train)
        dim = self.x_train[0].shape[1]
        x = torch.zeros(steps, len(self.ids), batch_size, dim)
        y = torch.zeros(steps, len(self.ids), batch_size, dtype=torch.long)
        w = torch.zeros(steps, len(self.ids), batch_size)
        for g, client in enumerate(self.ids):
            rng = np.random.default_rng([seed, client, rnd, epoch])
            order = torch.from_numpy(rng.permutation(len(self.y_train[g])))
            n = len(order)
            flat = slice(0, n)
            xs = torch.zeros(steps * batch_size, dim)
            ys = torch.zeros(steps * batch_size, dtype=torch.long)
            ws = torch.zeros(steps * batch_size)
            xs[flat], ys[flat], ws[flat] = self.x_train[g][order], self.y_train[g][order], 1.0
            x[:, g], y[:, g], w[:, g] = (t.view(steps, batch_size, *t.shape[1:]) for t in (xs, ys, ws))
        return x, y, w


def pad_stack(arrays: Sequence[np.ndarray], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(a) for a in arrays)
    out = torch.zeros(len(arrays), longest, *arrays[0].shape[1:], dtype=dtype)
    mask = torch.zeros(len(arrays), longest, dtype=torch.bool)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = torch.as_tensor(a, dtype=dtype)
        mask[i, : len(a)] = True
    return out, mask


def build_groups(
    task: Task,
    specs: Sequence[BodySpec],
    client_ids: Sequence[int],
    seed: int,
    feature_dim: int,
    n_experts: int,
    attn_dim: int,
    shared_init: bool,
    transform: str = DEFAULT.transform,
    rank: int = DEFAULT.rank,
) -> list[Group]:
    """Group the given clients by body spec. ``shared_init``: every client starts from the same
    parameters (one architecture: the common starting model a server would broadcast); otherwise
    each client is seeded on its own. ``transform``/``rank``: the MoE's per-expert transform."""
    groups: dict[BodySpec, list[int]] = {}
    for client in client_ids:
        groups.setdefault(specs[client], []).append(client)
    out = []
    for spec, ids in groups.items():
        made = [
            init_params(
                spec,
                task.in_dim,
                feature_dim,
                task.n_classes,
                task.image_shape,
                seed if shared_init else seed * 1000 + i,
                n_experts,
                attn_dim,
                transform,
                rank,
            )
            for i in ids
        ]
        clients = [task.clients[i] for i in ids]
        x_test, mask = pad_stack([c["x_test"] for c in clients], torch.float32)
        y_test, _ = pad_stack([c["y_test"] for c in clients], torch.long)
        x_val, val_mask = pad_stack([c["x_val"] for c in clients], torch.float32)
        y_val, _ = pad_stack([c["y_val"] for c in clients], torch.long)
        out.append(
            Group(
                spec=spec,
                body=made[0][0],
                ids=list(ids),
                params={k: torch.stack([p[k] for _, p in made]) for k in made[0][1]},
                x_train=[torch.from_numpy(c["x_train"]) for c in clients],
                y_train=[torch.from_numpy(c["y_train"]) for c in clients],
                x_test=x_test,
                y_test=y_test,
                test_mask=mask,
                x_val=x_val,
                y_val=y_val,
                val_mask=val_mask,
            )
        )
    return out


# ----------------------------------------------------------------------------------------------
# methods


class Method(Protocol):
    """What a federated method supplies to the engine (baselines.py and method.py implement it)."""

    name: str
    moe: bool  # clients carry MoE parameters over one expert per client

    def phases(self, local_epochs: int) -> list[tuple[int, tuple[str, ...]]]:
        """(epochs, trainable parameter prefixes) run in order each round; same total epochs for all."""

    def loss(self, body: Body, p: Params, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, ctx: dict) -> torch.Tensor:
        """One client's loss (called under vmap)."""

    def logits(self, body: Body, p: Params, x: torch.Tensor, ctx: dict) -> torch.Tensor:
        """One client's prediction (called under vmap)."""

    def context(self, fed: Federation, group: Group) -> dict[str, torch.Tensor]:
        """Per-client extra inputs to loss/logits, stacked over the group (e.g. received heads)."""

    def communicate(self, fed: Federation, rnd: int, delivered: np.ndarray, alive: np.ndarray) -> int:
        """Exchange after local training; returns the bytes sent this round."""


def weighted_ce(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the real (weight 1) samples; 0 for an all-padding batch."""
    return (F.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum().clamp(min=1.0)


class PlainMethod:
    """Body + head trained with cross-entropy, predicting with the local head. Baselines subclass it."""

    name = "local"
    moe = False
    forward_heads = 1  # head forwards per sample (the ledger)

    def phases(self, local_epochs: int) -> list[tuple[int, tuple[str, ...]]]:
        return [(local_epochs, ("body", "head"))]

    def loss(self, body, p, x, y, w, ctx):
        return weighted_ce(head_logits(p, features(body, p, x)), y, w)

    def logits(self, body, p, x, ctx):
        return head_logits(p, features(body, p, x))

    def context(self, fed, group):
        return {}

    def communicate(self, fed, rnd, delivered, alive):
        return 0


# ----------------------------------------------------------------------------------------------
# the federation


class Transport:
    """In-process exchange: every client's tensors are already here. The distributed transport
    (:class:`repro.dflmoe.distributed.PeerTransport`: one client per rank, point to point over gloo)
    has the same three methods."""

    def gather(self, fed: Federation, local: Params, edges: np.ndarray) -> Params:
        """(n, ...) in client-id order: the tensors of every client with an edge (``edges[i, j]``: i
        sends to j) into a local client; other rows zeros. In process, everyone's are here."""
        order = torch.tensor(fed.local_ids)
        return {
            k: torch.zeros(fed.n_clients, *v.shape[1:], dtype=v.dtype).index_copy(0, order, v) for k, v in local.items()
        }

    def everyone(self, local: dict[int, float]) -> dict[int, float]:
        """Per-client values of all clients (here: all are local)."""
        return local

    def total(self, value: int) -> int:
        """Sum over processes (here: one)."""
        return value


@dataclass
class Federation:
    task: Task
    groups: list[Group]
    n_clients: int
    method: Method
    schedule: Schedule
    seed: int
    graph: np.ndarray
    transport: Transport = field(default_factory=Transport)
    server: dict[str, Any] = field(default_factory=dict)  # a server-based method's global state
    budget: Budget = field(default_factory=Budget)
    _steps: dict = field(default_factory=dict)

    @property
    def local_ids(self) -> list[int]:
        return [c for g in self.groups for c in g.ids]

    def stack(self, prefix: str) -> Params:
        """This process's clients' ``prefix.*`` parameters, (n_local, ...) in local_ids order."""
        names = [k for k in self.groups[0].params if k.startswith(prefix + ".")]
        return {k: torch.cat([g.params[k] for g in self.groups]) for k in names}

    def assign(self, values: Params, take: torch.Tensor, store: str = "params") -> None:
        """Set ``values`` (n_local, ...) into the local clients' parameters (or ``state``) where
        ``take`` (n_local,) is true."""
        start = 0
        for g in self.groups:
            sel, target = take[start : start + len(g.ids)], getattr(g, store)
            for k, v in values.items():
                mine = v[start : start + len(g.ids)]
                target[k] = torch.where(sel.view(-1, *[1] * (v.dim() - 1)), mine, target[k]) if k in target else mine
            start += len(g.ids)

    def sizes(self) -> torch.Tensor:
        """Training-set size per local client."""
        return torch.tensor([len(y) for g in self.groups for y in g.y_train], dtype=torch.float32)

    def train_round(self, rnd: int) -> None:
        """Every local group trains the method's phases for this round (vectorised over the group)."""
        epoch = 0
        for epochs, trainable in self.method.phases(self.schedule.local_epochs):
            for _ in range(epochs):
                for group in self.groups:
                    self._train_epoch(group, rnd, epoch, trainable)
                epoch += 1

    def _train_epoch(self, group: Group, rnd: int, epoch: int, trainable: tuple[str, ...]) -> None:
        step = self._step_fn(group, trainable)
        ctx = self.method.context(self, group)
        xs, ys, ws = group.batches(self.seed, rnd, epoch, self.schedule.batch_size)
        train = {k: v for k, v in group.params.items() if k.split(".")[0] in trainable}
        fixed = {k: v for k, v in group.params.items() if k not in train}
        for x, y, w in zip(xs, ys, ws):
            grads = step(train, fixed, x, y, w, ctx)
            train = {k: v - self.schedule.lr * grads[k] for k, v in train.items()}
            self._count(w)
        group.params.update(train)

    def _step_fn(self, group: Group, trainable: tuple[str, ...]) -> Callable:
        key = (id(group.body), trainable)
        if key not in self._steps:
            method, body = self.method, group.body

            def loss(train, fixed, x, y, w, ctx):
                return method.loss(body, train | fixed, x, y, w, ctx)

            self._steps[key] = vmap(grad(loss))
        return self._steps[key]

    def _count(self, w: torch.Tensor) -> None:
        """Ledger: a step for each client with data in it; samples through the body and the heads."""
        real = w.sum(dim=1)
        self.budget.optimizer_steps += int((real > 0).sum())
        samples = int(real.sum())
        fwd = self.budget.forward_samples
        fwd["body"] = fwd.get("body", 0) + samples
        fwd["heads"] = fwd.get("heads", 0) + samples * getattr(self.method, "forward_heads", 1)

    @torch.no_grad()
    def predict(self, part: str = "test") -> dict[int, torch.Tensor]:
        """Logits on each local client's ``part`` ("test" or "val"), unpadded; a method may score
        classes otherwise than by logits (FedProto's nearest prototype): argmax is its prediction."""
        out = {}
        for group in self.groups:
            ctx = self.method.context(self, group)
            x, mask = getattr(group, f"x_{part}"), getattr(group, f"{part}_mask")
            logits = vmap(lambda p, x, c, body=group.body: self.method.logits(body, p, x, c))(group.params, x, ctx)
            for g, client in enumerate(group.ids):
                out[client] = logits[g, mask[g]]
        return out

    def labels(self, part: str = "test") -> dict[int, torch.Tensor]:
        return {
            c: getattr(g, f"y_{part}")[i, getattr(g, f"{part}_mask")[i]]
            for g in self.groups
            for i, c in enumerate(g.ids)
        }

    def accuracy(self, part: str = "test") -> dict[int, float]:
        labels = self.labels(part)
        return {c: float((lg.argmax(-1) == labels[c]).float().mean()) * 100 for c, lg in self.predict(part).items()}


@dataclass
class RunResult:
    """What one federated run leaves: the per-round curve, final predictions per client, bytes sent."""

    method: str
    rounds: list[int]
    curve: list[float]  # mean client accuracy (points) after each evaluated round
    client_acc: list[float]  # final accuracy per client
    correct: list[np.ndarray]  # per client, per test example: 1 if right
    prob_pos: list[np.ndarray]  # per client, per test example: P(class 1) (binary tasks; AUC)
    labels: list[np.ndarray]  # per client, the test labels these predictions are scored against
    val_acc: list[float]  # final accuracy per client on its validation set (the gates)
    bytes_per_round: list[int]
    budget: dict
    gate: list[list[float]] | None = None  # dFLMoE: mean gate weight per (client, expert) on the test sets


def simulate(
    task: Task,
    method: Method,
    schedule: Schedule,
    seed: int,
    specs: Sequence[BodySpec],
    faults: Faults = Faults(),
    graph: str = "all",
    *,
    feature_dim: int,
    attn_dim: int,
    transform: str = DEFAULT.transform,
    rank: int = DEFAULT.rank,
) -> RunResult:
    """A whole federation in one process: ``schedule.rounds`` rounds of local training +
    communication; clients' bodies from ``specs`` emit ``feature_dim`` features, the MoE gate
    works in ``attn_dim`` over experts seen through ``transform``."""
    n = len(task.clients)
    fed = Federation(
        task=task,
        groups=build_groups(
            task,
            specs,
            range(n),
            seed,
            feature_dim,
            n if method.moe else 0,
            attn_dim,
            shared_init=len(set(specs)) == 1,
            transform=transform,
            rank=rank,
        ),
        n_clients=n,
        method=method,
        schedule=schedule,
        seed=seed,
        graph=peer_graph(n, graph),
    )
    return run_rounds(fed, faults)


def run_rounds(fed: Federation, faults: Faults) -> RunResult:
    started = time.perf_counter()
    schedule, n = fed.schedule, fed.n_clients
    rounds, curve, sent = [], [], []
    for rnd in range(schedule.rounds):
        fed.train_round(rnd)
        sent_here = fed.method.communicate(fed, rnd, faults.delivered(n, rnd, fed.seed), faults.alive(n, rnd))
        sent.append(fed.transport.total(sent_here))
        if (rnd + 1) % schedule.eval_every == 0 or rnd == schedule.rounds - 1:
            rounds.append(rnd + 1)
            curve.append(float(np.mean(list(fed.transport.everyone(fed.accuracy()).values()))))
    fed.budget.wall_s = time.perf_counter() - started
    return finish(fed, rounds, curve, sent)


def finish(fed: Federation, rounds: list[int], curve: list[float], sent: list[int]) -> RunResult:
    logits, labels = fed.predict(), fed.labels()
    ids = sorted(logits)
    correct = [(logits[c].argmax(-1) == labels[c]).numpy().astype(np.float64) for c in ids]
    prob = [torch.softmax(logits[c], -1)[:, -1].numpy().astype(np.float64) for c in ids]
    val = fed.accuracy("val")
    gate = fed.method.gate_weights(fed) if hasattr(fed.method, "gate_weights") else None
    return RunResult(
        method=fed.method.name,
        rounds=rounds,
        curve=curve,
        client_acc=[float(c.mean() * 100) for c in correct],
        correct=correct,
        prob_pos=prob,
        labels=[labels[c].numpy() for c in ids],
        val_acc=[val[c] for c in ids],
        bytes_per_round=sent,
        budget=fed.budget.to_dict(),
        gate=gate,
    )
