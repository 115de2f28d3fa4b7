"""MODS's pieces: shapes, and the invariants that make them GDC, MSelector and PCCA."""

import pytest
import torch

from repro.mods.method import ARMS, arm_spec, build_model, mods_loss
from repro.mods.models import (
    GDC,
    MODS,
    CapsuleCompressor,
    GraphConv,
    ModelSpec,
    MSelector,
    PCCALayer,
    PoolCompressor,
    info_nce,
    split_primary,
)


def batch(n=4, lt=6, la=20, lv=18, dims=(8, 5, 7), seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {"label": torch.rand(n, generator=g) * 6 - 3}
    for name, length, dim in zip(("text", "audio", "vision"), (lt, la, lv), dims):
        out[name] = torch.randn(n, length, dim, generator=g)
        lengths = torch.randint(1, length + 1, (n,), generator=g)
        out[f"{name}_mask"] = torch.arange(length)[None, :] < lengths[:, None]
    return out


def reference_routing(caps, mask, iters):
    """The paper's routing, written plainly over the explicit (B, T, J, d) capsules."""
    b = torch.zeros(caps.shape[:3])
    for it in range(iters):
        r = b.softmax(-1) * mask[..., None]
        nodes = (r[..., None] * caps).sum(1)
        if it < iters - 1:
            b = b + (caps * torch.tanh(nodes)[:, None]).sum(-1)
    return nodes


def test_capsule_routing_matches_the_explicit_capsules():
    torch.manual_seed(0)
    comp = CapsuleCompressor(5, 8, nodes=4, iters=3)
    x, mask = torch.randn(3, 11, 5), torch.arange(11)[None, :] < torch.tensor([[11], [7], [2]])
    nodes, _ = comp.route(x, mask)
    assert nodes.shape == (3, 4, 8)
    torch.testing.assert_close(nodes, reference_routing(comp.capsules(x), mask, 3), rtol=1e-4, atol=1e-5)


def test_gdc_ignores_padding_and_takes_any_length():
    torch.manual_seed(0)
    gdc = GDC(5, 8, nodes=4, iters=3, gcn_layers=2).eval()
    x = torch.randn(1, 9, 5)
    short = gdc(x, torch.ones(1, 9, dtype=torch.bool))
    padded = torch.cat([x, 100 * torch.randn(1, 30, 5)], 1)  # garbage after the length
    long = gdc(padded, torch.arange(39)[None, :] < 9)
    torch.testing.assert_close(short, long)
    assert short.shape == (1, 4, 8)


def test_graph_has_self_loops_and_is_the_identity_without_edges():
    graph = GraphConv(8, layers=2)
    nodes = torch.randn(2, 5, 8)
    adj = graph.adjacency(nodes)
    assert (adj.diagonal(dim1=1, dim2=2) > 0).all()  # self-loops: no node is cut off
    for w in (graph.q.weight, graph.k.weight):
        torch.nn.init.zeros_(w)
    torch.testing.assert_close(graph.adjacency(nodes), torch.eye(5).expand(2, 5, 5))  # no edges: identity


def test_pool_compressor_averages_equal_segments():
    pool = PoolCompressor(3, 3, nodes=2)
    pool.proj.weight.data = torch.eye(3)
    pool.proj.bias.data.zero_()
    pool.norm = torch.nn.Identity()
    x = torch.arange(24.0).view(1, 8, 3)
    mask = torch.arange(8)[None, :] < 6  # six valid frames -> segments of three
    out = pool(x, mask)
    torch.testing.assert_close(out[0, 0], x[0, :3].mean(0))
    torch.testing.assert_close(out[0, 1], x[0, 3:6].mean(0))


def test_selector_weights_are_a_per_sample_softmax_and_primary_is_argmax():
    sel = MSelector(8)
    streams = [torch.randn(5, 6, 8) for _ in range(3)]
    masks = [torch.ones(5, 6, dtype=torch.bool)] * 3
    pooled, w, primary = sel(streams, masks)
    assert pooled.shape == (5, 3, 8) and w.shape == (5, 3)
    torch.testing.assert_close(w.sum(-1), torch.ones(5))
    assert torch.equal(primary, w.argmax(-1))
    _, w_fixed, p_fixed = MSelector(8, fixed=2)(streams, masks)
    assert (p_fixed == 2).all() and (w_fixed == 1).all()


def test_split_primary_gathers_each_samples_primary_and_both_secondaries():
    streams = [torch.full((3, 4, 2), float(m)) for m in range(3)]
    masks = [torch.ones(3, 4, dtype=torch.bool)] * 3
    p, _, s, s_mask = split_primary(streams, masks, torch.tensor([0, 1, 2]))
    assert p[:, 0, 0].tolist() == [0.0, 1.0, 2.0]
    assert s.shape == (3, 8, 2) and s_mask.all()
    assert sorted({s[1, 0, 0].item(), s[1, 4, 0].item()}) == [0.0, 2.0]  # sample 1: text and vision


def test_last_pcca_layer_keeps_only_secondary_to_primary():
    last, inner = PCCALayer(8, 2, 0.0, last=True), PCCALayer(8, 2, 0.0, last=False)
    assert not hasattr(last, "to_secondary") and not hasattr(last, "self_primary")
    p, s = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    pm, sm = torch.ones(2, 3, dtype=torch.bool), torch.ones(2, 5, dtype=torch.bool)
    p2, s2 = last(p, pm, s, sm)
    assert torch.equal(s2, s) and not torch.allclose(p2, p)
    _, s3 = inner(p, pm, s, sm)
    assert not torch.allclose(s3, s)  # earlier layers update the secondaries from the primary


def test_info_nce_prefers_matching_pairs():
    z = torch.randn(16, 8)
    assert info_nce(z, z, 0.1) < 0.1 < info_nce(z, z.roll(1, 0), 0.1)
    torch.testing.assert_close(info_nce(torch.zeros(4, 8), torch.ones(4, 8), 0.1), torch.log(torch.tensor(4.0)))


def test_mods_output_and_gradient_reaches_the_selector():
    spec = ModelSpec(dims=(8, 5, 7), d_model=16, heads=2, nodes=6)
    model = MODS(spec)
    b = batch()
    out = model(b, full=True)
    assert out.pred.shape == (4,) and out.weights.shape == (4, 3) and out.primary.shape == (4,)
    assert torch.isfinite(out.nce)
    mods_loss(model, b, alpha=0.0).backward()  # MAE alone: the weights scale the streams
    assert model.selector.mlp[0].weight.grad.abs().sum() > 0


def test_primary_is_chosen_per_sample():
    """Forcing the selector towards a modality makes it the primary, sample by sample."""
    model = MODS(ModelSpec(dims=(8, 5, 7), d_model=16, heads=2, nodes=6)).eval()
    last = model.selector.mlp[-1]
    torch.nn.init.zeros_(last.weight)
    for m in range(3):
        last.bias.data = torch.nn.functional.one_hot(torch.tensor(m), 3).float() * 5
        assert (model(batch(), full=True).primary == m).all()


@pytest.mark.parametrize("arm", list(ARMS))
def test_every_arm_builds_trains_one_step_and_respects_masks(arm):
    spec = arm_spec(ModelSpec(dims=(8, 5, 7), d_model=16, heads=2, nodes=6), arm)
    torch.manual_seed(0)
    model = build_model(spec)
    b = batch()
    loss = mods_loss(model, b, alpha=0.1)
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    b2 = {k: v.clone() for k, v in b.items()}
    b2["audio"][~b["audio_mask"]] = 1e3  # padding must not matter
    torch.testing.assert_close(model(b), model(b2))
