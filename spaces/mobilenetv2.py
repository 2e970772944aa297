"""A MobileNetV2-style space (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018), small enough to train on CPU, for 28x28 and 32x32 inputs.

A 3x3 stem, four stages of inverted-residual blocks, a 1x1 head, global average pooling and a
linear classifier. Decisions, keyed for readable exports:

* ``width``: the width multiplier (0.5, 0.75, 1.0) of every layer's channels;
* per stage ``stageN/expand`` (the expansion ratio: 1, 3 or 6), ``stageN/kernel`` (the
  depthwise kernel: 3, 5 or 7) and ``stageN/depth`` (how many blocks, a ``Repeat``).

Stages (output channels at width 1.0, first block's stride, depths): 16/1/1-2,
24/2/1-3, 32/2/1-3, 64/2/1-3; 28x28 inputs become 28, 14, 7 and 4 pixels wide.
Registered as ``mobilenetv2`` (1x28x28: digits, MNIST, Fashion-MNIST) and
``mobilenetv2-cifar`` (3x32x32: CIFAR-10).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from raynas.core.values import Repeat, ValueChoice
from raynas.spaces import register_space

WIDTHS = [0.5, 0.75, 1.0]
EXPANSIONS = [1, 3, 6]
KERNELS = [3, 5, 7]
#: (output channels at width 1.0, stride of the first block, allowed depths)
STAGES = [(16, 1, [1, 2]), (24, 2, [1, 2, 3]), (32, 2, [1, 2, 3]), (64, 2, [1, 2, 3])]
STEM, HEAD = 16, 256


def scaled(channels: int, width: float, divisor: int = 8) -> int:
    """``channels * width`` rounded to the nearest multiple of ``divisor`` (at least one, and
    never more than 10% below the exact value), as in MobileNetV2."""
    out = max(divisor, int(channels * width + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * channels * width else out


class InvertedResidual(nn.Module):
    """1x1 expansion (left out for ratio 1), depthwise kxk, linear 1x1 projection; a residual
    connection when the block keeps its shape."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand: int,
                 kernel: int):
        super().__init__()
        hidden = in_channels * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden,
                             bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.residual else out


class MobileNetV2Space(nn.Module):
    """The searchable network; ``in_channels`` and ``num_classes`` fit the dataset. Build it
    through ``SearchSpace.from_model(MobileNetV2Space)`` / ``fix(MobileNetV2Space, genome)``."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        width = ValueChoice(WIDTHS, key="width")
        channels = scaled(STEM, width)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU6(inplace=True))
        stages = []
        for number, (base, stride, depths) in enumerate(STAGES, 1):
            expand = ValueChoice(EXPANSIONS, key=f"stage{number}/expand")
            kernel = ValueChoice(KERNELS, key=f"stage{number}/kernel")
            out = scaled(base, width)

            def block(index: int, in_ch: int = channels, out_ch: int = out, first: int = stride,
                      t: int = expand, k: int = kernel) -> nn.Module:
                return InvertedResidual(in_ch if index == 0 else out_ch, out_ch,
                                        first if index == 0 else 1, t, k)

            stages.append(Repeat(block, depths, key=f"stage{number}/depth"))
            channels = out
        self.stages = nn.Sequential(*stages)
        head = scaled(HEAD, width)
        self.head = nn.Sequential(nn.Conv2d(channels, head, 1, bias=False),
                                  nn.BatchNorm2d(head), nn.ReLU6(inplace=True))
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stages(self.stem(x)))
        return self.classifier(x.mean((2, 3)))


@register_space("mobilenetv2")
def mobilenetv2() -> nn.Module:
    """MobileNetV2-style space for 1x28x28 inputs (digits, MNIST, Fashion-MNIST)."""
    return MobileNetV2Space(in_channels=1, num_classes=10)


@register_space("mobilenetv2-cifar")
def mobilenetv2_cifar() -> nn.Module:
    """MobileNetV2-style space for 3x32x32 inputs (CIFAR-10)."""
    return MobileNetV2Space(in_channels=3, num_classes=10)
