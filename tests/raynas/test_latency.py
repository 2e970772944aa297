"""``raynas.core.latency``: measured inference latency of a fixed model (on CPU here)."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn as nn

from raynas.core.latency import measure_latency


class Sleepy(nn.Module):
    """A forward that takes at least ``ms`` milliseconds per call, whatever the batch."""

    def __init__(self, ms: float):
        super().__init__()
        self.ms = ms
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.ms / 1e3)
        return self.fc(x.flatten(1)[:, :4])


def test_median_of_timed_passes_after_warmup() -> None:
    model = Sleepy(4.0)
    model.train()
    result = measure_latency(model, (1, 2, 2), batch_size=8, warmup=1, repeats=5)
    assert 4.0 <= result.latency_ms < 200 and 4.0 <= result.latency_batch_ms < 200
    assert result.batch_size == 8 and result.device == "cpu" and result.repeats == 5
    assert model.training  # the mode is restored
    assert set(result.to_row()) == {"latency_ms", "latency_batch_ms"}


def test_batch_latency_grows_with_the_work() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1))
    result = measure_latency(model, (3, 32, 32), batch_size=128, warmup=2, repeats=5)
    assert result.latency_batch_ms > 2 * result.latency_ms > 0


def test_warmup_passes_are_not_timed() -> None:
    calls = []

    class Counting(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(x.shape[0])
            return x

    measure_latency(Counting(), (1, 2, 2), batch_size=3, warmup=4, repeats=6)
    assert calls == [1] * 10 + [3] * 10


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
    ({"repeats": 0}, "repeats must be an int >= 1, got 0"),
    ({"warmup": -1}, "warmup must be an int >= 0, got -1"),
    ({"input_shape": (0, 2)}, r"input_shape must be positive sizes .* got \(0, 2\)"),
])
def test_bad_settings(kwargs, message) -> None:
    args = {"input_shape": (1, 2, 2), **kwargs}
    with pytest.raises(ValueError, match=message):
        measure_latency(nn.Identity(), **args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_latency_is_synchronised() -> None:  # pragma: no cover - no GPU on the CI machine
    model = nn.Sequential(*[nn.Linear(2048, 2048) for _ in range(8)]).cuda()
    result = measure_latency(model, (2048,), batch_size=512, warmup=3, repeats=10)
    assert result.device.startswith("cuda") and result.latency_batch_ms > result.latency_ms > 0
