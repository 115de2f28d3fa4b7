"""dFLMoE: heads exchanged peer to peer, and a client-specific mixture of experts over them.
Introduced in ``notebooks/dflmoe/02_model.ipynb`` (the MoE) and ``03_train.ipynb`` (the rounds).

Each round a client (1) trains its body, its head and its MoE on its own data with
``loss = alpha * CE(head(h)) + (1 - alpha) * CE(MoE(h))`` (alpha = ``moe_alpha``), the received
heads frozen. alpha = 1 is *not* local training: the body and head then learn from the local loss
alone, but the prediction still goes through the mixture, whose gate and transforms get no gradient.
Local training is the ``local`` baseline; a dFLMoE whose every peer message is dropped (the
``dflmoe@isolated`` control arm) mixes its own head only and should match it; then (2) sends its head to its
peers along the graph (all-to-all, or a ring), with no server. A receiver keeps the last copy of
each peer's head that reached it (a dropped message leaves the previous copy in place; a peer never
heard from is masked out of the gate), so a lost peer or a lossy link degrades the mixture instead
of stopping it. The prediction is the MoE's. The MoE itself is :func:`repro.dflmoe.models.moe_logits`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from repro.dflmoe import baselines
from repro.dflmoe.federation import Federation, PlainMethod, weighted_ce
from repro.dflmoe.models import features, head_logits, moe_logits, tensor_bytes


class DFLMoE(PlainMethod):
    name = "dflmoe"
    moe = True

    def __init__(self, alpha: float, n_clients: int):
        self.alpha = alpha
        self.forward_heads = 1 + n_clients  # the local head, then every expert slot of the MoE

    def phases(self, local_epochs):
        return [(local_epochs, ("body", "head", "moe"))]

    def context(self, fed: Federation, group) -> dict[str, torch.Tensor]:
        """The heads this client holds (its expert bank) and which of them it has received."""
        if "expert_w" not in group.state:
            w, b = group.params["head.weight"], group.params["head.bias"]
            n = fed.n_clients
            own = F.one_hot(torch.tensor(group.ids), n).float()
            group.state.update(
                expert_w=torch.zeros(len(group.ids), n, *w.shape[1:]),
                expert_b=torch.zeros(len(group.ids), n, *b.shape[1:]),
                available=own.bool(),
                own=own,
            )
        return {k: group.state[k] for k in ("expert_w", "expert_b", "available", "own")}

    def loss(self, body, p, x, y, w, ctx):
        h = features(body, p, x)
        mixed, _ = moe_logits(p, h, ctx["expert_w"], ctx["expert_b"], ctx["available"], ctx["own"])
        return self.alpha * weighted_ce(head_logits(p, h), y, w) + (1 - self.alpha) * weighted_ce(mixed, y, w)

    def logits(self, body, p, x, ctx):
        return self.mixture(body, p, x, ctx)[0]

    def mixture(self, body, p, x, ctx):
        return moe_logits(p, features(body, p, x), ctx["expert_w"], ctx["expert_b"], ctx["available"], ctx["own"])

    def communicate(self, fed, rnd, delivered, alive):
        """Send the head to every out-neighbour; keep what arrives. Returns bytes sent by local clients."""
        n = fed.n_clients
        edges = fed.graph & alive[:n, :n]  # links that exist; a message on one may still be dropped
        heads = fed.transport.gather(fed, fed.stack("head"), edges)  # (n, ...) in client order
        arrived = torch.from_numpy(fed.graph & delivered[:n, :n])  # [sender, receiver]
        for group in fed.groups:
            self.context(fed, group)
            got = arrived[:, group.ids].T  # (G, n): which senders reached each local receiver
            st = group.state
            st["expert_w"] = torch.where(got[..., None, None], heads["head.weight"][None], st["expert_w"])
            st["expert_b"] = torch.where(got[..., None], heads["head.bias"][None], st["expert_b"])
            st["available"] = st["available"] | got
        head = {k: v[0] for k, v in fed.stack("head").items()}
        return tensor_bytes(head) * int(edges[fed.local_ids].sum())

    @torch.no_grad()
    def gate_weights(self, fed) -> list[list[float]]:
        """Mean gate weight per (client, expert) over each client's test set (05_figures' heatmap)."""
        from torch.func import vmap

        rows = {}
        for group in fed.groups:
            ctx = self.context(fed, group)
            mixture = vmap(lambda p, x, c, body=group.body: self.mixture(body, p, x, c)[1])
            gate = mixture(group.params, group.x_test, ctx)
            for g, client in enumerate(group.ids):
                rows[client] = gate[g, group.test_mask[g]].mean(0).tolist()
        return [rows[c] for c in sorted(rows)]


def make_method(
    name: str,
    n_clients: int,
    *,
    moe_alpha: float,
    prox_mu: float,
    proto_lambda: float,
    fedrep_form: str = "pfllib",
    fedproto_form: str = "pfllib",
):
    """The registered method ``name`` with these hyperparameters (dFLMoE's loss weight, FedProx's
    mu, FedProto's lambda, FedRep's and FedProto's forms; the train step and the budget ledger pick
    every method up from here)."""
    factories = {
        "local": baselines.Local,
        "fedavg": baselines.FedAvg,
        "fedprox": lambda: baselines.FedProx(prox_mu),
        "fedper": baselines.FedPer,
        "fedrep": lambda: baselines.FedRep(fedrep_form),
        "lg_fedavg": baselines.LGFedAvg,
        "fedproto": lambda: baselines.FedProto(proto_lambda, fedproto_form),
        "dpsgd": baselines.DPSGD,
        "dflmoe": lambda: DFLMoE(moe_alpha, n_clients),
    }
    if name not in factories:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(factories)}")
    return factories[name]()


__all__ = ["DFLMoE", "make_method"]
