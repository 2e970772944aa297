"""The run's results: one Parquet row per finished trial, the source of truth.

Layout of a run folder ``DIR``::

    DIR/run.json                 settings and search space of the run
    DIR/trials/part-*.parquet    the rows; ``pandas.read_parquet(DIR / "trials")`` reads them
    DIR/trials.journal.jsonl     the journal: every row, appended as each trial ends
    DIR/journal/segment-*.jsonl  older journal segments (rotated past 32 MiB, then past the
                                 older segments' size)
    DIR/corrupt/                 part files found corrupt, moved aside by a repair
    DIR/space/                   a copy of a space file (FILE.py:Class) and its neighbours
    DIR/.writer.lock             held by the one process writing the run

What holds (see :mod:`raynas.results.journal` and :mod:`raynas.results.repair`):

- Every finished trial is appended to the journal at once (one ``write``: a driver killed
  with SIGKILL keeps it). The journal is the durable log: any part file can be rebuilt
  from it.
- The journal's rows reach a new Parquet part file within the flush interval (1 s, doubling
  after every 16 parts so that a long run keeps few files: their number grows with the log
  of the run's duration, not with its trials), written atomically (a hidden temporary file,
  then ``os.replace``). Each row is in exactly one part.
- While a run writes, part files are only added, never rewritten or deleted: a plain
  ``pandas.read_parquet(DIR / "trials")`` at any moment reads the rows flushed so far, each
  once, and never meets a file that vanished. ``read_trials`` adds the journal's rows.
- When the run's writer closes with more than 16 parts, they are merged into one
  (:func:`~raynas.results.parts.compact_parts`: the old parts go just before the merged
  file appears, so no reader sees a row twice; a kill in between leaves those rows in the
  journal, written back to a part by the next writer or ``raynas repair``).
  ``read_trials`` is never affected (it takes a row missing from the parts from the journal,
  and each trial once); a plain reader listing the folder in those milliseconds may miss
  rows for that read.
- The journal's segments grow geometrically (a new one may reach the size of all the older
  ones together), so their number too grows with the log of the rows.
- Opening a writer (a resumed run) or ``raynas repair DIR`` recovers: a corrupt part is moved
  to ``DIR/corrupt/`` and its rows are written again from the journal; journal rows that no
  part holds are written to a part; a torn journal line is dropped.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from raynas.results.errors import ResultsError
from raynas.results.journal import JournalAppender, journal_ids, journal_path, read_journal
from raynas.results.run_dir import RunDir, RunInfo
from raynas.results.parts import compact_parts, write_part  # noqa: F401  (re-exported)
from raynas.results.schema import (ARCH_PREFIX, BASE_COLUMNS, STAGES, STATUSES,  # noqa: F401
                                   Status, arch_value, genome_text, make_row, results_schema)


class ResultsWriter:
    """Streams rows of one run to ``DIR/trials`` (see the module docstring).

    ``add(row)`` journals the row at once and writes a part file when the last one is at
    least the flush interval old; ``flush()`` writes now; ``close()`` flushes. Part files are
    only ever added while rows are written (a plain ``pandas.read_parquet`` during the run
    never loses a file it listed nor sees a row twice); to keep their number small in a long
    run, the flush interval doubles after every ``max_parts`` parts, so a run of ``T``
    seconds writes at most about ``max_parts * (1 + log2(1 + T / (max_parts *
    flush_interval))`` parts (16 * 13 = 208 for a day), however many trials end; ``close()``
    then merges them into one when more than ``max_parts`` are there. Opening a writer first recovers the run
    (:func:`raynas.results.repair.recover`): corrupt parts are moved aside and rebuilt from the
    journal, and journal rows that no part holds are written to one.

    ``clock``: the seconds the flush interval is measured in (``time.monotonic``; a benchmark
    or a test passes a simulated clock to replay a long run in moments).
    """

    def __init__(self, run_dir: str | os.PathLike[str], keys: Sequence[str],
                 flush_interval: float = 1.0, max_parts: int = 16, resume: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        from raynas.results.repair import recover

        self.run_dir = Path(run_dir)
        self.trials_dir = self.run_dir / "trials"
        self._lock = RunDir(self.run_dir).acquire_writer_lock(resume=resume)
        try:
            self.trials_dir.mkdir(parents=True, exist_ok=True)
            self.keys = list(keys)
            self.schema = results_schema(self.keys)
            self.recovered = recover(self.run_dir, self.schema)
            self.journal = JournalAppender(self.run_dir)
        except BaseException:
            self._lock.release()
            raise
        self.journal_path = journal_path(self.run_dir)
        self.flush_interval = flush_interval
        self._clock = clock
        self.max_parts = max(1, max_parts)
        self._parts = len(list(self.trials_dir.glob("part-*.parquet")))
        self._pending: list[dict[str, Any]] = []
        self._last_flush = float("-inf")

    @property
    def current_interval(self) -> float:
        """The flush interval now: ``flush_interval`` doubled once per ``max_parts`` parts."""
        return self.flush_interval * 2.0 ** (self._parts // self.max_parts)

    def add(self, row: Mapping[str, Any]) -> None:
        row = dict(row)
        self.journal.append(row)
        self._pending.append(row)
        if self._clock() - self._last_flush >= self.current_interval:
            self.flush()

    def flush_due(self) -> None:
        """Flush when rows wait and the last part is old enough (call it often: rows then
        reach Parquet within the flush interval even when no further trial ends)."""
        if self._pending and self._clock() - self._last_flush >= self.current_interval:
            self.flush()

    def flush(self) -> None:
        """Write pending rows as one new part file (atomically; the journal keeps them too)."""
        if self._pending:
            write_part(self.trials_dir, self.schema, self._pending)
            self._pending = []
            self._parts += 1
        self._last_flush = self._clock()

    def close(self, compact: bool | None = None) -> None:
        """Flush and release the run. The run's parts are then merged into one file
        (:func:`compact_parts`): when more than ``max_parts`` are there (``compact=None``),
        always (``True``) or never (``False``). A merge that cannot be done leaves the parts
        as they are (a warning says why); no row is ever lost or doubled by it."""
        try:
            self.flush()
            self.journal.close()
            parts = len(list(self.trials_dir.glob("part-*.parquet")))
            if compact or (compact is None and parts > self.max_parts):
                self._compact()
        finally:
            self._lock.release()

    def _compact(self) -> None:
        import warnings

        try:
            compact_parts(self.trials_dir, self.schema, journaled=journal_ids(self.run_dir))
        except ResultsError as err:
            warnings.warn(f"{err}; the parts were left as they were", stacklevel=3)


def read_trials(run_dir: str | os.PathLike[str], include_journal: bool = True,
                on_corrupt: str = "recover"):
    """All rows of a run as a pandas DataFrame sorted by ``order``, each trial once.

    Reads the Parquet parts and the journal (which holds every row of this raynas's runs,
    and the rows of a run in progress or killed not yet in a part). A corrupt part is left
    out with a warning naming it, its rows coming from the journal (``raynas repair DIR``
    rebuilds the file); ``on_corrupt="raise"`` makes it a :class:`ResultsError` instead.
    """

    import pandas as pd

    if on_corrupt not in ("recover", "skip", "raise"):
        raise ValueError(f"on_corrupt must be 'recover' or 'raise', got {on_corrupt!r}")
    run_dir = Path(run_dir)
    trials_dir = run_dir / "trials"
    if not trials_dir.is_dir():
        raise ResultsError(f"{run_dir} holds no raynas results: {trials_dir} does not exist; "
                           f"pass the folder given to `raynas evolve --out`")
    frame = _read_parts(trials_dir, on_corrupt)
    known = set(frame["trial_id"]) if frame is not None else set()
    rows = read_journal(run_dir, skip=known)[0] if include_journal else []
    frames = [frame] if frame is not None and len(frame) else []
    if rows:
        extra = pd.DataFrame(rows)
        for name in ("started_at", "finished_at"):
            if name in extra:
                extra[name] = pd.to_datetime(extra[name], utc=True, format="ISO8601")
        frames.append(extra)
    if not frames:
        return pd.DataFrame(columns=[name for name, _ in BASE_COLUMNS])
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = frame.drop_duplicates(subset="trial_id", keep="first")
    return frame.sort_values("order", kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ tables of a run (pandas)


def counts(frame: Any) -> dict[str, int]:
    """Rows per status: ``{"completed": n, "failed": n, "rejected": n, "stopped": n}``."""
    return {status: int((frame["status"] == status).sum()) for status in STATUSES}


def accuracy_curve(cell: Any) -> list[float]:
    """An ``accuracy_curve`` cell (JSON text) as a list; ``[]`` when absent (older runs)."""
    if not isinstance(cell, str) or not cell:
        return []
    try:
        values = json.loads(cell)
    except json.JSONDecodeError:
        return []
    return [float(v) for v in values] if isinstance(values, list) else []


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


def stopped(frame: Any) -> Any:
    """The rows a scheduler stopped early, with a finite (last) accuracy."""
    import pandas as pd

    rows = frame[frame["status"] == Status.STOPPED].copy()
    rows["accuracy"] = pd.to_numeric(rows["accuracy"], errors="coerce")
    return rows[rows["accuracy"].notna()]


def ranked(frame: Any) -> Any:
    """Trained rows, best first: full-fidelity (completed) rows first, by higher accuracy,
    then fewer parameters, then earlier; then the early-stopped rows, by more epochs trained
    (the rung reached), then higher accuracy (an accuracy after fewer epochs is not comparable
    with a full-fidelity one, see ``raynas.strategies.base.fidelity_key``).

    On a one-shot run, ``retrain`` rows (trained from scratch) come before the ``oneshot``
    rows (scored with inherited weights), each group ranked as above, except that ``oneshot``
    rows of equal accuracy rank by lower inherited loss before fewer parameters: with
    inherited weights many candidates score the same accuracy on a small validation set, and
    their loss ranks them closer to training from scratch (``python -m raynas.bench.oneshot``
    on digits: tau 0.39 for the loss, 0.15 for the accuracy).
    """
    import pandas as pd

    done = completed(frame)
    stage = done["stage"] if "stage" in done else None
    loss = (pd.to_numeric(done["loss"], errors="coerce") if "loss" in done
            else pd.Series(float("nan"), index=done.index))
    inherited_loss = (loss.where(stage == "oneshot", 0.0).fillna(float("inf"))
                      if stage is not None else 0.0)
    done = done.assign(_params=done["params"].fillna(float("inf")),
                       _retrained=(stage == "retrain") if stage is not None else False,
                       _inherited_loss=inherited_loss)
    done = done.sort_values(["_retrained", "accuracy", "_inherited_loss", "_params", "order"],
                            ascending=[False, False, True, True, True], kind="stable")
    done = done.drop(columns=["_retrained", "_inherited_loss"])
    cut = stopped(frame)
    if len(cut):
        cut = cut.assign(_params=cut["params"].fillna(float("inf")),
                         _epochs=pd.to_numeric(cut["epochs"], errors="coerce").fillna(0))
        cut = cut.sort_values(["_epochs", "accuracy", "_params", "order"],
                              ascending=[False, False, True, True], kind="stable")
        done = pd.concat([done, cut.drop(columns="_epochs")])
    return done.drop(columns="_params").reset_index(drop=True)


def ranked_genomes(frame: Any) -> Any:
    """One row per genome over its trials at the highest fidelity it reached, best first.

    A genome's trials are its completed ones when it has any, else its early-stopped ones
    that trained the most epochs (accuracies of different fidelity are never averaged).
    Columns: ``genome`` and its ``arch.<key>`` columns, ``status`` (``completed`` or
    ``stopped``: the fidelity of the figures), ``epochs`` (``None`` for full fidelity, else
    the epochs of the stopped trials), ``accuracy`` (the mean over those trials),
    ``accuracy_std`` (their standard deviation, 0 for one trial), ``accuracy_min``,
    ``accuracy_max``, ``trials`` (how many), ``trial_ids`` (best first), ``trial_id`` (its best
    trial), ``params``, ``flops`` and ``order`` (its first trial's). Sorted as :func:`ranked`
    orders fidelity (full-fidelity genomes first, then by epochs reached), then by mean
    accuracy, fewer parameters and earlier first trial: a genome that trained again with new
    seeds ranks by its mean, not by its luckiest seed.
    """
    import pandas as pd

    done = ranked(frame)
    columns = ["genome", "status", "epochs", "stage", "accuracy", "accuracy_std", "accuracy_min",
               "accuracy_max", "trials", "trial_ids", "trial_id", "params", "flops", "order"]
    arch = [c for c in done.columns if c.startswith(ARCH_PREFIX)]
    if not len(done):
        return pd.DataFrame(columns=columns + arch)
    level = pd.to_numeric(done["epochs"], errors="coerce").fillna(0) if "epochs" in done \
        else pd.Series(0.0, index=done.index)
    level = level.where(done["status"] != Status.COMPLETED, math.inf)
    if "stage" in done:  # one-shot runs: a genome's inherited-weight score ranks below any retrain
        level = level.where(done["stage"] != "oneshot", 1e9)
    done = done.assign(_level=level)
    kept = done[done["_level"] == done.groupby("genome", sort=False)["_level"].transform("max")]
    table = _genome_table(kept, arch)
    table = table.assign(_params=pd.to_numeric(table["params"]).fillna(float("inf")))
    table = table.sort_values(["_level", "accuracy", "_params", "order"],
                              ascending=[False, False, True, True], kind="stable")
    return table.drop(columns=["_params", "_level"]).reset_index(drop=True)


def _genome_table(kept: Any, arch: list[str]) -> Any:
    """One row per genome of ``kept`` (its trials at its highest fidelity, in ranked order),
    genomes in order of first appearance; see :func:`ranked_genomes` for the columns."""
    import pandas as pd

    kept = kept.assign(accuracy=kept["accuracy"].astype(float))
    groups = kept.groupby("genome", sort=False)
    best = groups.head(1).set_index("genome")  # each genome's best trial (ranked order)
    first = kept.loc[groups["order"].idxmin()].set_index("genome")  # its first trial
    stats = groups["accuracy"].agg(["mean", "min", "max", "size"])
    full = best["status"] == Status.COMPLETED
    table = pd.DataFrame({
        "genome": stats.index,
        "status": full.map({True: str(Status.COMPLETED), False: str(Status.STOPPED)}),
        "epochs": [None if f else int(v) for f, v in zip(full, best["_level"])],
        "stage": best["stage"] if "stage" in best else None,
        "_level": best["_level"], "accuracy": stats["mean"],
        "accuracy_std": groups["accuracy"].std(ddof=0).fillna(0.0).astype(float),
        "accuracy_min": stats["min"], "accuracy_max": stats["max"],
        "trials": stats["size"].astype(int),
        "trial_ids": groups["trial_id"].agg(list),
        "trial_id": best["trial_id"],
        "params": _first_present(groups, "params"),
        "flops": _first_present(groups, "flops") if "flops" in kept else None,
        "order": first["order"].astype(int),
        **{c: first[c] for c in arch}}, index=stats.index)
    return table.reset_index(drop=True)


def _first_present(groups: Any, column: str) -> Any:
    """Per group, the first non-null value of ``column`` (``None`` when it has none)."""
    values = groups[column].first()
    return values.astype(object).where(values.notna(), None)


def genome_pareto_front(frame: Any) -> Any:
    """:func:`pareto_front` over genomes: each genome's mean accuracy (see
    :func:`ranked_genomes`) against its parameter count, fewest parameters first."""
    table = ranked_genomes(frame)
    table = table[table["params"].notna()]
    table = table.sort_values(["params", "accuracy", "order"], ascending=[True, False, True],
                              kind="stable")
    keep, best = [], -math.inf
    for index, accuracy in zip(table.index, table["accuracy"]):
        if accuracy > best:
            keep.append(index)
            best = accuracy
    return table.loc[keep].reset_index(drop=True)


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


def _read_parts(trials_dir: Path, on_corrupt: str) -> Any:
    """Every readable part file as one DataFrame (``None`` when there is none).

    The parts are read as one Arrow dataset over the union of their schemas (an older
    part lacks a newer column: nulls); when that fails (a part corrupt, or gone between
    listing and reading: ``raynas repair --compact``, a writer closing), each part is read on
    its own: a vanished one is skipped (its rows are in the journal), a corrupt one left out
    with a warning, or raised."""
    parts = sorted(trials_dir.glob("part-*.parquet"))
    if not parts:
        return None
    try:  # one dataset read: fast with many parts
        return _read_dataset(parts).to_pandas()
    except (pa.ArrowException, OSError):
        pass
    import pandas as pd

    frames = [table.to_pandas() for table in _read_each(parts, on_corrupt)]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_dataset(parts: list[Path]) -> pa.Table:
    import pyarrow.dataset as ds

    schema = pa.unify_schemas([pq.read_schema(part) for part in parts])
    return ds.dataset([str(part) for part in parts], format="parquet", schema=schema).to_table()


def _read_each(parts: list[Path], on_corrupt: str) -> list[pa.Table]:
    import warnings

    tables = []
    for part in parts:
        try:
            tables.append(pq.read_table(part))
        except FileNotFoundError:
            continue
        except (pa.ArrowInvalid, OSError) as err:
            message = (f"corrupt results file {part}: {err}")
            if on_corrupt == "raise":
                raise ResultsError(message + f"; `raynas repair {part.parent.parent}` rebuilds it "
                                   f"from the journal") from None
            warnings.warn(message + f"; its rows are read from the journal; `raynas repair "
                          f"{part.parent.parent}` rebuilds it", stacklevel=4)
    return tables


def write_run_info(run_dir: str | os.PathLike[str], info: Mapping[str, Any]) -> Path:
    """Write ``DIR/run.json`` (atomically); see :class:`~raynas.results.run_dir.RunInfo`."""
    return RunDir(run_dir).write_info(RunInfo.model_validate(dict(info)))


def read_run_info(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``DIR/run.json`` as a dict (any format version); :class:`ResultsError` when absent."""
    return RunDir(run_dir).read_info().model_dump()

