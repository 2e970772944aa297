"""Counting a model's FLOPs: ``count_flops(model, (C, H, W))``, the ``flops`` column.

The count is PyTorch's own (``torch.utils.flop_counter``: its per-operator formulas, a
multiply-add counts 2, operators without a formula count 0), taken by a dispatch mode that
only sums. ``FlopCounterMode`` gives the same total but also tracks which module each
operator ran in, for its per-module table; that bookkeeping is about half the time, and a
trial counts the FLOPs of every model it trains (``tests/raynas/test_flops.py`` checks the
two totals are equal on every registered space).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


class _FlopSum(TorchDispatchMode):
    """Runs every operator and adds its FLOPs by ``flop_registry``'s formula. An operator
    without one is decomposed first where it can be, as ``FlopCounterMode`` does, so that
    its counted parts are seen."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        formula = flop_registry.get(func._overloadpacket)
        if formula is None and _decomposable(func):
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        out = func(*args, **kwargs)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


@functools.cache
def _decomposable(func: Any) -> bool:
    """Whether ``func.decompose`` has a kernel to run (else it returns ``NotImplemented``)."""
    key = torch._C.DispatchKey.CompositeImplicitAutograd
    return key in func.py_kernels or torch._C._dispatch_has_kernel_for_dispatch_key(
        func.name(), key)


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass of one sample of ``input_shape`` (C, H, W) in eval mode, as
    ``torch.utils.flop_counter.FlopCounterMode`` counts them (a multiply-add counts 2). The
    model's training mode is restored."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _FlopSum() as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.total)
