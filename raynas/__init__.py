"""raynas: distributed evolutionary neural-architecture search for PyTorch on Ray.

The torch-side names (``LayerChoice``, ``InputChoice``, ``MutableScope``, ``ValueChoice``,
``Repeat``, ``fix``) load on first use, so ``import raynas.strategies`` pulls in neither torch
nor ray.
"""

from __future__ import annotations

import importlib
from typing import Any

from raynas.core.architecture import export_architecture, load_architecture
from raynas.core.space import Dimension, Genome, SearchSpace

__version__ = "0.1.0"

_LAZY = {
    "LayerChoice": "raynas.core.mutables",
    "InputChoice": "raynas.core.mutables",
    "MutableScope": "raynas.core.mutables",
    "ValueChoice": "raynas.core.values",
    "Repeat": "raynas.core.values",
    "fix": "raynas.core.fixing",
    "count_parameters": "raynas.core.fixing",
    "count_flops": "raynas.core.fixing",
}

__all__ = ["Dimension", "Genome", "SearchSpace", "export_architecture", "load_architecture",
           *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raynas' has no attribute {name!r}")
