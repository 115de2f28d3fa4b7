"""Networks of the MMARD miniature: shapes, capacity ordering, spec validation, mode invariance."""

import pytest
import torch

from repro import mmard
from repro.core.config import ConfigError
from repro.mmard.claims import CANNOT_SHOW
from repro.mmard.config import NetSpec, TeacherSpec
from repro.mmard.models import build_net, check_models, parameter_count

CFG = mmard.config("cpu")
SPECS = {"student": CFG.student, **{t.name: t.net for t in CFG.teachers}, "mlp": NetSpec("mlp", 32, 2)}


@pytest.mark.parametrize("image_size", [8, 16])
def test_student_smaller_than_every_teacher(image_size):
    student = parameter_count(CFG.student, image_size)
    small, large = (parameter_count(CFG.teacher(name).net, image_size) for name in ("small", "large"))
    assert student < small < large


def test_cannot_show_states_the_parameter_counts_the_models_have():
    counts = {name: parameter_count(spec) for name, spec in SPECS.items() if name != "mlp"}
    stated = next(line for line in CANNOT_SHOW if "parameters" in line)
    for name, n in counts.items():
        assert f"{n / 1000:.1f}k" in stated, f"CANNOT_SHOW should state {name} = {n / 1000:.1f}k: {stated}"


@pytest.mark.parametrize("image_size", [8, 16])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_logits_shape(name, image_size):
    net = build_net(SPECS[name], image_size)
    assert net(torch.rand(3, 1, image_size, image_size)).shape == (3, 10)


def test_train_and_eval_mode_compute_the_same_function():
    # The attacks run in eval mode and the outer step in train mode: no BatchNorm or dropout
    # may make those two different functions.
    net = build_net(CFG.teacher("large").net, 8)
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(net.train()(x), net.eval()(x))


def test_bad_specs_raise_with_the_valid_choices():
    with pytest.raises(ConfigError, match="cnn, mlp"):
        NetSpec("resnet", 8, 2)
    with pytest.raises(ConfigError, match="depth"):
        NetSpec("cnn", 8, 0)
    with pytest.raises(ConfigError, match="medium"):
        mmard.config("smoke", main_teacher="medium")
    with pytest.raises(ConfigError, match="unique"):
        mmard.config("smoke", teachers=[TeacherSpec("a", NetSpec("cnn", 8, 2))] * 2)
    with pytest.raises(ConfigError, match="seeds"):
        mmard.config("smoke", seeds=[])


def test_three_channel_inputs_for_cifar():
    net = build_net(CFG.student, 32, channels=3)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="channels"):
        build_net(CFG.student, 32, channels=0)


def test_check_models_builds_every_network_of_the_paper_profile():
    built = check_models(mmard.config("paper"))
    assert set(built) == {"student", *(f"teacher_{t.name}" for t in CFG.teachers)}
    for module, batch in built.values():
        assert batch.shape[1] == 3 and module(batch).shape == (2, 10)
