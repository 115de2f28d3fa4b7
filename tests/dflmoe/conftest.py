import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The profiles run these tiny models on one thread (config.threads); a second one only fights
    the other processes on a shared 2-core machine (measured: 3-5x slower under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
