"""Teachers and student for the MMARD miniature: small CNNs (or MLPs) built from the config's specs.

Introduced in notebooks/mmard/02_model.ipynb. The paper distils a WideResNet-34-10 teacher into a
ResNet-18 student on CIFAR-10; the miniature keeps the shape of that setting (teachers of different
capacity, a student with fewer parameters than any of them) at a size that trains in seconds on two
CPU cores.

The networks have no normalisation layers. BatchNorm would make the attacks depend on train/eval
mode and on batch statistics (which differ per process under DDP without SyncBatchNorm); at depth
<= 4 on 8x8 or 16x16 digits plain conv-ReLU stacks train well without it, and every method then sees
the same function in the inner maximisation and in the outer step.

    >>> from repro.mmard.config import NetSpec
    >>> net = build_net(NetSpec("cnn", 8, 2), image_size=8)
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn

from repro.mmard.config import MmardConfig, NetSpec

POOLED_SIZE = 4  # CNN features are pooled to 4x4, so the head is the same for 8x8 and 16x16 inputs
NUM_CLASSES = 10


def build_net(spec: NetSpec, image_size: int, channels: int = 1, num_classes: int = NUM_CLASSES) -> nn.Module:
    """A freshly initialised float32 network on the CPU for (N, channels, image_size, image_size)
    inputs; move it with `.to(device)`."""
    if image_size < 1 or channels < 1 or num_classes < 1:
        raise ValueError(f"image_size, channels, num_classes must be >= 1: {image_size}, {channels}, {num_classes}")
    return _cnn(spec, channels, num_classes) if spec.kind == "cnn" else _mlp(spec, image_size, channels, num_classes)


def net_record(spec: NetSpec, image_size: int, channels: int) -> dict:
    """What is saved beside a network's weights (``repro.core.weights``) to rebuild it."""
    return {**asdict(spec), "image_size": image_size, "channels": channels}


def net_from_record(record: dict) -> nn.Module:
    record = dict(record)
    image_size, channels = record.pop("image_size"), record.pop("channels")
    return build_net(NetSpec(**record), image_size, channels)


def data_channels(cfg: MmardConfig) -> int:
    return 3 if cfg.data_source == "cifar10" else 1


def parameter_count(spec: NetSpec, image_size: int = 8, channels: int = 1) -> int:
    return sum(p.numel() for p in build_net(spec, image_size, channels).parameters())


def check_models(cfg: MmardConfig) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """Every network a profile builds, with a tiny input batch (the config-rot test runs this for
    ``gpu`` and ``paper`` on CPU)."""
    channels = data_channels(cfg)
    batch = torch.rand(2, channels, cfg.image_size, cfg.image_size)
    specs = {f"teacher_{t.name}": t.net for t in cfg.teachers} | {"student": cfg.student}
    return {name: (build_net(spec, cfg.image_size, channels), batch) for name, spec in specs.items()}


def _cnn(spec: NetSpec, channels: int, num_classes: int) -> nn.Sequential:
    widths = [channels] + [spec.width] * spec.depth
    convs = [
        layer
        for c_in, c_out in zip(widths, widths[1:])
        for layer in (nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU())
    ]
    pool = nn.AdaptiveAvgPool2d(POOLED_SIZE)
    return nn.Sequential(*convs, pool, nn.Flatten(), nn.Linear(spec.width * POOLED_SIZE**2, num_classes))


def _mlp(spec: NetSpec, image_size: int, channels: int, num_classes: int) -> nn.Sequential:
    sizes = [channels * image_size**2] + [spec.width] * spec.depth
    hidden = [layer for d_in, d_out in zip(sizes, sizes[1:]) for layer in (nn.Linear(d_in, d_out), nn.ReLU())]
    return nn.Sequential(nn.Flatten(), *hidden, nn.Linear(spec.width, num_classes))
