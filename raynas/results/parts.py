"""Parquet part files of a run's ``trials/`` folder: written atomically, merged when a run's
writer closes (past ``max_parts``) or on ``raynas repair --compact``."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Container, Mapping, Sequence

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


def compact_parts(trials_dir: Path, schema: pa.Schema,
                  journaled: Container[str] | None = None) -> int:
    """Merge every part file into one; returns how many parts were merged (0: left as is).

    Never loses a row nor leaves one twice: nothing is merged unless every part reads and
    (given ``journaled``, the journal's trial ids) every row is in the journal. The merged
    file is written under a hidden name first; the old parts are then removed and the merged
    file takes its name (``os.replace``). A kill in between leaves the rows only in the
    journal, which the next writer or ``raynas repair`` writes back to a part. A plain
    reader listing the folder during those milliseconds may miss rows or a file (never sees
    one twice; :func:`~raynas.results.store.read_trials` reads them from the journal): run it
    when the run's writer closes or from ``raynas repair --compact``, never mid-run.
    """
    parts = sorted(trials_dir.glob("part-*.parquet"))
    if len(parts) <= 1:
        return 0
    try:
        tables = [pq.read_table(p, schema=schema) for p in parts]
    except (pa.ArrowException, OSError):
        return 0  # a corrupt or vanished part: recovery's business, not a merge's
    table = pa.concat_tables(tables).sort_by([("order", "ascending")])
    if journaled is not None and not set(table.column("trial_id").to_pylist()) <= set(journaled):
        return 0  # a row only in Parquet: merging could lose it if killed midway

    def write_then_retire(tmp: Path) -> None:
        pq.write_table(table, tmp, compression="zstd")
        for part in parts:
            part.unlink(missing_ok=True)

    name = f"part-{time.time_ns():020d}-compact.parquet"
    try:
        atomic_write(trials_dir / name, write_then_retire)
    except OSError as err:
        raise write_error(trials_dir / name, err) from None
    return len(parts)
