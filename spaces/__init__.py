"""Ready-made search spaces, registered by name: ``raynas.spaces.get("mnist")()`` -> model.

A space factory takes no arguments and returns a fresh ``nn.Module`` with mutables. It
carries the input it expects: ``factory.input_shape`` (C, H, W) and ``factory.num_classes``.
"""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

from raynas.core.registry import Registry

SpaceFactory = Callable[[], nn.Module]

_REGISTRY: Registry[SpaceFactory] = Registry("space")


def register_space(name: str, input_shape: tuple[int, int, int],
                   num_classes: int) -> Callable[[SpaceFactory], SpaceFactory]:
    """Register a model factory under ``name``, with the input shape and class count it expects."""

    def decorate(factory: SpaceFactory) -> SpaceFactory:
        factory.input_shape = tuple(input_shape)  # type: ignore[attr-defined]
        factory.num_classes = int(num_classes)  # type: ignore[attr-defined]
        return _REGISTRY.register(name)(factory)

    return decorate


def get(name: str) -> SpaceFactory:
    """The factory registered as ``name`` (``KeyError`` listing the known names)."""
    return _REGISTRY.get(name)


def names() -> list[str]:
    return _REGISTRY.names()


from raynas.spaces import mnist, mobilenetv2, nasbench201  # noqa: E402,F401  (registers the spaces)
