"""A tiny supernet with every kind of decision (LayerChoice, InputChoice with n_chosen=None and
n_chosen=1, BatchNorm everywhere) on the real digits data at 8x8, and a local Ray."""

from __future__ import annotations

import functools
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import raynas.datasets
from raynas import InputChoice, LayerChoice, SearchSpace
from raynas.oneshot.supernet import PathSetter, sample_path


def conv_bn(c_in: int, c_out: int, kernel: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class PoisonAfter(nn.Module):
    """Identity for the first ``after`` training forwards, then NaN (a real divergence)."""

    def __init__(self, after: int | None):
        super().__init__()
        self.after = after
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.after is not None:
            self.calls += 1
            if int(self.calls) > self.after:
                return x * float("nan")
        return x


class TinyNet(nn.Module):
    """1x8x8 in, 10 classes; 3 x 2 x 4 x 3 = 72 genomes."""

    input_shape = (1, 8, 8)
    num_classes = 10

    def __init__(self, poison_after: int | None = None):
        super().__init__()
        self.stem = conv_bn(1, 8, 3)
        self.op1 = LayerChoice([conv_bn(8, 8, 3), conv_bn(8, 8, 1), nn.Identity()])
        self.op2 = LayerChoice([conv_bn(8, 8, 3), nn.MaxPool2d(3, 1, 1)])
        self.skip = InputChoice(n_candidates=2, n_chosen=None)
        self.pick = InputChoice(n_candidates=3, n_chosen=1)
        self.poison = PoisonAfter(poison_after)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        a = self.op1(s)
        b = self.op2(a)
        extra = self.skip([s, a])
        if extra is not None:
            b = b + extra
        c = self.pick([s, a, b])
        return self.fc(self.poison(F.adaptive_avg_pool2d(c, 1).flatten(1)))


def tiny_factory(poison_after: int | None = None):
    return functools.partial(TinyNet, poison_after=poison_after)


# Ray workers cannot import this file by name (pytest's importlib mode): ship it by value.
import ray.cloudpickle  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="session")
def tiny_cls():
    return TinyNet


@pytest.fixture(scope="session")
def poisoned_cls():
    """``poisoned_cls(k)``: a TinyNet factory whose training forwards give NaN after ``k``."""
    return tiny_factory


@pytest.fixture(scope="module")
def digits():
    return raynas.datasets.load("digits", input_shape=TinyNet.input_shape, limit=512)


@pytest.fixture(scope="module")
def tiny_space():
    return SearchSpace.from_model(TinyNet())


@pytest.fixture(scope="module")
def trained_weights(digits, tiny_space):
    """Tiny supernet weights after 150 single-path steps in this process (no Ray)."""
    torch.manual_seed(0)
    net = TinyNet()
    setter = PathSetter(net)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    x = digits.normalize(digits.train_x)
    net.train()
    for step in range(150):
        setter.apply(sample_path(tiny_space, 0, step))
        idx = torch.arange(step * 32, step * 32 + 32) % len(x)
        loss = F.cross_entropy(net(x[idx]), digits.train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    yield
    ray.shutdown()
