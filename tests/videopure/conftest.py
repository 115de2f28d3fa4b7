import pytest
import torch

from repro.videopure import config
from repro.videopure.method import Purifier
from repro.videopure.models import build_unet, scheduler_config


@pytest.fixture(autouse=True)
def one_thread():
    """The profiles' thread count: on a shared 2-core machine two OpenMP threads stall the tiny UNet."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smoke():
    return config("smoke")


@pytest.fixture(scope="session")
def purifier(smoke):
    torch.manual_seed(0)
    unet = build_unet(smoke.unet).eval()
    return Purifier(unet, scheduler_config(1000), smoke.ddim_steps, smoke.inversion_steps, smoke.diffpure_steps)


@pytest.fixture
def clips(smoke):
    c = smoke.video.canvas
    return torch.rand(2, smoke.video.frames, 1, c, c, generator=torch.Generator().manual_seed(1))
