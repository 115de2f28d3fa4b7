"""Training losses: the KL convention, gradient isolation, mode handling, the formulas' limits, and a
short training run in which PGD-AT beats natural training under attack."""

import copy
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from repro.mmard.attacks import cw_margin, pgd, robust_correct
from repro.mmard.baselines import adaad, eval_mode, kl, rslad
from repro.mmard.config import MmardConfig
from repro.mmard.method import METHODS, USES_TEACHER, MethodHP, js, mmard, mmard_inner, mmard_outer, rslad_mmard
from repro.mmard.models import build_net

CFG = MmardConfig(profile="cpu")

HP = MethodHP(steps=3)


class ModeLog(nn.Module):
    """Identity that records the mode of every forward pass through it."""

    def __init__(self):
        super().__init__()
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        return x


def nets(seed=0):
    torch.manual_seed(seed)
    student = build_net(CFG.student, 8)
    teacher = build_net(CFG.teacher("small").net, 8).eval()
    return student, teacher


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g)


def test_registry_names_and_teacher_set():
    assert set(METHODS) == {"natural", "pgd_at", "trades", "ard", "iad", "kd", "rslad", "adaad", "mmard", "rslad_mmard"}
    assert USES_TEACHER == {"ard", "iad", "kd", "rslad", "adaad", "mmard", "rslad_mmard"}


@pytest.mark.parametrize("name", list(METHODS))
def test_loss_is_finite_scalar_with_gradient_to_the_student_only(name, batch):
    student, teacher = nets()
    log = ModeLog()
    student = nn.Sequential(log, student).train()
    loss = METHODS[name](student, teacher if name in USES_TEACHER else None, *batch, HP)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in student.parameters())
    assert all(p.grad is None for p in teacher.parameters()), "no gradient may reach the teacher"
    assert student.training and not teacher.training
    # inner maximisation (if any) in eval mode first, then the outer loss in train mode
    assert log.modes == sorted(log.modes) and log.modes[-1] is True
    assert (False in log.modes) == (name not in ("natural", "kd"))  # the two without an inner maximisation


@pytest.mark.parametrize("name", sorted(USES_TEACHER))
def test_teacher_in_train_mode_is_refused(name, batch):
    student, teacher = nets()
    with pytest.raises(ValueError, match="teacher must be in eval mode"):
        METHODS[name](student, teacher.train(), *batch, HP)


def test_kl_by_hand_and_its_direction():
    p = torch.tensor([[0.0, math.log(3.0)]])  # softmax: (1/4, 3/4)
    q = torch.zeros(1, 2)  # softmax: (1/2, 1/2)
    by_hand = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert math.isclose(kl(p, q).item(), by_hand, rel_tol=1e-6)
    # PyTorch's kl_div(log Q, P) is KL(P || Q): the teacher-as-target convention of the peers' code
    torch_kl = F.kl_div(F.log_softmax(q, 1), F.softmax(p, 1), reduction="batchmean")
    assert math.isclose(kl(p, q).item(), torch_kl.item(), rel_tol=1e-6)
    assert not math.isclose(kl(p, q).item(), kl(q, p).item(), rel_tol=1e-3)


def test_kl_zero_iff_equal_and_reductions(batch):
    a, b = torch.randn(5, 10), torch.randn(5, 10)
    assert kl(a, a).abs() < 1e-7 and kl(a, a + 3.0).abs() < 1e-6  # logits are shift invariant
    assert kl(a, b) > 0
    assert kl(a, b, reduction="none").shape == (5,)
    assert torch.isclose(kl(a, b, reduction="sum"), 5 * kl(a, b))
    assert torch.isclose(kl(a, b, T=4.0), kl(a / 4, b / 4))
    with pytest.raises(ValueError, match="batchmean, sum, none"):
        kl(a, b, reduction="mean")


def test_js_is_symmetric_zero_on_equal_and_ln2_on_disjoint():
    a, b = torch.randn(4, 10), torch.randn(4, 10)
    assert torch.isclose(js(a, b), js(b, a)) and js(a, b) > 0 and js(a, a).abs() < 1e-7
    disjoint = js(torch.tensor([[50.0, 0.0]]), torch.tensor([[0.0, 50.0]]))
    assert math.isclose(disjoint.item(), math.log(2), rel_tol=1e-5)


@pytest.mark.parametrize("name", ["ard", "iad", "kd", "rslad", "adaad", "mmard", "rslad_mmard"])
def test_distillation_loss_vanishes_for_a_copy_of_the_teacher_at_eps_zero(name, batch):
    _, teacher = nets()
    student = copy.deepcopy(teacher).train()
    loss = METHODS[name](student, teacher, *batch, dataclasses.replace(HP, eps=0.0))
    assert loss.abs() < 1e-6


def test_adaad_takes_its_first_gradient_at_the_unclamped_start_as_its_code_does():
    """boyellow/AdaAD's adaad_inner_loss starts at x + 0.001 N(0, 1) without clamping into [0, 1];
    every later iterate (and the result) is projected into the ball and the box."""
    from repro.mmard.attacks import maximise

    seen = []

    def loss(x_adv):
        seen.append(float(x_adv.min()))
        return x_adv.sum()

    x = torch.zeros(4, 1, 8, 8)
    for clamp in (True, False):
        seen.clear()
        out = maximise(loss, x, 0.1, 0.025, 2, "gaussian", 0.001, clamp_start=clamp)
        assert (seen[0] < 0) is (not clamp) and out.min() >= 0


def test_mmard_outer_without_tie_is_the_two_kl_outer(batch):
    student, teacher = nets()
    x = batch[0]
    x_adv = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    with torch.no_grad():
        t_nat, t_adv = teacher(x), teacher(x_adv)
    s_nat, s_adv = student(x), student(x_adv)
    two_kl = kl(t_adv, s_adv) + kl(t_nat, s_nat)
    untied = dataclasses.replace(HP, mmard_tie_weight=0.0)
    assert torch.isclose(mmard_outer(student, teacher, x, x_adv, untied), two_kl)
    assert torch.isclose(mmard_outer(student, teacher, x, x_adv, HP), two_kl + js(s_nat, s_adv))
    literal = dataclasses.replace(HP, mmard_student_first=True)
    reverse = kl(s_adv, t_adv) + kl(s_nat, t_nat) + js(s_nat, s_adv)
    assert torch.isclose(mmard_outer(student, teacher, x, x_adv, literal), reverse)


def test_mmard_without_margin_and_tie_is_twice_adaad_at_alpha_half(batch):
    # gamma = 0 leaves AdaAD's inner problem; tie 0 leaves KL_adv + KL_nat = 2 * AdaAD(alpha = 1/2)
    student, teacher = nets()
    torch.manual_seed(7)
    plain = mmard(student, teacher, *batch, dataclasses.replace(HP, mmard_gamma=0.0, mmard_tie_weight=0.0))
    torch.manual_seed(7)
    half = adaad(student, teacher, *batch, dataclasses.replace(HP, adaad_alpha=0.5))
    assert torch.isclose(plain, 2 * half)


def test_mmard_inner_margin_term_moves_x_adv_toward_the_teachers_boundary(batch):
    student, teacher = nets()
    with torch.no_grad():
        teacher[-1].weight *= 30  # an untrained teacher's margins are ~0.05 nats: give it a trained one's scale
    x, y = batch
    y = teacher(x).argmax(1)  # examples the teacher gets right, so its margin starts positive
    margins = {}
    for gamma in (0.0, 10.0):
        torch.manual_seed(0)
        hp = dataclasses.replace(HP, eps=0.3, step=0.05, steps=10, mmard_gamma=gamma)
        x_adv = mmard_inner(student, teacher, x, y, hp)
        with torch.no_grad():
            margins[gamma] = (-cw_margin(teacher(x_adv), y)).mean()
    assert margins[10.0] < 0.5 * margins[0.0], margins


def test_rslad_mmard_with_zero_plug_weight_is_rslad_exactly(batch):
    student, teacher = nets()
    torch.manual_seed(3)
    plain = rslad(student, teacher, *batch, HP)
    torch.manual_seed(3)
    plugged_off = rslad_mmard(student, teacher, *batch, dataclasses.replace(HP, plug_weight=0.0))
    torch.manual_seed(3)
    plugged_on = rslad_mmard(student, teacher, *batch, HP)
    assert torch.equal(plain, plugged_off)
    assert plugged_on > plain


def test_eval_mode_restores_each_submodules_own_mode():
    net = nn.Sequential(nn.Dropout(), nn.Sequential(nn.Dropout(), nn.Linear(2, 2)))
    net.train()
    net[1].eval()
    with eval_mode(net):
        assert not any(m.training for m in net.modules())
    assert net.training and net[0].training and not net[1].training and not net[1][0].training


def test_bad_hyperparameters_raise():
    with pytest.raises(ValueError, match="eps"):
        MethodHP(eps=-0.1)
    with pytest.raises(ValueError, match="adaad_alpha"):
        MethodHP(adaad_alpha=1.5)
    with pytest.raises(ValueError, match="ard_temperature"):
        MethodHP(ard_temperature=0.0)


def test_losses_run_under_bf16_autocast(batch):
    # the gpu profile trains under accelerate's bf16 autocast
    student, teacher = nets()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = METHODS["mmard"](student, teacher, *batch, HP)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_pgd_at_beats_natural_training_under_attack():
    d = load_digits()
    x, y = torch.tensor(d.images / 16, dtype=torch.float32)[:, None], torch.tensor(d.target)
    (x_tr, x_te), (y_tr, y_te) = x.split([1437, 360]), y.split([1437, 360])
    hp = MethodHP()  # eps 0.1, step eps/4, 10 steps
    robust = {}
    for name in ("natural", "pgd_at"):
        torch.manual_seed(0)
        student = build_net(CFG.student, 8)
        opt = torch.optim.Adam(student.parameters(), 1e-2)
        for _ in range(10):  # 120 steps
            for xb, yb in zip(x_tr.split(128), y_tr.split(128)):
                opt.zero_grad()
                METHODS[name](student, None, xb, yb, hp).backward()
                opt.step()
        student.eval()
        attack = lambda m, xb, yb: pgd(m, xb, yb, hp.eps, hp.eps / 8, 20)  # noqa: E731
        robust[name] = robust_correct(student, x_te, y_te, attack).float().mean().item()
    assert robust["pgd_at"] > robust["natural"] + 0.1, robust


def line(slope: float) -> nn.Module:
    """Logits (0, slope * x) for a scalar input x: softmax (1/4, 3/4) at slope * x = ln 3."""
    net = nn.Linear(1, 2, bias=False)
    net.weight.data = torch.tensor([[0.0], [slope]])
    return net


def test_iad_loss_by_hand(monkeypatch):
    """IAD-I at tau = 1, beta = 1 on two examples whose x' is fixed (the student's PGD replaced):
    tau^2 KL(T(x) || S(x')) + mean (1 - P_T(y | x')^beta) KL(S(x) || S(x'))."""
    from repro.mmard import baselines

    ln3 = math.log(3.0)
    x, x_adv, y = torch.tensor([[ln3], [0.0]]), torch.tensor([[0.0], [-ln3]]), torch.tensor([1, 0])
    monkeypatch.setattr(baselines, "pgd", lambda *args: x_adv)
    student, teacher = line(1.0), line(2.0).eval()  # the teacher's logits are twice the student's
    hp = dataclasses.replace(HP, iad_temperature=1.0, iad_beta=1.0)
    # example 1: T(x) = (1/10, 9/10), S(x') = (1/2, 1/2), S(x) = (1/4, 3/4), P_T(y=1 | x') = 1/2
    # example 2: T(x) = (1/2, 1/2), S(x') = (3/4, 1/4), S(x) = (1/2, 1/2), P_T(y=0 | x') = 9/10
    teacher_terms = (
        0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5),
        0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2),
    )
    own_terms = (0.25 * math.log(0.5) + 0.75 * math.log(1.5), 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2))
    trust = (0.5, 0.9)
    warmup = sum(teacher_terms) / 2
    by_hand = warmup + sum((1 - a) * k for a, k in zip(trust, own_terms)) / 2
    assert math.isclose(by_hand, 0.295847, abs_tol=1e-6)
    assert math.isclose(baselines.iad(student, teacher, x, y, hp).item(), by_hand, rel_tol=1e-5)
    assert math.isclose(baselines.iad(student, teacher, x, y, hp, introspect=False).item(), warmup, rel_tol=1e-5)
    # beta shrinks the trust gap: at the code's beta = 0.1, a = 0.5^0.1 and 0.9^0.1
    hp = dataclasses.replace(hp, iad_beta=0.1)
    by_hand = warmup + sum((1 - a**0.1) * k for a, k in zip(trust, own_terms)) / 2
    assert math.isclose(baselines.iad(student, teacher, x, y, hp).item(), by_hand, rel_tol=1e-5)
    # tau: tau^2 KL at temperature tau, as ARD's term
    hp = dataclasses.replace(hp, iad_temperature=4.0)
    teacher_t4 = 16 * kl(teacher(x), student(x_adv), T=4.0)
    assert torch.isclose(baselines.iad(student, teacher, x, y, hp, introspect=False), teacher_t4)


def test_iad_introspection_starts_after_its_warmup(monkeypatch):
    """train_net passes introspect=False for the first round(iad_begin * epochs) epochs, True after."""
    from repro.core.runtime import make_accelerator
    from repro.mmard import method
    from repro.mmard.training import train_net

    calls = []

    def record(student, teacher, x, y, hp, introspect):
        calls.append(introspect)
        return student(x).sum() * 0

    monkeypatch.setitem(method.METHODS, "iad", record)
    x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
    teacher = build_net(CFG.teacher("small").net, 8).eval()
    hp = dataclasses.replace(HP, iad_begin=0.3)
    cfg = MmardConfig(profile="cpu", threads=1)
    train_net(
        CFG.student,
        "iad",
        x,
        y,
        hp=hp,
        seed=0,
        epochs=10,
        batch_size=16,
        lr=1e-3,
        weight_decay=0.0,
        accelerator=make_accelerator(cfg),
        teacher=teacher,
    )
    assert calls == [False] * 3 * 4 + [True] * 7 * 4  # 3 of 10 epochs of 4 batches
