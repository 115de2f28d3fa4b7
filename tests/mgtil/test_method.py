"""CKT, CMC, DFG and the baselines' terms: the invariants that make them what the paper describes."""

import torch

from repro.mgtil import method
from repro.mgtil.baselines import WeightEnsemble, kl_to_teacher, zscl_loss


def logits(seed, n=6):
    return torch.randn(n, n, generator=torch.Generator().manual_seed(seed)) * 3


def test_ckt_is_zero_on_the_teacher_and_symmetric():
    s, t = logits(0), logits(1)
    assert method.ckt_loss(t, t, 2.0).abs() < 1e-6
    assert method.ckt_loss(s, t, 2.0) > 0
    assert torch.allclose(method.ckt_loss(s, t, 2.0), method.ckt_loss(t, s, 2.0), atol=1e-5)


def test_ckt_reads_columns_too():
    s = logits(0)
    t = s.clone()
    t[:, 0] += torch.arange(6.0)  # changes column 0 only: every row's softmax changes, and column 0's
    row_only = (method.symmetric_kl(s, t, 1.0)).item()
    assert method.ckt_loss(s, t, 1.0).item() != row_only / 2


def test_cmc_is_clips_own_contrastive_loss():
    from repro.mgtil.config import ClipSpec
    from repro.mgtil.models import build_clip, build_tokenizer, pixels, tokenize

    torch.manual_seed(0)
    texts = ["a chest x-ray showing nodule", "a fundus photograph", "a dermoscopy image showing nevus"]
    tok = build_tokenizer(texts, 8)
    clip = build_clip(ClipSpec(max_words=8), tok.get_vocab_size()).eval()
    ids, mask = tokenize(tok, texts)
    images = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        out = clip(input_ids=ids, pixel_values=pixels(images), attention_mask=mask, return_loss=True)
    assert torch.allclose(method.cmc_loss(out.logits_per_image), out.loss, atol=1e-5)


def test_dfg_importance_is_the_normalised_squared_gradient_of_the_distillation_terms_only():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    params = list(net.parameters())
    x = torch.randn(5, 4)
    distill = net(x).pow(2).mean()
    ce = net(x).sum()  # a task loss that must not enter W
    weights = method.importance(distill, params)
    grads = torch.autograd.grad(net(x).pow(2).mean(), params)
    squares = [g**2 for g in grads]
    mean = torch.cat([s.flatten() for s in squares]).mean()
    for w, s in zip(weights, squares):
        assert torch.allclose(w, s / mean, atol=1e-6) and not w.requires_grad
    assert ce.requires_grad  # untouched: W came from distill alone


def test_dfg_penalty_is_zero_at_the_anchor_and_weights_parameters_by_importance():
    p = [torch.nn.Parameter(torch.tensor([1.0, 2.0]))]
    anchors = [torch.tensor([1.0, 0.0])]
    assert method.anchored_penalty(p, [p[0].detach().clone()], [torch.ones(2)]) == 0
    assert method.anchored_penalty(p, anchors) == 4.0  # l2: unit weights
    assert method.anchored_penalty(p, anchors, [torch.tensor([5.0, 0.5])]) == 2.0


def test_without_ckt_the_teacher_does_not_matter():
    torch.manual_seed(0)
    net = torch.nn.Linear(6, 6)
    params = list(net.parameters())
    anchors = [p.detach().clone() + 0.1 for p in params]
    student = net(torch.eye(6))
    kw = dict(alpha=1.0, beta=1.0, gamma=1.0, tau=2.0)
    terms = method.ABLATIONS["ours_no_ckt"]
    a = method.distillation_terms(student, logits(0), params, anchors, terms, **kw)
    b = method.distillation_terms(student, logits(1), params, anchors, terms, **kw)
    assert torch.allclose(a, b)
    full = method.distillation_terms(student, logits(1), params, anchors, method.Terms(), **kw)
    assert not torch.allclose(full, b)


def test_lwf_and_zscl_terms_vanish_on_the_teacher():
    t = logits(3)
    assert kl_to_teacher(t, t, 2.0).abs() < 1e-6 and zscl_loss(t, t, 2.0).abs() < 1e-6
    assert zscl_loss(logits(4), t, 2.0) > 0


def test_weight_ensemble_averages_the_start_and_every_iterate_once():
    """ZSCL's official finetune.py merges after each optimiser update: on a 20-update path that moves
    one unit per update the average is the mean of 0..20 = 10 (issue 30: the old order gave 9.05)."""
    p = torch.nn.Parameter(torch.zeros(3))
    we = WeightEnsemble([p], every=1)
    for update in range(20):  # the loss is computed before update `update + 1`
        we.after_update(update)
        with torch.no_grad():
            p.add_(1.0)
    we.finish(20)
    assert torch.allclose(p, torch.full((3,), 10.0))


def test_weight_ensemble_every_n_updates():
    p = torch.nn.Parameter(torch.zeros(1))
    we = WeightEnsemble([p], every=2)
    for update in range(4):
        we.after_update(update)
        with torch.no_grad():
            p.add_(1.0)
    we.finish(4)
    assert torch.allclose(p, torch.tensor([2.0]))  # mean of the start (0), update 2 (2) and update 4 (4)


def test_cmc_counts_identical_captions_as_positives_and_reaches_its_floor():
    """With repeated captions the identity target cannot be met (two copies of one caption compete),
    the duplicate-aware loss can: it falls to zero when each image scores its caption's copies high."""
    captions = torch.tensor([0, 0, 1, 1, 1, 2])
    same = captions[:, None] == captions[None, :]
    perfect = torch.where(same, 50.0, -50.0)
    assert method.cmc_loss(perfect, same) < 1e-6
    assert method.cmc_loss(perfect) > 0.6  # the identity form: at least log 2 for a caption seen twice
    distinct = logits(5)
    assert torch.allclose(method.cmc_loss(distinct, torch.eye(6, dtype=torch.bool)), method.cmc_loss(distinct))


def test_tuning_averages_the_pilot_seeds_and_flags_a_choice_on_the_grid_edge():
    """Every tuned weight is chosen by its mean validation score over the pilot seeds (seed 101's
    preference alone would pick another value); PRIMED's value is shared by PRIMED-uniform; a choice at
    the grid's end is flagged; the test split is never read (it is all wrong here, yet ignored)."""
    import numpy as np

    from repro.core.train import Budget
    from repro.mgtil.config import LossSpec
    from repro.mgtil.continual import StreamResult
    from repro.mgtil.tuning import tune

    peak = {"l2": {100: 1.0, 101: 10.0}, "ours": {100: 0.1, 101: 0.1}}  # where each seed scores best

    def run(method, spec, seed):
        value = spec.l2 if method == "l2" else spec.gamma
        share = 0.9 - 0.1 * abs(np.log10(value / peak[method][seed]))
        share -= 0.05 if (method, seed, value) == ("l2", 100, 10.0) else 0  # seed 100 dislikes 10 a bit more
        n_true = int(round(100 * share))
        val = np.zeros((2, 2, 100), bool)
        val[..., :n_true] = True
        return StreamResult(np.zeros((2, 2, 100), bool), val, [], Budget())

    run_all = lambda pilots: [run(*pilot) for pilot in pilots]
    specs, table = tune(("l2", "ours", "ours_uniform"), LossSpec(), (0.1, 1.0, 10.0), (100, 101), run_all)
    assert table["l2"]["per_seed"] == {"0.1": [80.0, 70.0], "1.0": [90.0, 80.0], "10.0": [75.0, 90.0]}
    assert table["l2"]["chosen"] == 1.0 and not table["l2"]["on_edge"]  # mean 85 beats 82.5
    assert table["ours"]["chosen"] == 0.1 and table["ours"]["on_edge"]
    assert specs["l2"].l2 == 1.0 and specs["ours"].gamma == specs["ours_uniform"].gamma == 0.1
