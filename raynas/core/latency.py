"""Measured inference latency of a fixed model: the ``latency_ms`` objective.

``measure_latency(model, (C, H, W), batch_size=64)`` times forward passes in eval mode under
``torch.inference_mode`` on the model's device: ``warmup`` untimed passes (cuDNN autotuning,
allocator, lazy initialisation), then ``repeats`` timed passes each at batch 1 and at
``batch_size``; the median of each is reported in milliseconds. On a CUDA device every timed
pass is bracketed by ``torch.cuda.synchronize`` so that the clock measures the kernels, not
their launch. The model's training mode is restored afterwards.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn


@dataclass(frozen=True)
class Latency:
    """Median forward-pass times in milliseconds: one sample and one batch of ``batch_size``."""

    latency_ms: float
    latency_batch_ms: float
    batch_size: int
    device: str
    repeats: int

    def to_row(self) -> dict[str, float]:
        """The result columns ``latency_ms`` and ``latency_batch_ms``."""
        return {"latency_ms": self.latency_ms, "latency_batch_ms": self.latency_batch_ms}


def _check_count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def time_forward(model: nn.Module, inputs: torch.Tensor, warmup: int, repeats: int) -> list[float]:
    """``repeats`` timings (milliseconds) of ``model(inputs)`` after ``warmup`` untimed passes;
    CUDA is synchronised around each timed pass."""
    cuda = inputs.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda *_: None)
    clock = time.perf_counter
    for _ in range(warmup):
        model(inputs)
    sync(inputs.device)
    times = []
    for _ in range(repeats):
        start = clock()
        model(inputs)
        sync(inputs.device)
        times.append((clock() - start) * 1e3)
    return times


def measure_latency(model: nn.Module, input_shape: Sequence[int], batch_size: int = 64,
                    warmup: int = 10, repeats: int = 30,
                    device: torch.device | str | None = None) -> Latency:
    """Median inference latency of ``model`` on inputs of ``input_shape`` (C, H, W), at batch 1
    and at ``batch_size``, on ``device`` (default: where the model's parameters are; the model
    is moved there)."""
    _check_count("batch_size", batch_size, 1)
    _check_count("warmup", warmup, 0)
    _check_count("repeats", repeats, 1)
    shape = tuple(int(v) for v in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must be positive sizes (C, H, W) of one sample, got "
                         f"{tuple(input_shape)!r}")
    target = _model_device(model) if device is None else torch.device(device)
    model = model.to(target)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            one = time_forward(model, torch.randn(1, *shape, device=target), warmup, repeats)
            batch = time_forward(model, torch.randn(batch_size, *shape, device=target),
                                 warmup, repeats)
    finally:
        model.train(was_training)
    return Latency(latency_ms=statistics.median(one), latency_batch_ms=statistics.median(batch),
                   batch_size=batch_size, device=str(target), repeats=repeats)
