import pytest
import torch

from repro.gfprune import config
from repro.gfprune.config import UNetSpec
from repro.gfprune.models import alphas_cumprod, build_unet, scheduler_config
from tests.core.test_images import cifar_fixture  # noqa: F401 (CIFAR-10 batches in their real format, for test_data)

TINY = UNetSpec(block_out_channels=(8, 16, 16))


@pytest.fixture
def tiny_cfg():
    return config("smoke", unet={"block_out_channels": [8, 16, 16]}, batch_size=8, prune_stages=2, stage_steps=2)


@pytest.fixture
def unet():
    torch.manual_seed(0)
    return build_unet(TINY)


@pytest.fixture(scope="session")
def abar():
    return alphas_cumprod(scheduler_config(1000))


@pytest.fixture
def images():
    return torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1


@pytest.fixture(autouse=True)
def one_thread():
    """The profiles' thread count: on a shared 2-core machine two OpenMP threads stall the tiny UNet."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
