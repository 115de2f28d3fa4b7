"""Attacks: the eps-ball and image-box contract, no side effects on the model, and that they attack."""

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from repro import mmard
from repro.mmard.attacks import attack_suite, autoattack, cw_inf, cw_margin, fgsm, maximise, pgd, robust_correct
from repro.mmard.models import build_net

STUDENT = mmard.config("cpu").student

EPS = 0.1


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return torch.tensor(d.images / 16, dtype=torch.float32)[:, None], torch.tensor(d.target)


@pytest.fixture(scope="module")
def trained(digits):
    """A naturally trained student (about 95% clean accuracy after 5 epochs)."""
    x, y = digits
    torch.manual_seed(0)
    net = build_net(STUDENT, 8)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(5):
        for xb, yb in zip(x.split(64), y.split(64)):
            opt.zero_grad()
            F.cross_entropy(net(xb), yb).backward()
            opt.step()
    opt.zero_grad(set_to_none=True)
    return net.eval()


ATTACKS = {
    "fgsm": partial(fgsm, eps=EPS),
    "pgd": partial(pgd, eps=EPS, step=EPS / 4, steps=5),
    "pgd_no_start": partial(pgd, eps=EPS, step=EPS / 4, steps=5, random_start=False),
    "cw_inf": partial(cw_inf, eps=EPS, step=EPS / 4, steps=5),
    "maximise_gaussian": lambda m, x, y: maximise(
        lambda xa: F.cross_entropy(m(xa), y, reduction="sum"), x, EPS, EPS / 4, 5, "gaussian"
    ),
}


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("training", [False, True])
def test_attack_stays_in_ball_and_box_without_side_effects(trained, digits, name, training):
    x, y = digits[0][:64], digits[1][:64]
    trained.train(training)
    x_adv = ATTACKS[name](trained, x, y)
    assert trained.training is training, "attacks must leave the model's mode to the caller"
    trained.eval()
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert not x_adv.requires_grad and x_adv.grad_fn is None
    assert all(p.grad is None for p in trained.parameters()), "attacks must not accumulate parameter gradients"
    assert not torch.equal(x_adv, x)


def test_attack_works_under_no_grad(trained, digits):
    x, y = digits[0][:32], digits[1][:32]
    with torch.no_grad():
        x_adv = pgd(trained, x, y, EPS, EPS / 4, 3)
    assert not torch.equal(x_adv, x)


def test_pgd_raises_the_loss_of_a_trained_model(trained, digits):
    x, y = digits[0][:256], digits[1][:256]
    x_adv = pgd(trained, x, y, EPS, EPS / 4, 10)
    with torch.no_grad():
        clean, adv = F.cross_entropy(trained(x), y), F.cross_entropy(trained(x_adv), y)
    assert adv > clean + 0.5


def test_cw_inf_raises_the_margin(trained, digits):
    x, y = digits[0][:256], digits[1][:256]
    x_adv = cw_inf(trained, x, y, EPS, EPS / 4, 10, random_start=False)
    with torch.no_grad():
        before, after = cw_margin(trained(x), y), cw_margin(trained(x_adv), y)
    # Sign steps do not guarantee ascent per example; nearly all examples must still gain.
    assert (after >= before).float().mean() > 0.95
    assert after.mean() > before.mean() + 1.0


@pytest.mark.parametrize("loss", ["ce", "cw"])
def test_pgd_at_eps_zero_returns_x_exactly(trained, digits, loss):
    x, y = digits[0][:32], digits[1][:32]
    assert torch.equal(pgd(trained, x, y, 0.0, 0.01, 5, loss=loss), x)


def test_fgsm_moves_every_interior_pixel_by_eps(trained, digits):
    x, y = digits[0][:32], digits[1][:32]
    delta = (fgsm(trained, x, y, EPS) - x).abs()
    interior = (x >= EPS) & (x <= 1 - EPS)
    # a pixel moves by exactly eps unless its gradient is zero
    assert torch.all(torch.isclose(delta[interior], torch.tensor(EPS)) | (delta[interior] == 0))
    assert torch.isclose(delta[interior], torch.tensor(EPS)).float().mean() > 0.5


def test_cw_margin_by_hand():
    logits = torch.tensor([[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]])
    assert torch.allclose(cw_margin(logits, torch.tensor([0, 1])), torch.tensor([2.0, -1.0]))


def test_robust_correct_clean_matches_argmax_and_batching(trained, digits):
    x, y = digits[0][:100], digits[1][:100]
    clean = robust_correct(trained, x, y, None, batch_size=7)
    assert clean.dtype == torch.bool and clean.shape == (100,)
    assert torch.equal(clean, trained(x).argmax(1) == y)
    fgsm_eps = partial(fgsm, eps=EPS)
    small, whole = (robust_correct(trained, x, y, fgsm_eps, batch_size=size) for size in (7, 100))
    assert torch.equal(small, whole)
    assert all(p.grad is None for p in trained.parameters())


def test_attack_suite_rows_and_pgd_step():
    suite = attack_suite(EPS)
    assert list(suite) == ["clean", "fgsm", "pgd20", "cw_inf", "autoattack"]
    assert suite["clean"] is None
    assert suite["pgd20"].keywords == {"eps": EPS, "step": EPS / 8, "steps": 20}
    assert math.isclose(suite["pgd20"].keywords["step"] * suite["pgd20"].keywords["steps"], 2.5 * EPS)


def test_autoattack_stays_in_ball_and_keeps_the_callers_rng(trained, digits):
    x, y = digits[0][:8], digits[1][:8]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    x_adv = autoattack(trained, x, y, EPS, seed=0)
    assert torch.equal(torch.get_rng_state(), state), "AutoAttack reseeds torch; the caller's RNG must be restored"
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert not x_adv.requires_grad and not trained.training
    assert all(p.grad is None for p in trained.parameters())
    with torch.no_grad():
        assert (trained(x_adv).argmax(1) == y).sum() <= (trained(x).argmax(1) == y).sum()


def test_maximise_rejects_unknown_init(digits):
    with pytest.raises(ValueError, match="uniform, gaussian, none"):
        maximise(lambda xa: xa.sum(), digits[0][:2], EPS, EPS / 4, 1, init="zeros")


def test_bfloat16_model_and_inputs(trained, digits):
    # The GPU profile runs in bf16: the attack must keep the dtype and the ball up to bf16 rounding.
    model = build_net(STUDENT, 8).to(torch.bfloat16).eval()
    x, y = digits[0][:16].to(torch.bfloat16), digits[1][:16]
    x_adv = pgd(model, x, y, EPS, EPS / 4, 3)
    assert x_adv.dtype == torch.bfloat16
    assert (x_adv.float() - x.float()).abs().max() <= EPS + 2**-7
