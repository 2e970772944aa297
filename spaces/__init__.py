"""Ready-made search spaces, registered by name: ``raynas.spaces.get("mnist")()`` -> model.

A space factory takes no arguments and returns a fresh ``nn.Module`` with mutables. It
carries the input it expects: ``factory.input_shape`` (C, H, W) and ``factory.num_classes``.

The built-in spaces are declared in :data:`BUILTIN` with that metadata and their module is
imported on first :func:`get`, so listing them (``names()``, ``info()``, ``raynas list``)
imports no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional

from raynas.core.registry import Registry

if TYPE_CHECKING:
    import torch.nn as nn

SpaceFactory = Callable[[], "nn.Module"]


class SpaceInfo(NamedTuple):
    """What a space expects, known without building it (nor importing torch)."""

    module: str
    input_shape: tuple[int, int, int]
    num_classes: int


BUILTIN: dict[str, SpaceInfo] = {
    "mnist": SpaceInfo("raynas.spaces.mnist", (1, 28, 28), 10),
    "mobilenetv2": SpaceInfo("raynas.spaces.mobilenetv2", (1, 28, 28), 10),
    "mobilenetv2-cifar": SpaceInfo("raynas.spaces.mobilenetv2", (3, 32, 32), 10),
    "nasbench201": SpaceInfo("raynas.spaces.nasbench201", (3, 32, 32), 10),
    "nasbench201-small": SpaceInfo("raynas.spaces.nasbench201", (1, 16, 16), 10),
    "tiny": SpaceInfo("raynas.spaces.tiny", (1, 8, 8), 10),
}

_REGISTRY: Registry[SpaceFactory] = Registry("space")


def register_space(name: str, input_shape: Optional[tuple[int, int, int]] = None,
                   num_classes: Optional[int] = None) -> Callable[[SpaceFactory], SpaceFactory]:
    """Register a model factory under ``name``, with the input shape and class count it
    expects (a built-in space takes them from :data:`BUILTIN`)."""
    builtin = BUILTIN.get(name)
    shape = input_shape if input_shape is not None else builtin and builtin.input_shape
    classes = num_classes if num_classes is not None else builtin and builtin.num_classes
    if not shape or not classes:
        raise ValueError(f"register_space({name!r}) needs input_shape=(C, H, W) and "
                         f"num_classes, got input_shape={input_shape!r}, "
                         f"num_classes={num_classes!r}")

    def decorate(factory: SpaceFactory) -> SpaceFactory:
        if builtin is not None and getattr(factory, "__module__", None) != builtin.module:
            raise ValueError(f"duplicate space name {name!r}: a built-in space of "
                             f"{builtin.module}; choose another name")
        factory.input_shape = tuple(shape)  # type: ignore[attr-defined]
        factory.num_classes = int(classes)  # type: ignore[attr-defined]
        return _REGISTRY.register(name)(factory)

    return decorate


def get(name: str) -> SpaceFactory:
    """The factory registered as ``name`` (``KeyError`` listing the known names)."""
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name].module)
    if name not in _REGISTRY:
        raise KeyError(f"unknown space {name!r}; known: {', '.join(names())}")
    return _REGISTRY.get(name)


def info(name: str) -> SpaceInfo:
    """``(module, input_shape, num_classes)`` of a space, without building it."""
    if name in BUILTIN:
        return BUILTIN[name]
    factory = get(name)
    return SpaceInfo(getattr(factory, "__module__", ""), tuple(factory.input_shape),
                     int(factory.num_classes))


def names() -> list[str]:
    return sorted(set(_REGISTRY.names()) | set(BUILTIN))
