"""The pieces that make dFLMoE this method, and the engine's invariants: the MoE's shapes and
masking, frozen received heads, serverless exchange under faults, vectorised == one client at a
time, FedAvg/D-PSGD averaging, one drop model and one budget for every method."""

from dataclasses import asdict

import numpy as np
import pytest
import torch

from repro import dflmoe
from repro.core.config import ConfigError
from repro.dflmoe.config import METHODS, TRANSFORMS
from repro.dflmoe.data import digits_task
from repro.dflmoe.federation import Faults, Federation, build_groups, peer_graph, run_rounds, simulate
from repro.dflmoe.method import make_method
from repro.dflmoe.models import check_models, client_specs, features, head_logits, init_params, moe_logits

CFG = dflmoe.config("smoke", rounds=2, n_clients=4, lost_client=3, eval_every=1)
MODEL = CFG.model
DIMS = {"feature_dim": MODEL.feature_dim, "attn_dim": MODEL.attn_dim}


def method_of(name, n=4):
    return make_method(name, n, moe_alpha=CFG.moe_alpha, prox_mu=CFG.prox_mu, proto_lambda=CFG.proto_lambda)


@pytest.fixture(scope="module")
def task():
    return digits_task(0.5, 4, 0.2, seed=0)


def client(seed=0, k=4, transform="diagonal"):
    spec = client_specs(1, 16, False, True)[0]
    return init_params(spec, 64, 8, 10, (1, 8, 8), seed, n_experts=k, attn_dim=4, transform=transform)


def test_only_the_full_transform_lets_the_mixture_outgrow_the_body():
    """The issue's measurement: a full d x d map per peer (K d^2 parameters) outweighs the body, so a
    frozen peer head constrains nothing; the lighter forms add O(K d) parameters."""
    from repro.dflmoe.models import count_params

    sizes = {}
    for t in TRANSFORMS:
        _, p = init_params(client_specs(1, 64, False, True)[0], 64, 32, 10, (1, 8, 8), 0, 8, 16, t)
        sizes[t] = count_params(p, "moe")
    body = count_params(p, "body")
    assert sizes["full"] > body > sizes["lowrank"] > sizes["diagonal"] > sizes["none"]


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_moe_with_identity_transforms_and_copies_of_one_head_is_that_head(transform):
    body, p = client(transform=transform)
    x = torch.rand(5, 64)
    h = features(body, p, x)
    w = p["head.weight"].expand(4, 10, 8)
    b = p["head.bias"].expand(4, 10)
    own = torch.nn.functional.one_hot(torch.tensor(1), 4).float()
    logits, gate = moe_logits(p, h, w, b, torch.ones(4, dtype=torch.bool), own)
    assert logits.shape == (5, 10) and gate.shape == (5, 4)
    torch.testing.assert_close(logits, head_logits(p, h))
    torch.testing.assert_close(gate.sum(-1), torch.ones(5))


def test_moe_masks_experts_never_received_and_uses_the_live_own_head():
    body, p = client()
    h = features(body, p, torch.rand(3, 64))
    w, b = torch.randn(4, 10, 8), torch.randn(4, 10)
    available = torch.tensor([True, False, True, False])
    own = torch.nn.functional.one_hot(torch.tensor(0), 4).float()
    logits, gate = moe_logits(p, h, w, b, available, own)
    assert (gate[:, ~available] == 0).all() and (gate[:, available] > 0).all()
    only_own = moe_logits(p, h, w, b, torch.tensor([True, False, False, False]), own)[0]
    torch.testing.assert_close(only_own, head_logits(p, h))  # slot 0 is the live head, not w[0]


def test_received_heads_are_frozen_copies_and_moe_parameters_train(task):
    method = method_of("dflmoe")
    specs = client_specs(4, MODEL.hidden, False, True)
    fed = Federation(task, build_groups(task, specs, range(4), 0, MODEL.feature_dim, 4, MODEL.attn_dim, True), 4,
                     method, CFG.schedule, 0, peer_graph(4, "all"))  # fmt: skip
    start = {k: v.clone() for k, v in fed.groups[0].params.items()}
    fed.train_round(0)
    everything = np.ones((5, 5), dtype=bool)
    method.communicate(fed, 0, everything, everything)
    heads = {k: v.clone() for k, v in fed.groups[0].params.items() if k.startswith("head")}
    state = fed.groups[0].state
    assert state["available"].all()
    torch.testing.assert_close(state["expert_w"][2, 1], heads["head.weight"][1])  # client 2 holds client 1's head
    fed.train_round(1)
    torch.testing.assert_close(state["expert_w"][2, 1], heads["head.weight"][1])  # ... unchanged by training
    for name in ("moe.scale", "moe.query", "body.net.0.weight", "head.weight"):
        assert not torch.equal(fed.groups[0].params[name], start[name]), f"{name} did not train"


def test_vectorised_group_equals_each_client_trained_alone(task):
    """vmap over 4 clients (with padding for the ones whose data ran out) == four groups of one."""
    specs = client_specs(4, MODEL.hidden, False, True)
    together = build_groups(task, specs, range(4), 0, MODEL.feature_dim, 4, MODEL.attn_dim, True)
    alone = [build_groups(task, specs, [i], 0, MODEL.feature_dim, 4, MODEL.attn_dim, True)[0] for i in range(4)]
    fed_a = Federation(task, together, 4, method_of("dflmoe"), CFG.schedule, 0, peer_graph(4, "all"))
    fed_b = Federation(task, alone, 4, method_of("dflmoe"), CFG.schedule, 0, peer_graph(4, "all"))
    run_a, run_b = run_rounds(fed_a, Faults()), run_rounds(fed_b, Faults())
    assert len(task.sizes()) == 4 and len(set(task.sizes())) > 1  # unequal clients: padding is exercised
    np.testing.assert_allclose(run_a.client_acc, run_b.client_acc)
    for i, group in enumerate(alone):
        torch.testing.assert_close(group.params["body.net.0.weight"][0], together[0].params["body.net.0.weight"][i],
                                   rtol=1e-4, atol=1e-5)  # fmt: skip
    assert run_a.budget["optimizer_steps"] == run_b.budget["optimizer_steps"]


def test_drop_model_is_shared_and_faults_cut_links():
    f = Faults(drop_rate=0.3, lost_client=2, lost_round=1, server_down=(1, 3))
    np.testing.assert_array_equal(f.delivered(4, 0, seed=5), f.delivered(4, 0, seed=5))
    assert 0.5 < Faults(drop_rate=0.3).delivered(50, 0, 0).mean() < 0.9
    assert f.alive(4, 0).all()
    late = f.delivered(4, 1, 0)
    assert not late[2].any() and not late[:, 2].any() and not late[4].any() and not late[:, 4].any()
    assert f.alive(4, 3)[4].all() or not f.alive(4, 3)[2].any()


def test_fedavg_averages_by_size_and_dpsgd_keeps_the_mean(task):
    specs = client_specs(4, MODEL.hidden, False, True)
    everything = np.ones((5, 5), dtype=bool)
    fed = Federation(task, build_groups(task, specs, range(4), 0, MODEL.feature_dim, 0, MODEL.attn_dim, True), 4,
                     method_of("fedavg"), CFG.schedule, 0, peer_graph(4, "all"))  # fmt: skip
    fed.train_round(0)
    before = fed.groups[0].params["head.bias"].clone()
    sent = fed.method.communicate(fed, 0, everything, everything)
    weights = torch.tensor(task.sizes(), dtype=torch.float32)
    expected = (before * weights[:, None]).sum(0) / weights.sum()
    for i in range(4):
        torch.testing.assert_close(fed.groups[0].params["head.bias"][i], expected)
    assert sent == 2 * 4 * sum(v[0].numel() * 4 for v in fed.groups[0].params.values())
    gossip = Federation(task, build_groups(task, specs, range(4), 0, MODEL.feature_dim, 0, MODEL.attn_dim, True), 4,
                        method_of("dpsgd"), CFG.schedule, 0, peer_graph(4, "ring"))  # fmt: skip
    gossip.train_round(0)
    mean = gossip.groups[0].params["head.weight"].mean(0)
    gossip.method.communicate(gossip, 0, everything, everything)
    torch.testing.assert_close(gossip.groups[0].params["head.weight"].mean(0), mean)  # ring of 4: doubly stochastic


def test_the_outage_takes_one_node_down_for_every_method(task):
    """A dead server does not touch dFLMoE (it has none), so its outage arm takes one peer down for
    the same rounds instead: a real run, not its fault-free one under another name."""
    from repro.dflmoe.runs import OUTAGE, faults

    cfg = dflmoe.config("smoke", rounds=2, n_clients=4, lost_client=3, server_down_start=0, server_down_rounds=2)
    specs = client_specs(4, MODEL.hidden, False, True)
    clean = simulate(task, method_of("dflmoe"), CFG.schedule, 0, specs, **DIMS)
    no_server = simulate(task, method_of("dflmoe"), CFG.schedule, 0, specs, Faults(server_down=(0, 2)), **DIMS)
    assert clean.client_acc == no_server.client_acc  # why a server outage alone would be no fault for it
    outage = simulate(task, method_of("dflmoe"), CFG.schedule, 0, specs, faults(cfg, OUTAGE, "dflmoe"), **DIMS)
    assert outage.bytes_per_round < clean.bytes_per_round  # the peer down sends and receives nothing
    assert faults(cfg, OUTAGE, "fedavg").server_down == (0, 2) and faults(cfg, OUTAGE, "dflmoe").lost_client == 3
    fedavg = simulate(task, method_of("fedavg"), CFG.schedule, 0, specs, faults(cfg, OUTAGE, "fedavg"), **DIMS)
    assert fedavg.bytes_per_round == [0, 0]  # a dead server receives and sends nothing
    back = Faults(lost_client=3, lost_round=0, lost_until=1)
    assert not back.alive(4, 0)[3].any() and back.alive(4, 1).all()  # the peer comes back after the window


def test_every_method_gets_the_same_steps_and_body_passes(task):
    specs = client_specs(4, MODEL.hidden, False, True)
    runs = {m: asdict(simulate(task, method_of(m), CFG.schedule, 0, specs, **DIMS)) for m in METHODS}
    steps = {m: r["budget"]["optimizer_steps"] for m, r in runs.items()}
    plain = {m: s for m, s in steps.items() if m != "fedrep"}
    assert len(set(plain.values())) == 1, steps
    e = CFG.local_epochs  # PFLlib's FedRep: one head epoch on top of the E body epochs (the ledger shows it)
    assert steps["fedrep"] * e == steps["local"] * (e + 1)
    assert runs["dflmoe"]["budget"]["forward_samples"]["body"] == runs["local"]["budget"]["forward_samples"]["body"]
    assert runs["dflmoe"]["bytes_per_round"][0] < runs["dpsgd"]["bytes_per_round"][0]  # heads, not models
    assert runs["local"]["bytes_per_round"] == [0, 0]


def test_heterogeneous_bodies_run_in_turn_and_config_refuses_nonsense(task):
    specs = client_specs(4, MODEL.hidden, True, True)
    assert len({s.label for s in specs}) == 4
    r = simulate(task, method_of("dflmoe"), CFG.schedule, 0, specs, **DIMS)
    assert len(r.client_acc) == 4 and np.isfinite(r.client_acc).all()
    with pytest.raises(ConfigError, match="need one architecture"):
        dflmoe.config("smoke", hetero_methods=["fedavg"])
    with pytest.raises(ConfigError, match="valid keys"):
        dflmoe.config("smoke", nonsense=1)
    with pytest.raises(ConfigError, match=r"methods=\['fedsgd'\]: unknown \['fedsgd'\]; valid: local, fedavg"):
        dflmoe.config("smoke", methods=["fedsgd"])
    with pytest.raises(ConfigError, match="model.transform='affine': must be one of full, diagonal"):
        dflmoe.config("smoke", model={"transform": "affine"})
    with pytest.raises(ValueError, match="unknown method"):
        method_of("fedsgd")
    for name, (module, batch) in check_models(dflmoe.config("paper")).items():
        assert torch.isfinite(module(batch)).all(), name


def test_fedrep_as_pfllib_or_split():
    from repro.dflmoe.baselines import FedRep

    assert FedRep().phases(2) == [(1, ("head",)), (2, ("body",))]  # PFLlib: 1 head epoch + E body epochs
    assert FedRep("split").phases(2) == [(1, ("head",)), (1, ("body",))]  # the same two passes as every method
    assert FedRep("split").phases(3) == [(2, ("head",)), (1, ("body",))]
    assert FedRep("split").phases(1) == [(1, ("head",)), (1, ("body",))]
    with pytest.raises(ValueError, match="fedrep form"):
        FedRep("other")


def test_fedproto_as_pfllib_averages_clients_and_predicts_the_nearest_prototype():
    """PFLlib's serverproto: a class's global prototype is the plain mean over the clients holding it
    (not weighted by counts); clientproto predicts the class whose global prototype is nearest."""
    from repro.dflmoe.baselines import FedProto

    body, p = client(k=0)
    x = torch.rand(6, 64)
    h = features(body, p, x)
    protos = torch.randn(10, 8)
    protos[:6] = h  # example i sits on class i's prototype
    mask = torch.ones(10)
    mask[7] = 0
    ctx = {"protos": protos, "proto_mask": mask}
    assert FedProto(1.0).logits(body, p, x, ctx).argmax(-1).tolist() == list(range(6))
    torch.testing.assert_close(FedProto(1.0, "weighted").logits(body, p, x, ctx), head_logits(p, h))
    assert FedProto(1.0).logits(body, p, x, ctx)[:, 7].eq(float("-inf")).all()  # no client holds class 7

    class Fed:  # two clients: counts 1 and 9 of class 0 (their prototypes 0 and 10)
        n_clients, server, task = 2, {}, type("T", (), {"n_classes": 1})()

        def assign(self, *a, **k):
            pass

    everything = np.ones((3, 3), dtype=bool)
    for form, expected in (("pfllib", 5.0), ("weighted", 9.0)):
        method, fed = FedProto(1.0, form), Fed()
        method.client_protos = lambda fed: (torch.tensor([[[0.0]], [[10.0]]]), torch.tensor([[1.0], [9.0]]))
        method.communicate(fed, 0, everything, everything)
        assert fed.server["protos"].item() == pytest.approx(expected), form


def test_an_isolated_dflmoe_mixes_only_its_own_head(task):
    """Every peer message dropped: no expert but the client's own is ever available to the gate."""
    from repro.dflmoe.runs import ISOLATED, faults

    specs = client_specs(4, MODEL.hidden, False, True)
    run = simulate(task, method_of("dflmoe"), CFG.schedule, 0, specs, faults(CFG, ISOLATED), **DIMS)
    np.testing.assert_allclose(np.asarray(run.gate), np.eye(4), atol=1e-6)


def test_partitions_follow_the_seed():
    from repro.dflmoe.runs import build_tasks

    cfg = dflmoe.config("smoke")
    a, b = build_tasks(cfg, 0)["digits-a0.5"], build_tasks(cfg, 1)["digits-a0.5"]
    assert not np.array_equal(a.label_counts(), b.label_counts())
    np.testing.assert_array_equal(a.label_counts(), build_tasks(cfg, 0)["digits-a0.5"].label_counts())


class NoExperts(type(make_method("dflmoe", 4, moe_alpha=0.5, prox_mu=0.0, proto_lambda=0.0))):
    """Sabotage: the mixture holds no expert, not even the client's own head (every slot masked as
    if never received), so it has nothing to mix."""

    def context(self, fed, group):
        ctx = super().context(fed, group)
        return ctx | {"available": torch.zeros_like(ctx["available"])}


def control_scores(task, arms: dict, rounds: int = 3) -> dict:
    """(1, n_clients) accuracies per arm on ``task`` (one seed), from ``arms``: name -> (method, faults)."""
    cfg = dflmoe.config("smoke", rounds=rounds, n_clients=4, lost_client=3, eval_every=rounds)
    specs = client_specs(4, MODEL.hidden, False, True)
    return {
        name: np.array([simulate(task, method, cfg.schedule, 0, specs, fault, **DIMS).client_acc])
        for name, (method, fault) in arms.items()
    }


def test_k1_sabotage_a_mixture_without_its_own_head_leaves_the_band(task):
    """K1 (an isolated dFLMoE equals local training within 2 points) rests on the isolated mixture
    holding the client's own head; with that expert masked too, K1's effect moves far past 2 points."""
    from repro.core.claims import decide
    from repro.dflmoe.claims import CLAIMS
    from repro.dflmoe.runs import ISOLATED, faults

    k1 = next(c for c in CLAIMS if c.id == "K1")
    scores = control_scores(task, {
        "local": (method_of("local"), Faults()),
        k1.a: (method_of("dflmoe"), faults(CFG, ISOLATED)),
        "sabotaged": (NoExperts(0.5, 4), faults(CFG, ISOLATED)),
    })  # fmt: skip
    assert abs(decide(k1, scores).effect) < abs(decide(k1.with_a("sabotaged"), scores).effect)
    assert abs(decide(k1.with_a("sabotaged"), scores).effect) > 4 * k1.margin


def test_k2_sabotage_a_mixture_without_experts_loses_to_local():
    """K2 (dFLMoE beats local training under IID) needs a mixture that mixes heads; with every
    expert masked its effect falls far below the margin (0)."""
    from repro.core.claims import decide
    from repro.dflmoe.claims import CLAIMS

    k2 = next(c for c in CLAIMS if c.id == "K2")
    iid = digits_task(100.0, 4, 0.2, seed=0)
    scores = control_scores(iid, {
        "local": (method_of("local"), Faults()),
        "dflmoe": (method_of("dflmoe"), Faults()),
        "sabotaged": (NoExperts(0.5, 4), Faults()),
    })  # fmt: skip
    sabotaged = decide(k2.with_a("sabotaged"), scores)
    assert sabotaged.ci_high < k2.margin and sabotaged.verdict == "not reproduced"
    assert sabotaged.effect < decide(k2, scores).effect - 10


def test_pooled_auc_pairs_each_seed_with_its_own_labels():
    """Each seed draws its own partition: a perfect predictor scores AUC 1.0 on every seed (pairing
    every seed's predictions with seed 0's labels gave 0.597), and the prior row is the trivial floor."""
    from repro.dflmoe.evaluate import prior_scores, results_table

    rng = np.random.default_rng(0)
    runs = {"breast_cancer": {"perfect": []}}
    for _seed in range(3):
        labels = [rng.integers(0, 2, 14) for _ in range(4)]
        runs["breast_cancer"]["perfect"].append({
            "labels": [y.tolist() for y in labels], "prob_pos": [y.astype(float).tolist() for y in labels],
            "client_acc": [100.0] * 4, "bytes_per_round": [0],
        })  # fmt: skip
    row = next(r for r in results_table(runs) if r["method"] == "perfect")
    assert row["pooled_auc"] == 1.0
    task = digits_task(0.1, 4, 0.2, seed=0)
    prior = prior_scores([{"digits-a0.1": task}])["digits-a0.1"]
    majority = [np.mean(c["y_test"] == np.bincount(c["y_train"]).argmax()) * 100 for c in task.clients]
    np.testing.assert_allclose(prior[0], majority)
