"""The data layer: registered datasets loaded as in-memory tensors (:mod:`.sources`).

The names below load :mod:`.sources` (and torch) on first use; :data:`BUILTIN` lists the
built-in datasets without importing either (``raynas list``).
"""

from __future__ import annotations

import importlib
from typing import Any

# The datasets :mod:`.sources` registers (a test keeps the two equal).
BUILTIN = ("cifar10", "digits", "fashion_mnist", "mnist")

__all__ = ["BUILTIN", "DatasetBundle", "DatasetNotFound", "check_fits", "default_data_dir",
           "load", "names", "normalization_constants", "normalize", "register_dataset"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("raynas.datasets.sources"), name)
    raise AttributeError(f"module 'raynas.datasets' has no attribute {name!r}")
