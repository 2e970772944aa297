"""raynas: distributed evolutionary neural-architecture search for PyTorch on Ray.

The torch-side names (``LayerChoice``, ``InputChoice``, ``MutableScope``, ``ValueChoice``,
``Repeat``, ``fix``) load on first use, so ``import raynas.strategies`` pulls in neither torch
nor ray.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


def _serve_checkout_layout() -> None:
    """Make a source checkout importable as it stands, like the installed package.

    The wheel maps the checkout's top-level ``strategies/`` and ``spaces/`` to
    ``raynas.strategies`` and ``raynas.spaces``. Ray puts the driver's current folder first on
    its workers' import path, so a run started from the checkout imports this ``raynas/``
    there: adding the checkout to the package path finds the two packages beside it.
    """
    package = Path(__file__).resolve().parent
    checkout = package.parent
    if not (package / "spaces").exists() and (checkout / "spaces" / "__init__.py").is_file():
        __path__.append(str(checkout))  # noqa: F821 - the package's own __path__


_serve_checkout_layout()

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
    "count_flops": "raynas.core.flops",
}

__all__ = ["Dimension", "Genome", "SearchSpace", "export_architecture", "load_architecture",
           *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raynas' has no attribute {name!r}")
