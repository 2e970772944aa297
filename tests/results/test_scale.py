"""Issue 16: a long run keeps a bounded number of files, and its rows read back each once."""

import math
import os
from datetime import datetime, timezone

import pandas as pd
import pytest

from raynas.results.journal import journal_files, journal_ids
from raynas.results.parts import compact_parts
from raynas.results.store import ResultsWriter, make_row, read_trials, results_schema

KEYS = ["op", "width"]


class Clock:
    """A simulated clock: a long run replayed in moments."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def row(i, status="completed"):
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    trained = status in ("completed", "stopped")
    return make_row(KEYS, {"op": "abc"[i % 3], "width": str(8 * (i % 4 + 1))},
                    trial_id=f"t{i:05d}", order=i, status=status,
                    accuracy=(i % 97) / 100 if trained else None, epochs=3 if trained else None,
                    accuracy_curve="[0.1, 0.2, 0.3]" if trained else None,
                    params=1000 + i, started_at=now, finished_at=now, strategy="evolution", seed=0)


def parts(run_dir):
    return sorted((run_dir / "trials").glob("part-*.parquet"))


def part_bound(seconds, max_parts, interval):
    """The writer's documented bound on parts after ``seconds`` of a run."""
    return max_parts * (1 + math.log2(1 + seconds / (max_parts * interval)))


def test_3000_rows_keep_few_files_and_read_back_each_once(tmp_path):
    clock = Clock()
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=0.05, max_parts=4, clock=clock)
    statuses = ["completed"] * 8 + ["failed", "stopped", "rejected"]
    most = 0
    for i in range(1, 3001):
        clock.now = i * 1.0  # one trial a second: 3,000 s
        writer.add(row(i, statuses[i % len(statuses)]))
        if i % 100 == 0:
            count = len(parts(tmp_path))
            most = max(most, count)
            assert count <= part_bound(clock.now, 4, 0.05), (i, count)
            plain = pd.read_parquet(tmp_path / "trials")  # mid-run: each row at most once
            assert not plain["trial_id"].duplicated().any()
    assert 10 < most < 80  # a flush per row would make 3,000 parts
    writer.close()
    assert len(parts(tmp_path)) == 1  # merged when the writer closed
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) <= 4, files  # the part, the journal, the lock, no leftovers
    frame = read_trials(tmp_path)
    assert len(frame) == 3000 and frame["trial_id"].is_unique
    assert list(frame["order"]) == list(range(1, 3001))
    assert sorted(pd.read_parquet(tmp_path / "trials")["order"]) == list(range(1, 3001))


def test_a_short_run_keeps_its_parts_when_it_closes(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=0)
    for i in range(1, 6):
        writer.add(row(i))
    writer.close()  # 5 parts <= max_parts (16): nothing merged
    assert len(parts(tmp_path)) == 5


def test_a_merge_killed_midway_loses_no_row_and_doubles_none(tmp_path, monkeypatch):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=0, max_parts=2)
    for i in range(1, 41):
        writer.add(row(i))

    def killed(src, dst):  # the old parts are gone, the merged file never lands
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        writer.close()
    monkeypatch.undo()
    assert parts(tmp_path) == []
    assert [p.name for p in (tmp_path / "trials").iterdir()] == []  # no half-written file
    frame = read_trials(tmp_path)  # the journal still holds every row
    assert list(frame["order"]) == list(range(1, 41))
    again = ResultsWriter(tmp_path, KEYS)  # a resumed run writes them back to a part
    assert any("wrote 40 row(s) from the journal" in line for line in again.recovered)
    again.close()
    plain = pd.read_parquet(tmp_path / "trials")
    assert sorted(plain["order"]) == list(range(1, 41)) and plain["trial_id"].is_unique


def test_a_merge_leaves_rows_the_journal_lacks_where_they_are(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=0)
    for i in range(1, 4):
        writer.add(row(i))
    writer.close(compact=False)
    journaled = journal_ids(tmp_path) - {"t00002"}  # as if its journal line were lost
    assert compact_parts(tmp_path / "trials", results_schema(KEYS), journaled=journaled) == 0
    assert len(parts(tmp_path)) == 3
    assert compact_parts(tmp_path / "trials", results_schema(KEYS),
                         journaled=journal_ids(tmp_path)) == 3
    assert list(pd.read_parquet(tmp_path / "trials")["order"]) == [1, 2, 3]


def test_read_trials_takes_rows_missing_from_parts_from_the_journal(tmp_path):
    clock = Clock()
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=10, clock=clock)
    for i in range(1, 21):
        clock.now = i  # a part at 10 s and at 20 s ... rows 11..19 only journaled now
        writer.add(row(i))
    frame = read_trials(tmp_path)
    assert list(frame["order"]) == list(range(1, 21)) and frame["trial_id"].is_unique
    assert len(pd.read_parquet(tmp_path / "trials")) < 20
    writer.close()


def test_journal_ids_skip_torn_lines(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS)
    writer.add(row(1))
    writer.close()
    with (tmp_path / "trials.journal.jsonl").open("a") as f:
        f.write('{"trial_id": "t09999", "ord')  # a kill mid-write
    assert journal_ids(tmp_path) == {"t00001"}
    assert len(journal_files(tmp_path)) == 1
