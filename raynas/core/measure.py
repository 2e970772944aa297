"""Measuring a model before it trains: does a forward pass give one score per class.

The one forward check of raynas (counting parameters and FLOPs is in
:mod:`raynas.core.fixing`): a trial runs :func:`check_forward` on its fixed model, a run's
plan runs :func:`check_some_genome_fits` on the space before Ray starts. Whether a dataset's
images have the model's input shape is checked by ``raynas.datasets.check_fits``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from raynas.core.fixing import fix
from raynas.core.space import SearchSpace


def check_forward(model: nn.Module, input_shape: Sequence[int], num_classes: int,
                  batch_size: int = 2, device: torch.device | str | None = None) -> None:
    """Run one small random batch through ``model``; ``ValueError`` unless it gives (B, classes).

    The forward's own exception (e.g. a shape mismatch inside the network) is wrapped, with its
    text, in the ``ValueError``. The model's train/eval mode and the global RNG are unchanged.
    """
    shape = tuple(int(v) for v in input_shape)
    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((batch_size, *shape), generator=gen).to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:  # noqa: BLE001 - any forward failure is the model not fitting
        raise ValueError(
            f"the model's forward pass fails on input of shape {tuple(x.shape)} "
            f"(batch, C, H, W): {type(e).__name__}: {e}") from e
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the model's forward must return a tensor of shape "
                         f"({batch_size}, {num_classes}), got {type(out).__name__}")
    if tuple(out.shape) != (batch_size, int(num_classes)):
        raise ValueError(
            f"the model's output has shape {tuple(out.shape)} for input {tuple(x.shape)}; "
            f"expected ({batch_size}, {num_classes}): one score per class")


def check_some_genome_fits(model: Any, space: SearchSpace, input_shape: Sequence[int],
                           num_classes: int, tries: int = 8) -> None:
    """:func:`check_forward` on a few genomes (the default first, then seeded samples);
    ``ValueError`` with the first genome's error when none fits: then the input does not fit
    the space, whatever the genome."""
    rng = np.random.default_rng(0)
    genomes = [space.default()] + [space.sample(rng) for _ in range(min(tries, space.size) - 1)]
    errors = []
    for genome in genomes:
        try:
            check_forward(fix(model, genome), input_shape, num_classes)
            return
        except ValueError as err:
            errors.append(str(err))
    shape = "x".join(str(n) for n in input_shape)
    raise ValueError(f"the {shape} input with {num_classes} classes fits none of {len(genomes)} "
                     f"genomes of the space; first error: {errors[0]}")
