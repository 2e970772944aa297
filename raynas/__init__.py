"""raynas: distributed evolutionary neural-architecture search for PyTorch on Ray.

The torch-side names (``LayerChoice``, ``InputChoice``, ``MutableScope``, ``fix``) load on
first use, so ``import raynas.strategies`` pulls in neither torch nor ray.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from raynas.architecture import export_architecture, load_architecture
from raynas.space import Dimension, Genome, SearchSpace

__version__ = "0.1.0"

# In a source checkout, strategies/ and spaces/ sit beside raynas/ and install as
# raynas.strategies / raynas.spaces (pyproject's package-dir); make the checkout behave alike.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "strategies" / "__init__.py").is_file():
    __path__.append(str(_checkout))  # type: ignore[name-defined]

_LAZY = {
    "LayerChoice": "raynas.mutables",
    "InputChoice": "raynas.mutables",
    "MutableScope": "raynas.mutables",
    "fix": "raynas.fixing",
    "count_parameters": "raynas.fixing",
    "count_flops": "raynas.fixing",
}

__all__ = ["Dimension", "Genome", "SearchSpace", "export_architecture", "load_architecture",
           *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raynas' has no attribute {name!r}")
