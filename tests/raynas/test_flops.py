"""``count_flops`` gives PyTorch's ``FlopCounterMode`` total, without its module bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

import raynas.spaces
from raynas import SearchSpace, count_flops, fix
from raynas.spaces import BUILTIN


def _reference(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape))
    return int(counter.get_total_flops())


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_count_flops_equals_flop_counter_mode_on_every_registered_space(name):
    factory = raynas.spaces.get(name)
    input_shape = tuple(BUILTIN[name].input_shape)
    space = SearchSpace.from_model(factory)
    rng = np.random.default_rng(3)
    for genome in (space.default(), space.sample(rng), space.sample(rng)):
        model = fix(factory, genome)
        counted = count_flops(model, input_shape)
        assert counted > 0
        assert counted == _reference(model, input_shape)


def test_count_flops_restores_the_training_mode_and_counts_decomposed_operators():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Dropout(0.5))
    model.train()
    # addmm of the Linear: 2 * 12 * 5; the dropout is the identity in eval mode
    assert count_flops(model, (3, 2, 2)) == 2 * 12 * 5
    assert model.training
    # einsum has no formula of its own: it is decomposed into a counted bmm
    class Bilinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(4, 6))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.einsum("bi,ij->bj", x.flatten(1), self.weight)

    assert count_flops(Bilinear(), (1, 2, 2)) == _reference(Bilinear(), (1, 2, 2)) > 0
