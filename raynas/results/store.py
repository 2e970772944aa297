"""The run's results: one Parquet row per finished trial, the source of truth.

Layout of a run folder ``DIR``::

    DIR/run.json                 settings and search space of the run
    DIR/trials/part-*.parquet    the rows; ``pandas.read_parquet(DIR / "trials")`` reads them
    DIR/trials.journal.jsonl     rows not yet in a part file (appended as each trial ends)
    DIR/space/                   a copy of a space file (FILE.py:Class) and its neighbours
    DIR/.writer.lock             held by the one process writing the run

Every finished trial is appended to the journal at once (one ``write``: a driver killed
with SIGKILL keeps it), and the journal's rows become a Parquet part file at most about
once a second, written atomically (a temporary file, then ``os.replace``). Opening a
writer on an existing run first moves journal rows that are not yet in Parquet into a
part; closing it compacts all parts into one file.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from raynas.core.files import atomic_write
from raynas.core.space import SearchSpace
from raynas.results.errors import ResultsError
from raynas.results.run_dir import RunDir, RunInfo



class Status(str, Enum):
    """A row's status: the one list of them (``Status.COMPLETED == "completed"``)."""

    COMPLETED = "completed"  # trained; accuracy is its validation accuracy
    FAILED = "failed"        # the candidate raised (shape error, NaN loss, OOM) or was lost
    REJECTED = "rejected"    # screened out before training (--max-params, --max-flops,
                             # --max-latency-ms)

    def __str__(self) -> str:
        return self.value


STATUSES = tuple(status.value for status in Status)
#: The ``stage`` of a one-shot run's row (null for ``evolve`` rows).
STAGES = ("oneshot", "retrain")
ARCH_PREFIX = "arch."

# Fixed columns, in order; one ``arch.<key>`` string column per mutable key follows ``genome``.
BASE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("trial_id", pa.string()),
    ("order", pa.int64()),
    ("status", pa.string()),
    ("genome", pa.string()),
    ("parent_trial_id", pa.string()),
    ("accuracy", pa.float64()),
    ("loss", pa.float64()),
    ("params", pa.int64()),
    ("flops", pa.int64()),
    ("latency_ms", pa.float64()),
    ("latency_batch_ms", pa.float64()),
    ("epochs", pa.int64()),
    ("train_seconds", pa.float64()),
    ("samples_per_second", pa.float64()),
    ("node", pa.string()),
    ("node_ip", pa.string()),
    ("gpu_ids", pa.string()),
    ("started_at", pa.timestamp("ms", tz="UTC")),
    ("finished_at", pa.timestamp("ms", tz="UTC")),
    ("error", pa.string()),
    ("strategy", pa.string()),
    ("seed", pa.int64()),
    ("stage", pa.string()),
]


def results_schema(keys: Sequence[str]) -> pa.Schema:
    """The Parquet schema of a run whose space has ``keys``."""
    fields = []
    for name, dtype in BASE_COLUMNS:
        fields.append(pa.field(name, dtype))
        if name == "genome":
            fields.extend(pa.field(ARCH_PREFIX + key, pa.string()) for key in keys)
    return pa.schema(fields)


def arch_value(decision: Any) -> str:
    """A decision as an ``arch.<key>`` cell: the name, or JSON for an input list."""
    return decision if isinstance(decision, str) else json.dumps(decision)


def genome_text(genome: Mapping[str, Any]) -> str:
    """A genome as the ``genome`` column's text: the one canonical form (see
    :meth:`SearchSpace.genome_id`), equal for equal genomes."""
    return SearchSpace.genome_id(genome)


def make_row(keys: Sequence[str], genome: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    """A row with ``genome`` as JSON text plus one ``arch.<key>`` column per key."""
    status = values.get("status")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {list(STATUSES)}, got {status!r}")
    values["status"] = Status(status).value
    stage = values.get("stage")
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage must be one of {list(STAGES)} or None, got {stage!r}")
    row: dict[str, Any] = {name: None for name, _ in BASE_COLUMNS}
    unknown = set(values) - set(row)
    if unknown:
        raise ValueError(f"unknown result columns {sorted(unknown)}; known: {list(row)}")
    row.update(values)
    row["genome"] = genome_text(genome)
    for key in keys:
        row[ARCH_PREFIX + key] = arch_value(genome[key])
    return row


class ResultsWriter:
    """Streams rows of one run to ``DIR/trials`` (see the module docstring).

    ``add(row)`` journals the row at once and writes a part file when the last one is at
    least ``flush_interval`` seconds old; more than ``max_parts`` part files are compacted
    into one; ``flush()`` writes now; ``close()`` flushes and compacts the parts into one file.
    """

    def __init__(self, run_dir: str | os.PathLike[str], keys: Sequence[str],
                 flush_interval: float = 1.0, max_parts: int = 32):
        self.run_dir = Path(run_dir)
        self.trials_dir = self.run_dir / "trials"
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        self._lock = RunDir(self.run_dir).acquire_writer_lock()
        self.journal_path = journal_path(self.run_dir)
        self.keys = list(keys)
        self.schema = results_schema(self.keys)
        self.flush_interval = flush_interval
        self.max_parts = max_parts
        self._parts = len(list(self.trials_dir.glob("part-*.parquet")))
        self._pending: list[dict[str, Any]] = []
        self._last_flush = float("-inf")
        self._recover_journal()
        self._journal = self.journal_path.open("a", encoding="utf-8")

    def add(self, row: Mapping[str, Any]) -> None:
        row = dict(row)
        self._journal.write(json.dumps(row, default=_json_default) + "\n")
        self._journal.flush()
        self._pending.append(row)
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush_due(self) -> None:
        """Flush when rows wait and the last part is ``flush_interval`` old (call it often:
        rows then reach Parquet within about a second even when no further trial ends)."""
        if self._pending and time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write pending rows as one atomic part file, then empty the journal."""
        if self._pending:
            self._write_part(self._pending)
            self._pending = []
            self._parts += 1
            if self._parts > self.max_parts:  # keep the number of files bounded in long runs
                compact_parts(self.trials_dir, self.schema)
                self._parts = 1
        self._journal.seek(0)
        self._journal.truncate()
        self._last_flush = time.monotonic()

    def close(self, compact: bool = True) -> None:
        try:
            self.flush()
            self._journal.close()
            self.journal_path.unlink(missing_ok=True)
            if compact:
                compact_parts(self.trials_dir, self.schema)
        finally:
            self._lock.release()

    def _write_part(self, rows: Sequence[Mapping[str, Any]]) -> Path:
        table = pa.Table.from_pylist([_coerce(row) for row in rows], schema=self.schema)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        return _write_parquet(table, self.trials_dir / name)

    def _recover_journal(self) -> None:
        """Move journaled rows that no part file holds yet into a new part."""
        if not self.journal_path.exists():
            return
        rows = journal_rows(self.journal_path)
        if rows:
            done = set(read_trials(self.run_dir, include_journal=False)["trial_id"]) \
                if list(self.trials_dir.glob("*.parquet")) else set()
            fresh = [row for row in rows if row.get("trial_id") not in done]
            if fresh:
                self._write_part(fresh)
        self.journal_path.unlink()


def journal_path(run_dir: str | os.PathLike[str]) -> Path:
    """Where a run journals the rows not yet in a part file."""
    return Path(run_dir) / "trials.journal.jsonl"


def journal_rows(path: Path) -> list[dict[str, Any]]:
    """The journal's rows; a line cut by a kill mid-write (its trial never finished
    recording) is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


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


def compact_parts(trials_dir: Path, schema: pa.Schema) -> None:
    """Merge every part file into one (atomically: the new file lands before the old go)."""
    parts = sorted(trials_dir.glob("part-*.parquet"))
    if len(parts) <= 1:
        return
    table = pa.concat_tables([pq.read_table(p, schema=schema) for p in parts])
    table = table.sort_by([("order", "ascending")])
    merged = _write_parquet(table, trials_dir / f"part-{time.time_ns():020d}-compact.parquet")
    for part in parts:
        if part != merged:
            part.unlink()


def read_trials(run_dir: str | os.PathLike[str], include_journal: bool = True,
                on_corrupt: str = "raise"):
    """All rows of a run as a pandas DataFrame sorted by ``order``.

    Includes journaled rows not yet written to Parquet (a run in progress or killed).
    A corrupt part file raises :class:`ResultsError` naming it (``on_corrupt="skip"``
    leaves it out with a warning instead).
    """

    import pandas as pd

    run_dir = Path(run_dir)
    trials_dir = run_dir / "trials"
    if not trials_dir.is_dir():
        raise ResultsError(f"{run_dir} holds no raynas results: {trials_dir} does not exist; "
                           f"pass the folder given to `raynas evolve --out`")
    frames = _read_parts(trials_dir, on_corrupt)
    rows = journal_rows(journal_path(run_dir)) if include_journal else []
    if rows:
        extra = pd.DataFrame(rows)
        for name in ("started_at", "finished_at"):
            if name in extra:
                extra[name] = pd.to_datetime(extra[name], utc=True)
        frames.append(extra)
    if not frames:
        return pd.DataFrame(columns=[name for name, _ in BASE_COLUMNS])
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.drop_duplicates(subset="trial_id", keep="first")
    return frame.sort_values("order", kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ tables of a run (pandas)


def counts(frame: Any) -> dict[str, int]:
    """Rows per status: ``{"completed": n, "failed": n, "rejected": n}``."""
    return {status: int((frame["status"] == status).sum()) for status in STATUSES}


def best_accuracy(frame: Any) -> float | None:
    """The highest accuracy of a completed row, or ``None``."""
    done = completed(frame)
    return float(done["accuracy"].max()) if len(done) else None


def completed(frame: Any) -> Any:
    """The completed rows with a finite accuracy."""
    import pandas as pd

    done = frame[frame["status"] == Status.COMPLETED].copy()
    done["accuracy"] = pd.to_numeric(done["accuracy"], errors="coerce")
    return done[done["accuracy"].notna()]


def ranked(frame: Any) -> Any:
    """Completed rows, best first: higher accuracy, then fewer parameters, then earlier."""
    done = completed(frame)
    done = done.assign(_params=done["params"].fillna(float("inf")))
    done = done.sort_values(["accuracy", "_params", "order"], ascending=[False, True, True],
                            kind="stable")
    return done.drop(columns="_params").reset_index(drop=True)


def pareto_front(frame: Any) -> Any:
    """Completed rows that no other completed row beats on both accuracy and parameter count.

    A row is on the front when every row with at most as many parameters has a lower
    accuracy. Sorted by parameters, ascending (so accuracy rises along the front).
    """
    done = completed(frame)
    done = done[done["params"].notna()]
    done = done.sort_values(["params", "accuracy", "order"], ascending=[True, False, True],
                            kind="stable")
    keep = []
    best = -math.inf
    for index, accuracy in zip(done.index, done["accuracy"]):
        if accuracy > best:
            keep.append(index)
            best = accuracy
    return done.loc[keep].reset_index(drop=True)


def _read_parts(trials_dir: Path, on_corrupt: str, attempts: int = 5) -> list:
    """Every part file as a DataFrame. A part merged away by a compaction while it was read
    (the writer is live) makes the listing start again; a corrupt one is an error."""
    import warnings

    for attempt in range(attempts):
        frames = []
        try:
            for part in sorted(trials_dir.glob("part-*.parquet")):
                try:
                    frames.append(pq.read_table(part).to_pandas())
                except FileNotFoundError:
                    raise
                except (pa.ArrowInvalid, OSError) as err:
                    message = (f"corrupt results file {part}: {err}; move it out of {trials_dir} "
                               f"to read the other rows")
                    if on_corrupt != "skip":
                        raise ResultsError(message) from None
                    warnings.warn(message, stacklevel=3)
            return frames
        except FileNotFoundError:
            time.sleep(0.05 * (attempt + 1))
    raise ResultsError(f"{trials_dir} kept changing while it was read; try again")


def write_run_info(run_dir: str | os.PathLike[str], info: Mapping[str, Any]) -> Path:
    """Write ``DIR/run.json`` (atomically); see :class:`~raynas.results.run_dir.RunInfo`."""
    return RunDir(run_dir).write_info(RunInfo.model_validate(dict(info)))


def read_run_info(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``DIR/run.json`` as a dict (any format version); :class:`ResultsError` when absent."""
    return RunDir(run_dir).read_info().model_dump()


def history(frame: Any) -> Iterable[tuple[dict[str, Any], float | None]]:
    """``(genome, accuracy or None)`` pairs in proposal order, for a strategy's replay."""
    for genome_text, status, accuracy in zip(frame["genome"], frame["status"], frame["accuracy"]):
        value = float(accuracy) if status == Status.COMPLETED and accuracy == accuracy else None
        yield json.loads(genome_text), value
