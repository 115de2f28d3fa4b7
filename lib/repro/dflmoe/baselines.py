"""The baselines dFLMoE is compared with, each on the engine of :mod:`repro.dflmoe.federation`
with the same rounds, local epochs, optimiser and data order. Introduced in ``03_train.ipynb``.

* ``local``: no communication.
* ``fedavg`` (McMahan et al. 2017): the server averages body and head, weighted by client size,
  over the uploads that arrived; clients whose download arrived take the global model.
* ``fedprox`` (Li et al. 2020): FedAvg plus ``mu/2 ||w - w_global||^2`` (mu = 0.01, the paper's setting),
  ``w_global`` the global model the client last received.
* ``fedper`` (Arivazhagan et al. 2019): FedAvg on the body only; heads stay personal.
* ``fedrep`` (Collins et al. 2021): like FedPer, but each round first trains the head with the body
  frozen, then the body with the head frozen. ``form="pfllib"`` (default) as PFLlib's ``clientrep``:
  1 head epoch (its ``plocal_epochs``), then E body epochs, so the body gets everyone's E epochs and
  the head epoch comes on top (the ledger counts it); ``form="split"`` splits E between them (head
  ceil(E/2), body floor(E/2), at least 1): every method the same passes, the body fewer.
* ``lg_fedavg`` (Liang et al. 2020): local bodies, FedAvg on the head (works with heterogeneous
  bodies, since heads share one shape).
* ``fedproto`` (Tan et al. 2022): clients upload per-class mean features; each client adds
  ``lambda * MSE(h, proto_y)`` (lambda = 1, the mean over feature dimensions as in FedProto's code)
  to its cross-entropy. Works with heterogeneous bodies. ``form="pfllib"`` (default) as PFLlib's
  ``serverproto``/``clientproto``: the server's prototype of a class is the plain mean over the
  clients that hold it, and a client predicts the class of the nearest global prototype (MSE);
  ``form="weighted"``: prototypes weighted by class counts, prediction by the local head.
* ``dpsgd`` (Lian et al. 2017): decentralised gossip: after local training each client averages its
  whole model with the models that reached it from its graph neighbours (uniform weights over
  itself and what arrived; the Metropolis weights of a regular graph).
"""

from __future__ import annotations

import numpy as np
import torch

from repro.dflmoe.federation import Federation, PlainMethod, weighted_ce
from repro.dflmoe.models import features, head_logits, tensor_bytes


class Local(PlainMethod):
    name = "local"


def server_average(fed: Federation, prefixes: tuple[str, ...], delivered: np.ndarray, alive: np.ndarray) -> int:
    """One FedAvg exchange of the parameters under ``prefixes``; returns bytes sent (up + down)."""
    n = fed.n_clients
    local = {k: v for p in prefixes for k, v in fed.stack(p).items()}
    up = torch.from_numpy(delivered[:n, n])
    down = torch.from_numpy(delivered[n, :n])
    if up.any():
        weight = fed.sizes() * up
        weight = weight / weight.sum()
        fed.server["global"] = {k: torch.einsum("n,n...->...", weight, v) for k, v in local.items()}
    if "global" in fed.server:  # a server that never heard from anyone has nothing to send
        glob = {k: v.expand(n, *v.shape) for k, v in fed.server["global"].items()}
        fed.assign(glob, down)
    per_client = tensor_bytes({k: v[0] for k, v in local.items()})
    return per_client * int(alive[:n, n].sum() + alive[n, :n].sum())


class FedAvg(PlainMethod):
    name = "fedavg"
    shared: tuple[str, ...] = ("body", "head")

    def communicate(self, fed, rnd, delivered, alive):
        return server_average(fed, self.shared, delivered, alive)


class FedPer(FedAvg):
    name = "fedper"
    shared = ("body",)


class FedRep(FedPer):
    """Head first with the body frozen, then the body with the head frozen (Collins et al. 2021);
    ``form`` as the module docstring says ("pfllib": 1 + E epochs; "split": E split in two)."""

    name = "fedrep"
    FORMS = ("pfllib", "split")

    def __init__(self, form: str = "pfllib"):
        if form not in self.FORMS:
            raise ValueError(f"fedrep form {form!r}; valid: {', '.join(self.FORMS)}")
        self.form = form

    def phases(self, local_epochs):
        if self.form == "pfllib":
            return [(1, ("head",)), (local_epochs, ("body",))]
        head = (local_epochs + 1) // 2
        return [(head, ("head",)), (max(1, local_epochs - head), ("body",))]


class LGFedAvg(FedAvg):
    name = "lg_fedavg"
    shared = ("head",)


class FedProx(FedAvg):
    """The anchor is the global model the client last received (its starting model before that)."""

    name = "fedprox"

    def __init__(self, mu: float):
        self.mu = mu

    def context(self, fed, group):
        if "anchor" not in group.state:
            group.state["anchor"] = {k: v.clone() for k, v in group.params.items()}
        return {"anchor": group.state["anchor"]}

    def loss(self, body, p, x, y, w, ctx):
        prox = sum(((p[k] - a) ** 2).sum() for k, a in ctx["anchor"].items())
        active = (w.sum() > 0).float()  # a padding-only step must leave the client untouched
        return super().loss(body, p, x, y, w, ctx) + active * self.mu / 2 * prox

    def communicate(self, fed, rnd, delivered, alive):
        sent = super().communicate(fed, rnd, delivered, alive)
        take = torch.from_numpy(delivered[fed.n_clients, : fed.n_clients])
        for group in fed.groups:
            self.context(fed, group)
        start = 0
        for group in fed.groups:  # the anchor moves to the global model where it arrived
            sel = take[start : start + len(group.ids)]
            anchor = group.state["anchor"]
            for k in anchor:
                anchor[k] = torch.where(sel.view(-1, *[1] * (anchor[k].dim() - 1)), group.params[k], anchor[k])
            start += len(group.ids)
        return sent


class FedProto(PlainMethod):
    name = "fedproto"
    FORMS = ("pfllib", "weighted")

    def __init__(self, lam: float, form: str = "pfllib"):
        if form not in self.FORMS:
            raise ValueError(f"fedproto form {form!r}; valid: {', '.join(self.FORMS)}")
        self.lam, self.form = lam, form

    def logits(self, body, p, x, ctx):
        """PFLlib's prediction: minus the MSE to each global prototype (argmax = the nearest; a class
        no client holds can never win); the weighted form predicts with the local head. Before any
        prototype arrives, the local head in both."""
        h = features(body, p, x)
        if self.form != "pfllib":
            return head_logits(p, h)
        distance = ((h[:, None] - ctx["protos"][None]) ** 2).mean(-1)  # (B, C)
        nearest = -distance.masked_fill(ctx["proto_mask"][None] == 0, float("inf"))
        return torch.where(ctx["proto_mask"].sum() > 0, nearest, head_logits(p, h))

    def context(self, fed, group):
        if "protos" not in group.state:
            c, d = fed.task.n_classes, group.params["head.weight"].shape[-1]  # the heads' input: feature_dim
            group.state["protos"] = torch.zeros(len(group.ids), c, d)
            group.state["proto_mask"] = torch.zeros(len(group.ids), c)
        return {"protos": group.state["protos"], "proto_mask": group.state["proto_mask"]}

    def loss(self, body, p, x, y, w, ctx):
        h = features(body, p, x)
        target, has = ctx["protos"][y], ctx["proto_mask"][y]
        pull = (((h - target) ** 2).mean(-1) * w * has).sum() / w.sum().clamp(min=1.0)  # FedProto's MSE
        return weighted_ce(head_logits(p, h), y, w) + self.lam * pull

    @torch.no_grad()
    def client_protos(self, fed) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_local, C, d) class-mean features on each client's training set, and (n_local, C) counts."""
        protos, counts = [], []
        for group in fed.groups:
            for g in range(len(group.ids)):
                p = {k: v[g] for k, v in group.params.items()}
                h, y = features(group.body, p, group.x_train[g]), group.y_train[g]
                count = torch.bincount(y, minlength=fed.task.n_classes).float()
                total = torch.zeros(fed.task.n_classes, h.shape[1]).index_add_(0, y, h)
                protos.append(total / count.clamp(min=1)[:, None])
                counts.append(count)
                fwd = fed.budget.forward_samples
                fwd["body"] = fwd.get("body", 0) + len(y)
        return torch.stack(protos), torch.stack(counts)

    def communicate(self, fed, rnd, delivered, alive):
        n = fed.n_clients
        protos, counts = self.client_protos(fed)
        up = torch.from_numpy(delivered[:n, n]).float()
        held = counts if self.form == "weighted" else (counts > 0).float()  # PFLlib: each holder counts once
        weight = held * up[:, None]
        if weight.sum() > 0:
            total = weight.sum(0)
            fed.server["protos"] = torch.einsum("nc,ncd->cd", weight, protos) / total.clamp(min=1)[:, None]
            fed.server["mask"] = torch.maximum(fed.server.get("mask", torch.zeros_like(total)), (total > 0).float())
        if "protos" in fed.server:
            down = torch.from_numpy(delivered[n, :n])
            stacked = {
                "protos": fed.server["protos"].expand(n, *protos.shape[1:]),
                "proto_mask": fed.server["mask"].expand(n, -1),
            }
            fed.assign(stacked, down, store="state")
        per_client = protos[0].numel() * 4 + counts[0].numel() * 4
        return per_client * int(alive[:n, n].sum()) + protos[0].numel() * 4 * int(alive[n, :n].sum())


class DPSGD(PlainMethod):
    """Gossip averaging over the peer graph (one body architecture)."""

    name = "dpsgd"

    def communicate(self, fed, rnd, delivered, alive):
        n = fed.n_clients
        if len(fed.groups) != 1:
            raise ValueError("dpsgd averages whole models: it needs one body architecture")
        group = fed.groups[0]
        arrived = torch.from_numpy(fed.graph & delivered[:n, :n]).float()  # [sender, receiver]
        mix = arrived.T + torch.eye(n)
        mix = mix / mix.sum(1, keepdim=True)  # row j: what client j averages
        group.params = {k: torch.einsum("ji,i...->j...", mix, v) for k, v in group.params.items()}
        per_client = tensor_bytes({k: v[0] for k, v in group.params.items()})
        return per_client * int((fed.graph & alive[:n, :n]).sum())
