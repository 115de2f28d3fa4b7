"""A tiny victim saved with save_pretrained into a temporary folder: the attack's real-use path."""

import pytest
import torch

from repro.lingoloop.config import VictimSpec
from repro.lingoloop.data import Vocab
from repro.lingoloop.models import build_processor, build_victim, save_victim
from repro.lingoloop.vlm import load_vlm

TINY = VictimSpec(vision_width=32, vision_layers=1, width=32, layers=1, heads=2)


@pytest.fixture(scope="session")
def victim_path(tmp_path_factory):
    torch.manual_seed(0)
    vocab = Vocab.build()
    path = tmp_path_factory.mktemp("victim")
    save_victim(build_victim(TINY, vocab), build_processor(TINY, vocab), path)
    return path


@pytest.fixture(scope="session")
def vlm(victim_path):
    return load_vlm(victim_path)
