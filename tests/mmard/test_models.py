"""Networks of the MMARD miniature: shapes, capacity ordering, spec validation, mode invariance."""

import pytest
import torch

from repro.mmard.models import NetSpec, build_net, student_spec, teacher_spec


def n_params(spec: NetSpec) -> int:
    return sum(p.numel() for p in build_net(spec).parameters())


@pytest.mark.parametrize("image_size", [8, 16])
def test_student_smaller_than_small_teacher_smaller_than_large(image_size):
    student = n_params(student_spec(image_size))
    small, large = (n_params(teacher_spec(size, image_size)) for size in ("small", "large"))
    assert student < small < large
    assert 3 <= large / small <= 10, "the large teacher should have 3-10x the small one's parameters"


@pytest.mark.parametrize("image_size", [8, 16])
@pytest.mark.parametrize("name", ["student", "small", "large", "mlp"])
def test_logits_shape(name, image_size):
    specs = {
        "student": student_spec(image_size),
        "small": teacher_spec("small", image_size),
        "large": teacher_spec("large", image_size),
        "mlp": NetSpec("mlp", 32, 2, image_size),
    }
    net = build_net(specs[name])
    assert net(torch.rand(3, 1, image_size, image_size)).shape == (3, 10)


def test_train_and_eval_mode_compute_the_same_function():
    # The attacks run in eval mode and the outer step in train mode: no BatchNorm or dropout
    # may make those two different functions.
    net = build_net(teacher_spec("large", 8))
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(net.train()(x), net.eval()(x))


def test_bad_specs_raise_with_the_valid_choices():
    with pytest.raises(ValueError, match="cnn, mlp"):
        NetSpec("resnet", 8, 2, 8)
    with pytest.raises(ValueError, match="depth"):
        NetSpec("cnn", 8, 0, 8)
    with pytest.raises(ValueError, match="small, large"):
        teacher_spec("medium", 8)


def test_three_channel_inputs_for_cifar():
    net = build_net(student_spec(32, channels=3))
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="channels"):
        NetSpec("cnn", 8, 2, 32, channels=0)
