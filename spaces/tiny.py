"""A small space for fast searches on 8x8 inputs (the embedded digits data at its own size).

A stem (3x3, 5x5 or 1x1 convolution to 16 channels), two cells of one operation each (six
candidates: 3x3, 5x5 or dilated 3x3 convolution, 3x3 max or average pooling, identity), a
skip connection from the stem (InputChoice) and a head (linear, or an MLP of 32 or 64 hidden
units). Size: 3 x 6 x 6 x 2 x 3 = 648 genomes. It trains in well under a second an epoch on
a CPU, which is what the multi-fidelity benchmark (``raynas bench-fidelity``) needs.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from raynas.core.mutables import InputChoice, LayerChoice
from raynas.spaces import register_space

WIDTH = 16


def _conv(c_in: int, c_out: int, kernel: int, dilation: int = 1) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=dilation * (kernel // 2),
                                   dilation=dilation), nn.BatchNorm2d(c_out), nn.ReLU())


def _cell_op() -> LayerChoice:
    return LayerChoice(OrderedDict([
        ("conv3x3", _conv(WIDTH, WIDTH, 3)),
        ("conv5x5", _conv(WIDTH, WIDTH, 5)),
        ("dilconv3x3", _conv(WIDTH, WIDTH, 3, dilation=2)),
        ("maxpool3x3", nn.MaxPool2d(3, 1, padding=1)),
        ("avgpool3x3", nn.AvgPool2d(3, 1, padding=1)),
        ("identity", nn.Identity()),
    ]))


class TinyNet(nn.Module):
    """Input 1x8x8, 10 logits."""

    input_shape = (1, 8, 8)
    num_classes = 10

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = LayerChoice(OrderedDict([
            ("conv3x3", _conv(1, WIDTH, 3)), ("conv5x5", _conv(1, WIDTH, 5)),
            ("conv1x1", _conv(1, WIDTH, 1))]))
        self.op1 = _cell_op()
        self.op2 = _cell_op()
        self.skip = InputChoice(n_candidates=1)
        features = WIDTH * 4 * 4
        self.head = LayerChoice(OrderedDict([
            ("linear", nn.Linear(features, num_classes)),
            ("mlp32", nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, num_classes))),
            ("mlp64", nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, num_classes))),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        x = self.op2(self.op1(stem))
        skip = self.skip([stem])
        if skip is not None:
            x = x + skip
        x = F.max_pool2d(x, 2)
        return self.head(torch.flatten(x, 1))


@register_space("tiny")
def tiny() -> nn.Module:
    """The small 8x8 space (648 genomes)."""
    return TinyNet()
