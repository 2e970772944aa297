"""Parquet part files of a run's ``trials/`` folder: written atomically, merged on request."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from raynas.core.files import atomic_write
from raynas.results.journal import write_error


def write_part(trials_dir: Path, schema: pa.Schema, rows: Sequence[Mapping[str, Any]],
               tag: str = "") -> Path:
    """``rows`` as a new part file (atomic: a hidden temporary file, then ``os.replace``)."""
    table = pa.Table.from_pylist([_coerce(row) for row in rows], schema=schema)
    name = f"part-{time.time_ns():020d}-{tag or uuid.uuid4().hex[:8]}.parquet"
    try:
        return _write_parquet(table, trials_dir / name)
    except OSError as err:
        raise write_error(trials_dir / name, err) from None


def _coerce(row: Mapping[str, Any]) -> dict[str, Any]:
    """Timestamps given as ISO text (from the journal) back to datetimes."""
    from datetime import datetime

    out = dict(row)
    for name in ("started_at", "finished_at"):
        if isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name])
    return out


def _write_parquet(table: pa.Table, path: Path) -> Path:
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def compact_parts(trials_dir: Path, schema: pa.Schema) -> int:
    """Merge every part file into one; returns how many parts were merged.

    The merged file lands before the old parts go, so a plain reader listing the folder in
    that instant may see a row twice or miss a file: call it only when no one reads (``raynas
    repair --compact``), never while a run writes.
    """
    parts = sorted(trials_dir.glob("part-*.parquet"))
    if len(parts) <= 1:
        return 0
    table = pa.concat_tables([pq.read_table(p, schema=schema) for p in parts])
    table = table.sort_by([("order", "ascending")])
    merged = _write_parquet(table, trials_dir / f"part-{time.time_ns():020d}-compact.parquet")
    for part in parts:
        if part != merged:
            part.unlink()
    return len(parts)
