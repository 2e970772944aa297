"""The NAS-Bench-201 CIFAR-10 table: every cell architecture with its published accuracies.

Ships as ``raynas/bench/data/nasbench201_cifar10.parquet`` (provenance in ``raynas/bench/data/README.md``).
:func:`load_table` reads it, or another CSV/Parquet file of the same shape, into arrays that
``raynas bench`` queries in microseconds. Imports numpy and the space description at import
time; pandas and pyarrow only when a table is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from raynas.core.space import Dimension, SearchSpace

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_KEYS = tuple(f"edge{i}" for i in range(6))
#: the search signal of the standard protocol
FITNESS = "cifar10valid_valid_12ep"
#: what is reported for the architecture a search picks
REPORTED = "cifar10_test_200ep"
REQUIRED_COLUMNS = (*NB201_KEYS, FITNESS, REPORTED)
#: optional columns: model size of each architecture (the second objective of the MO protocol)
PARAMS = "params_cifar10"
FLOPS = "flops_cifar10"
N_ARCHITECTURES = len(NB201_OPS) ** len(NB201_KEYS)
DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "nasbench201_cifar10.parquet"


def nasbench201_space() -> SearchSpace:
    """The NAS-Bench-201 cell as plain data: six LayerChoices ``edge0..edge5`` over
    :data:`NB201_OPS` (same keys and choices as ``raynas.spaces.get("nasbench201")``)."""
    return SearchSpace([Dimension(key, "layer", NB201_OPS) for key in NB201_KEYS])


@dataclass(frozen=True)
class NB201Table:
    """Fitness and reported accuracy of every architecture, indexed by :meth:`index`.

    ``index(genome) = sum(op_index(edge_i) * 5**i)``. ``params`` and ``flops`` are ``None`` when
    the table lacks those columns.
    """

    fitness: np.ndarray
    reported: np.ndarray
    source: str
    params: np.ndarray | None = None
    flops: np.ndarray | None = None
    _lookup: list[tuple[str, dict[str, int]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup = [(key, {op: j * len(NB201_OPS) ** i for j, op in enumerate(NB201_OPS)})
                  for i, key in enumerate(NB201_KEYS)]
        object.__setattr__(self, "_lookup", lookup)

    def index(self, genome: Mapping[str, Any]) -> int:
        """Row of a canonical NAS-Bench-201 genome (``KeyError`` for anything else)."""
        return sum(ops[genome[key]] for key, ops in self._lookup)

    @property
    def best_reported(self) -> float:
        """The table's best reported accuracy (the optimum a search can reach)."""
        return float(self.reported.max())

    def __len__(self) -> int:
        return len(self.fitness)


def load_table(path: str | Path | None = None) -> NB201Table:
    """Load the shipped table, or a CSV / Parquet file with the same columns.

    Required columns: ``edge0..edge5`` (operation names), ``cifar10valid_valid_12ep`` and
    ``cifar10_test_200ep`` (finite numbers); every one of the 15,625 architectures exactly once.
    Raises ``ValueError`` naming what is wrong.
    """
    import pandas as pd

    path = DEFAULT_TABLE if path is None else Path(path)
    if not path.is_file():
        raise ValueError(f"--table: no file at {str(path)!r}; pass a CSV or Parquet file with "
                         f"columns {', '.join(REQUIRED_COLUMNS)}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path)
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise ValueError(f"--table: unknown file type {path.suffix!r} ({path}); pass a .csv or "
                         f".parquet file")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"--table {path}: missing column(s) {missing}; a NAS-Bench-201 table "
                         f"needs {', '.join(REQUIRED_COLUMNS)} (found: {', '.join(map(str, frame.columns))})")
    codes = np.zeros(len(frame), dtype=np.int64)
    for i, key in enumerate(NB201_KEYS):
        ops = frame[key].astype(str)
        bad = sorted(set(ops) - set(NB201_OPS))
        if bad:
            raise ValueError(f"--table {path}: column {key!r} holds unknown operation(s) "
                             f"{bad[:5]}; valid: {', '.join(NB201_OPS)}")
        codes += ops.map({op: j for j, op in enumerate(NB201_OPS)}).to_numpy(np.int64) \
            * len(NB201_OPS) ** i
    counts = np.bincount(codes, minlength=N_ARCHITECTURES)
    if (counts != 1).any():
        raise ValueError(
            f"--table {path}: every one of the {N_ARCHITECTURES} architectures must appear once; "
            f"{int((counts == 0).sum())} missing, {int((counts > 1).sum())} repeated")
    arrays: dict[str, Any] = {}
    for column in (FITNESS, REPORTED, PARAMS, FLOPS):
        if column not in frame.columns:
            arrays[column] = None
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        if not np.isfinite(values).all():
            raise ValueError(f"--table {path}: column {column!r} must hold finite numbers; "
                             f"{int((~np.isfinite(values)).sum())} row(s) do not")
        ordered = np.empty(N_ARCHITECTURES)
        ordered[codes] = values
        ordered.flags.writeable = False
        arrays[column] = ordered
    return NB201Table(fitness=arrays[FITNESS], reported=arrays[REPORTED], source=str(path),
                      params=arrays[PARAMS], flops=arrays[FLOPS])
