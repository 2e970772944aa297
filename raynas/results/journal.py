"""The run's journal: the durable log of every row, from which every Parquet file can be rebuilt.

``DIR/trials.journal.jsonl`` is the active segment: one JSON line per finished trial, appended
with one ``write`` and flushed at once (a driver killed with SIGKILL keeps it; a line cut by
the kill is skipped on reading and dropped when the journal is next rewritten). When the
active segment passes ``max_bytes`` (32 MiB), or the size of all the rotated segments together
when that is larger, it is rotated to ``DIR/journal/segment-NNNNNN.jsonl``: segments grow
geometrically, so a journal of ``B`` bytes has about ``2 + log2(B / max_bytes)`` files
(7 for a gigabyte), however many rows it holds. Rows are never removed from the journal: it
holds each row once.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO, Any, Container, Iterable, Mapping

from raynas.core.files import atomic_write_text
from raynas.results.errors import ResultsError

MAX_SEGMENT_BYTES = 32 * 1024 * 1024


def journal_path(run_dir: str | os.PathLike[str]) -> Path:
    """The active journal segment of a run."""
    return Path(run_dir) / "trials.journal.jsonl"


def segments_dir(run_dir: str | os.PathLike[str]) -> Path:
    """Where rotated journal segments are kept."""
    return Path(run_dir) / "journal"


def journal_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Every journal file of a run, oldest first (rotated segments, then the active one)."""
    files = sorted(segments_dir(run_dir).glob("segment-*.jsonl"))
    active = journal_path(run_dir)
    return files + ([active] if active.exists() else [])


#: A journal line's start as this raynas writes it (``make_row`` puts ``trial_id`` first):
#: the id of a row a reader already holds is seen without parsing the whole line.
_LEADING_ID = re.compile(r'\{"trial_id": "([^"\\]*)"')


def _texts(run_dir: str | os.PathLike[str]) -> list[str]:
    """The text of every journal file, oldest first, from one consistent listing: when a
    rotation moves the active segment while it is read (a file vanishes, or the listing
    differs afterwards), the files are listed and read again."""
    for _ in range(5):
        files = journal_files(run_dir)
        try:
            texts = [path.read_text(encoding="utf-8") for path in files]
        except FileNotFoundError:
            continue
        if journal_files(run_dir) == files:
            return texts
    texts = []
    for path in journal_files(run_dir):  # a journal rotating all the time: what reads now
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
    return texts


def read_journal(run_dir: str | os.PathLike[str],
                 skip: Container[str] = ()) -> tuple[list[dict[str, Any]], int]:
    """``(rows, unreadable lines)``: every journaled row once (the first of a trial id wins),
    in journal order; a torn or foreign line is counted, not returned.

    ``skip``: trial ids the caller already holds (the rows of the Parquet parts); their lines
    are passed over unparsed (and so not checked: a torn line of such an id is not counted).
    """
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    torn = 0
    for text in _texts(run_dir):
        for line in text.splitlines():
            if not line.strip():
                continue
            if skip:
                leading = _LEADING_ID.match(line)
                if leading is not None and leading.group(1) in skip:
                    continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                torn += 1
                continue
            if not isinstance(row, dict) or "trial_id" not in row:
                torn += 1
            elif row["trial_id"] not in seen and row["trial_id"] not in skip:
                seen.add(row["trial_id"])
                rows.append(row)
    return rows, torn


def journal_ids(run_dir: str | os.PathLike[str]) -> set[str]:
    """The trial ids of every whole journal line (read from each line's start when it is
    this raynas's own, else by parsing it); a torn or foreign line adds none."""
    ids: set[str] = set()
    for text in _texts(run_dir):
        for line in text.splitlines():
            line = line.strip()
            leading = _LEADING_ID.match(line) if line.endswith("}") else None
            if leading is not None:
                ids.add(leading.group(1))
                continue
            try:
                row = json.loads(line) if line else None
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "trial_id" in row:
                ids.add(row["trial_id"])
    return ids


def journal_rows(path_or_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The journal's rows (given the run folder, or a journal file for the run beside it)."""
    path = Path(path_or_dir)
    run_dir = path.parent if path.name == journal_path(".").name else path
    return read_journal(run_dir)[0]


def json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _text(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(dict(row), default=json_default) + "\n" for row in rows)


def rewrite_journal(run_dir: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Replace the whole journal by ``rows`` (each once): the compaction of the journal itself,
    which drops torn lines. Written atomically as one active segment, then the rotated
    segments go (their rows are in the new file)."""
    old_segments = sorted(segments_dir(run_dir).glob("segment-*.jsonl"))
    atomic_write_text(journal_path(run_dir), _text(rows))
    for segment in old_segments:
        segment.unlink(missing_ok=True)


class JournalAppender:
    """Appends rows to the active segment, rotating it past ``max_bytes`` or past the size of
    the rotated segments together, whichever is larger (see the module docstring)."""

    def __init__(self, run_dir: str | os.PathLike[str], max_bytes: int = MAX_SEGMENT_BYTES):
        self.run_dir = Path(run_dir)
        self.path = journal_path(run_dir)
        self.max_bytes = max_bytes
        self._rotated_bytes = sum(p.stat().st_size
                                  for p in segments_dir(run_dir).glob("segment-*.jsonl"))
        self._file: IO[str] = self._open()

    @property
    def rotate_at(self) -> int:
        """The active segment's size that rotates it."""
        return max(self.max_bytes, self._rotated_bytes)

    def _open(self) -> IO[str]:
        try:
            return self.path.open("a", encoding="utf-8")
        except OSError as err:
            raise write_error(self.path, err) from None

    def append(self, row: Mapping[str, Any]) -> None:
        """Journal ``row`` now (one ``write`` and a flush); ``ResultsError`` when it cannot."""
        try:
            self._file.write(json.dumps(dict(row), default=json_default) + "\n")
            self._file.flush()
            if self._file.tell() >= self.rotate_at:
                self._rotate()
        except OSError as err:
            raise write_error(self.path, err) from None

    def _rotate(self) -> None:
        self._file.close()
        folder = segments_dir(self.run_dir)
        folder.mkdir(exist_ok=True)
        number = len(list(folder.glob("segment-*.jsonl"))) + 1
        self._rotated_bytes += self.path.stat().st_size
        os.replace(self.path, folder / f"segment-{number:06d}.jsonl")
        self._file = self._open()

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass


def write_error(path: Path, err: OSError) -> ResultsError:
    """A lost write as one line naming the path (the rows written before it are kept)."""
    reason = err.strerror or str(err)
    return ResultsError(f"cannot write {path}: {reason}; the rows recorded before are kept; "
                        f"free space or restore write access, then `raynas evolve --resume "
                        f"{path.parent if path.parent.name != 'trials' else path.parent.parent}` "
                        f"continues the run")
