"""What ``fix(model, genome)`` costs on a DARTS-like supernet, in one process.

Baseline: the former way, a deep copy of the whole supernet and then the fix in place.
Now: ``fix`` copies only what the fixed model keeps. Prints the time per fix of each, the
ratio, and the parameters copied. Run: ``python -m raynas.bench.fix_copy``.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections import OrderedDict
from typing import Callable

import torch
import torch.nn as nn

from raynas.core.fixing import count_parameters, fix
from raynas.core.mutables import InputChoice, LayerChoice
from raynas.core.space import SearchSpace


def _sep_conv(c: int, k: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=False),
                         nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=False))


def _dil_conv(c: int, k: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=k - 1, dilation=2, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=False))


class Node(nn.Module):
    """A DARTS node: one 7-way LayerChoice per incoming edge, an InputChoice of two edges."""

    def __init__(self, node_id: str, num_prev: int, c: int):
        super().__init__()
        keys = [f"{node_id}_p{i}" for i in range(num_prev)]
        self.ops = nn.ModuleList(LayerChoice(OrderedDict([
            ("maxpool", nn.MaxPool2d(3, 1, 1)), ("avgpool", nn.AvgPool2d(3, 1, 1)),
            ("skipconnect", nn.Identity()),
            ("sepconv3x3", _sep_conv(c, 3)), ("sepconv5x5", _sep_conv(c, 5)),
            ("dilconv3x3", _dil_conv(c, 3)), ("dilconv5x5", _dil_conv(c, 5)),
        ]), key=key) for key in keys)
        self.input_switch = InputChoice(choose_from=keys, n_chosen=2, key=f"{node_id}_switch")

    def forward(self, prev: list) -> torch.Tensor:
        return self.input_switch([op(x) for op, x in zip(self.ops, prev)])


class DartsSupernet(nn.Module):
    """8 cells of 4 nodes, 16 channels: the DARTS search network's shape (14 edges a cell)."""

    def __init__(self, cells: int = 8, nodes: int = 4, c: int = 16):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.cells = nn.ModuleList(
            nn.ModuleList(Node(f"c{i}_n{d}", d, c) for d in range(2, nodes + 2)) for i in range(cells))


def _time_per_call(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats: int = 5) -> dict[str, float]:
    model = DartsSupernet()
    space = SearchSpace.from_model(model)
    genome = space.sample(0)

    def old_way() -> nn.Module:
        return fix(copy.deepcopy(model), genome, inplace=True)

    old_way(), fix(model, genome)  # warm up
    before = _time_per_call(old_way, repeats)
    after = _time_per_call(lambda: fix(model, genome), repeats)
    figures = {"supernet_params": count_parameters(model),
               "fixed_params": count_parameters(model, genome),
               "before_s": before, "after_s": after, "ratio": before / after}
    print(f"DARTS-like supernet: {figures['supernet_params']:,} parameters, "
          f"fixed model {figures['fixed_params']:,}")
    print(f"fix, deep copy of the whole supernet (before): {before * 1e3:8.1f} ms per fix")
    print(f"fix, copy of what the fixed model keeps (now): {after * 1e3:8.1f} ms per fix")
    print(f"ratio: {figures['ratio']:.1f}x faster")
    return figures


if __name__ == "__main__":
    main()
