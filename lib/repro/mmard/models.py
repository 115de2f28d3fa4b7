"""Teachers and student for the MMARD miniature: small CNNs and an MLP on digits.

Introduced in notebooks/mmard/02_model.ipynb. The paper distils a WideResNet-34-10 teacher into a
ResNet-18 student on CIFAR-10; the miniature keeps the shape of that setting (two teachers of
different capacity, a student with fewer parameters than either) at a size that trains in seconds
on two CPU cores.

The networks have no normalisation layers. BatchNorm would make the attacks depend on train/eval
mode and on batch statistics (which differ per process under DDP without SyncBatchNorm); at depth
<= 4 on 8x8 or 16x16 digits plain conv-ReLU stacks train well without it, and every method then sees
the same function in the inner maximisation and in the outer step.

    >>> net = build_net(student_spec(image_size=8))
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from dataclasses import dataclass

from torch import nn

KINDS = ("cnn", "mlp")
POOLED_SIZE = 4  # CNN features are pooled to 4x4, so the head is the same for 8x8 and 16x16 inputs

# Presets as (kind, width, depth). Parameter counts at either image size (1 channel): student 2.0k,
# small teacher 7.4k, large teacher 24k (3.3x the small one). The large teacher sits inside AdaAD's
# and MMARD's inner loop, so its cost multiplies their training time: 32 wide and 3 deep keeps the
# cpu profile in its 10-minute budget (40 x 4 cost 2.3x more per forward).
TEACHERS = {"small": ("cnn", 16, 3), "large": ("cnn", 32, 3)}
STUDENT = ("cnn", 8, 2)


@dataclass(frozen=True)
class NetSpec:
    """A network as data: `kind` is "cnn" or "mlp"; `depth` counts conv layers (CNN) or hidden
    layers (MLP), each `width` channels or units; inputs are (N, channels, image_size, image_size)
    (1 channel for digits, 3 for CIFAR-10)."""

    kind: str
    width: int
    depth: int
    image_size: int
    num_classes: int = 10
    channels: int = 1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"NetSpec.kind={self.kind!r}; valid kinds: {', '.join(KINDS)}")
        for name in ("width", "depth", "image_size", "num_classes", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"NetSpec.{name} must be >= 1, got {getattr(self, name)}")


def teacher_spec(size: str, image_size: int, channels: int = 1) -> NetSpec:
    """The "small" or "large" teacher CNN (the paper's two teacher choices, in miniature)."""
    if size not in TEACHERS:
        raise ValueError(f"teacher size {size!r}; valid sizes: {', '.join(TEACHERS)}")
    kind, width, depth = TEACHERS[size]
    return NetSpec(kind, width, depth, image_size, channels=channels)


def student_spec(image_size: int, channels: int = 1) -> NetSpec:
    """The tiny student CNN (the paper's ResNet-18, in miniature)."""
    kind, width, depth = STUDENT
    return NetSpec(kind, width, depth, image_size, channels=channels)


def build_net(spec: NetSpec) -> nn.Module:
    """A freshly initialised float32 network on the CPU; move it with `.to(device)`."""
    return _cnn(spec) if spec.kind == "cnn" else _mlp(spec)


def _cnn(spec: NetSpec) -> nn.Sequential:
    channels = [spec.channels] + [spec.width] * spec.depth
    convs = [
        layer
        for c_in, c_out in zip(channels, channels[1:])
        for layer in (nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU())
    ]
    pool = nn.AdaptiveAvgPool2d(POOLED_SIZE)
    return nn.Sequential(*convs, pool, nn.Flatten(), nn.Linear(spec.width * POOLED_SIZE**2, spec.num_classes))


def _mlp(spec: NetSpec) -> nn.Sequential:
    sizes = [spec.channels * spec.image_size**2] + [spec.width] * spec.depth
    hidden = [layer for d_in, d_out in zip(sizes, sizes[1:]) for layer in (nn.Linear(d_in, d_out), nn.ReLU())]
    return nn.Sequential(nn.Flatten(), *hidden, nn.Linear(spec.width, spec.num_classes))
