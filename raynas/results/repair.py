"""Recovering a run folder: corrupt part files rebuilt from the journal, the journal from Parquet.

:func:`recover` runs whenever a writer opens a run (``--resume``) and in ``raynas repair DIR``
(:func:`repair`), always under the run's writer lock. It never deletes a row: a corrupt part
is moved to ``DIR/corrupt/`` (not removed), and every step is reported as one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from raynas.results.journal import journal_ids, read_journal, rewrite_journal
from raynas.results.run_dir import RunDir


def recover(run_dir: str | os.PathLike[str], schema: pa.Schema) -> list[str]:
    """Make the journal and the parts agree; returns what was done, one line per step.

    0. a hidden temporary part left by a kill (a write or a merge cut short) is removed;
    1. a part that does not read is moved to ``DIR/corrupt/``;
    2. rows of the readable parts missing from the journal (a run of raynas <= 0.2, whose
       journal held only unflushed rows) are added to it, and torn journal lines are dropped
       (the journal is rewritten atomically);
    3. journal rows that no readable part holds (a killed driver's last rows, the rows of a
       corrupt part) are written to a new part.
    """
    from raynas.results.parts import write_part

    run_dir = Path(run_dir)
    trials_dir = run_dir / "trials"
    done: list[str] = []
    unfinished = list(trials_dir.glob(".part-*.parquet.tmp"))  # a write or merge killed midway
    for tmp in unfinished:
        tmp.unlink(missing_ok=True)
    if unfinished:
        done.append(f"removed {len(unfinished)} unfinished temporary part file(s); their rows "
                    f"are in the journal")
    journaled = journal_ids(run_dir)  # read from each line's start: no full parse
    in_parts: set[str] = set()
    backfill: list[dict[str, Any]] = []
    for part in sorted(trials_dir.glob("part-*.parquet")):
        try:
            with pq.ParquetFile(part) as file:  # lighter than read_table for many parts
                table = file.read(use_threads=False)
        except (pa.ArrowInvalid, OSError) as err:
            aside = run_dir / "corrupt" / part.name
            aside.parent.mkdir(exist_ok=True)
            os.replace(part, aside)
            done.append(f"moved corrupt part {part.name} to {aside} ({str(err).splitlines()[0]})")
            continue
        backfill += _rows_not_in(table, journaled, in_parts)
    missing, torn = read_journal(run_dir, skip=in_parts)  # parses only the rows no part holds
    if backfill or torn:
        rewrite_journal(run_dir, backfill + read_journal(run_dir)[0])
        if backfill:
            done.append(f"journal: added {len(backfill)} row(s) found only in Parquet")
        if torn:
            done.append(f"journal: dropped {torn} unreadable line(s) (cut by a kill mid-write)")
    if missing:
        part = write_part(trials_dir, schema, missing, tag="recovered")
        done.append(f"wrote {len(missing)} row(s) from the journal to {part.name}")
    return done


def _rows_not_in(table: pa.Table, journaled: set[str], in_parts: set[str]) -> list[dict[str, Any]]:
    """The rows of a part in neither ``journaled`` nor ``in_parts`` (an earlier part), as
    dicts; adds the part's ids to ``in_parts``. Only those rows are converted (a part's rows
    are normally all journaled)."""
    wanted = []
    for index, trial_id in enumerate(table.column("trial_id").to_pylist()):
        if trial_id not in journaled and trial_id not in in_parts:
            wanted.append(index)
        in_parts.add(trial_id)
    return table.take(wanted).to_pylist() if wanted else []


def schema_of(run_dir: str | os.PathLike[str]) -> pa.Schema:
    """The run's row schema: its space's keys from ``run.json``, else the ``arch.`` columns of
    the journal's rows."""
    from raynas.results.errors import ResultsError
    from raynas.results.schema import ARCH_PREFIX, results_schema

    try:
        space = RunDir(run_dir).read_info().space or {}
        keys = [d["key"] for d in space.get("dimensions", []) if "key" in d]
    except ResultsError:
        keys = []
    if not keys:
        for row in read_journal(run_dir)[0]:
            keys = [c[len(ARCH_PREFIX):] for c in row if c.startswith(ARCH_PREFIX)]
            break
    return results_schema(keys)


def repair(run_dir: str | os.PathLike[str], compact: bool = False) -> list[str]:
    """``raynas repair DIR``: :func:`recover` under the writer lock, then with ``compact`` the
    parts merged into one file (do that only while nobody reads the folder); returns what
    was done (a line saying all is well when nothing was)."""
    from raynas.results.errors import ResultsError
    from raynas.results.parts import compact_parts

    run = RunDir(run_dir)
    if not run.trials_dir.is_dir():
        raise ResultsError(f"{run.path} holds no raynas results: {run.trials_dir} does not exist; "
                           f"pass the folder given to `raynas evolve --out`")
    lock = run.acquire_writer_lock(purpose="repairing it")
    try:
        schema = schema_of(run.path)
        done = recover(run.path, schema)
        if compact:
            merged = compact_parts(run.trials_dir, schema, journaled=journal_ids(run.path))
            if merged:
                done.append(f"merged {merged} part files into one")
    finally:
        lock.release()
    if not done:
        rows = len(read_journal(run.path)[0])
        parts = len(list(run.trials_dir.glob("part-*.parquet")))
        done.append(f"nothing to repair: {rows} row(s) in the journal, every one in "
                    f"{parts} readable part file(s)")
    return done
