"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020) in its trainable network.

One cell of 4 nodes; node i sums an operation on each earlier node. The six edges are keys
``edge0``..``edge5`` in NAS-Bench-201's order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), shared
by every cell of the network (C=16, N=5: 3 stages of 5 cells, ResNet blocks between them),
so a genome maps one-to-one to the benchmark's ``arch_str`` and the fixed network has the
benchmark's ``params_cifar10``. ``nasbench201-small`` is the same cell and space in a network
sized for CPUs (C=8, N=1, 1x16x16 input).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn as nn

from raynas.bench.table import NB201_KEYS as EDGE_KEYS
from raynas.bench.table import NB201_OPS as OPERATIONS
from raynas.core.mutables import LayerChoice
from raynas.spaces import register_space

EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to node, from node), EDGE_KEYS order


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    """The ``none`` operation: zeros of the input's shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_operation(name: str, channels: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown operation {name!r}; known: {list(OPERATIONS)}")


class Cell(nn.Module):
    """A NAS-Bench-201 cell: one LayerChoice per edge, keys shared across cells."""

    def __init__(self, channels: int):
        super().__init__()
        self.edges = nn.ModuleList(
            LayerChoice({op: make_operation(op, channels) for op in OPERATIONS}, key=key)
            for key in EDGE_KEYS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to_node in range(1, 4):
            nodes.append(sum(self.edges[i](nodes[src])
                             for i, (dst, src) in enumerate(EDGES) if dst == to_node))
        return nodes[-1]


class ResNetBlock(nn.Module):
    """The reduction block between stages: stride 2, channels doubled."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NasBench201Net(nn.Module):
    """Input ``in_channels`` x H x W (3x32x32 in the benchmark); C channels, N cells per stage."""

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
                 in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBlock(c, 2 * c))
                c *= 2
            layers.extend(Cell(c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))


@register_space("nasbench201")
def nasbench201() -> nn.Module:
    """The NAS-Bench-201 network (C=16, N=5) for CIFAR-10."""
    return NasBench201Net()


@register_space("nasbench201-small", input_shape=(1, 16, 16), num_classes=10)
def nasbench201_small() -> nn.Module:
    """The same 6-edge cell and 15,625 genomes in a network small enough for CPUs
    (C=8, N=1, 1x16x16 input): for the one-shot benchmark on the digits data."""
    return NasBench201Net(channels=8, cells_per_stage=1, in_channels=1)


def to_arch_str(genome: Mapping[str, str]) -> str:
    """The benchmark's ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` string of a genome
    (``ValueError`` for a missing edge or an unknown operation)."""
    bad = {key: genome.get(key) for key in EDGE_KEYS if genome.get(key) not in OPERATIONS}
    if bad:
        raise ValueError(f"not a NAS-Bench-201 genome: {bad}; every key of {list(EDGE_KEYS)} "
                         f"takes one of {list(OPERATIONS)}")
    parts = []
    for node in range(1, 4):
        ops = [f"{genome[EDGE_KEYS[i]]}~{src}" for i, (dst, src) in enumerate(EDGES) if dst == node]
        parts.append("|" + "|".join(ops) + "|")
    return "+".join(parts)


def from_arch_str(arch_str: str) -> dict[str, str]:
    """The genome of a benchmark ``arch_str`` (``ValueError`` when malformed)."""
    nodes = arch_str.split("+")
    ops = [token.split("~")[0] for node in nodes for token in node.strip("|").split("|")]
    if len(nodes) != 3 or len(ops) != len(EDGES) or not set(ops) <= set(OPERATIONS):
        raise ValueError(f"not a NAS-Bench-201 arch_str: {arch_str!r}; expected "
                         f"'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with ops from {list(OPERATIONS)}")
    return dict(zip(EDGE_KEYS, ops))
