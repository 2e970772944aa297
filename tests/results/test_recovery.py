"""Issue 17, points 3 and 4: the journal rebuilds any corrupt part, and a plain pandas read of
a run in progress never fails nor sees a row twice."""

import math
import threading
from datetime import datetime, timezone

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from raynas.results.journal import JournalAppender, read_journal
from raynas.results.repair import repair
from raynas.results.store import ResultsWriter, make_row, read_trials

KEYS = ["op"]


def row(i):
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return make_row(KEYS, {"op": "a" if i % 2 else "b"}, trial_id=f"t{i:04d}", order=i,
                    status="completed", accuracy=i / 1000, started_at=now, finished_at=now,
                    strategy="random", seed=0)


def run_with_parts(tmp_path, n=9, per_part=3):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=3600)
    for i in range(1, n + 1):
        writer.add(row(i))
        if i % per_part == 0:
            writer.flush()
    writer.close()
    return sorted((tmp_path / "trials").glob("part-*.parquet"))


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_readers_recover_the_rows_of_a_truncated_part_from_the_journal(tmp_path):
    parts = run_with_parts(tmp_path)
    truncate(parts[1])
    with pytest.warns(UserWarning, match=f"{parts[1].name}.*raynas repair"):
        frame = read_trials(tmp_path)
    assert list(frame["order"]) == list(range(1, 10))


def test_repair_rebuilds_a_corrupt_part_and_says_what_it_did(tmp_path):
    parts = run_with_parts(tmp_path)
    lost = pq.read_table(parts[1]).num_rows
    truncate(parts[1])
    result = CliRunner().invoke(__import__("raynas.cli.main", fromlist=["main"]).main,
                                ["repair", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"moved corrupt part {parts[1].name} to {tmp_path / 'corrupt' / parts[1].name}" \
        in result.output
    assert f"wrote {lost} row(s) from the journal" in result.output
    assert (tmp_path / "corrupt" / parts[1].name).exists()  # kept aside, never deleted
    frame = pd.read_parquet(tmp_path / "trials")  # plain pandas reads every row again
    assert sorted(frame["order"]) == list(range(1, 10))
    again = CliRunner().invoke(__import__("raynas.cli.main", fromlist=["main"]).main,
                               ["repair", str(tmp_path)])
    assert "nothing to repair: 9 row(s) in the journal" in again.output


def test_a_resumed_writer_repairs_before_writing(tmp_path):
    parts = run_with_parts(tmp_path)
    truncate(parts[0])
    writer = ResultsWriter(tmp_path, KEYS)
    assert any("moved corrupt part" in line for line in writer.recovered)
    writer.add(row(10))
    writer.close()
    assert sorted(pd.read_parquet(tmp_path / "trials")["order"]) == list(range(1, 11))


def test_an_old_run_journal_is_backfilled_from_parquet(tmp_path):
    run_with_parts(tmp_path)
    for path in [tmp_path / "trials.journal.jsonl"]:
        path.unlink()  # raynas <= 0.2 removed the journal once rows were in Parquet
    assert any("journal: added 9 row(s)" in line for line in repair(tmp_path))
    assert len(read_journal(tmp_path)[0]) == 9


def test_the_journal_rotates_and_keeps_every_row(tmp_path):
    journal = JournalAppender(tmp_path, max_bytes=600)
    for i in range(1, 201):
        journal.append(row(i))
    journal.close()
    segments = sorted((tmp_path / "journal").glob("segment-*.jsonl"))
    sizes = [p.stat().st_size for p in segments + [tmp_path / "trials.journal.jsonl"]]
    line = max(len(p.read_text().splitlines()[0]) + 1 for p in segments)
    assert len(segments) >= 3
    for n, size in enumerate(sizes):  # each past 600 bytes or the older ones together, by a row
        assert size < max(600, sum(sizes[:n])) + line
    # geometric: the files grow with the log of the bytes, not with the rows
    assert len(sizes) <= 3 + math.log2(sum(sizes) / 600)
    assert [r["order"] for r in read_journal(tmp_path)[0]] == list(range(1, 201))


def test_a_torn_journal_line_is_dropped_by_repair(tmp_path):
    run_with_parts(tmp_path)
    with (tmp_path / "trials.journal.jsonl").open("a") as f:
        f.write('{"trial_id": "t9999", "ord')  # a kill mid-write
    assert any("dropped 1 unreadable line" in line for line in repair(tmp_path))
    assert read_journal(tmp_path) == (read_journal(tmp_path)[0], 0)


def test_plain_pandas_reads_during_a_run_never_fail_nor_see_a_row_twice(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=0, max_parts=4)
    writer.add(row(1))
    problems, reads, done = [], [], threading.Event()

    def read_loop():
        while not done.is_set():
            try:
                frame = pd.read_parquet(tmp_path / "trials")
            except Exception as err:  # noqa: BLE001 - any failure is what the test looks for
                problems.append(repr(err))
                continue
            if frame["trial_id"].duplicated().any():
                problems.append(f"a row twice: {sorted(frame['trial_id'])}")
            reads.append(len(frame))

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for i in range(2, 301):
            writer.add(row(i))
    finally:
        done.set()
        reader.join()
        writer.close()
    assert not problems, problems[:3]
    assert reads and reads == sorted(reads)  # rows only ever appear
    assert sorted(pd.read_parquet(tmp_path / "trials")["order"]) == list(range(1, 301))


def test_genomes_rank_at_their_highest_fidelity_never_averaging_stopped_with_completed():
    import pandas as pd

    from raynas.results.store import ranked_genomes

    rows = [dict(trial_id="a", order=1, status="stopped", genome='{"x": "0"}', accuracy=0.99,
                 epochs=1, params=10),
            dict(trial_id="b", order=2, status="completed", genome='{"x": "1"}', accuracy=0.90,
                 epochs=8, params=10),
            dict(trial_id="c", order=3, status="stopped", genome='{"x": "1"}', accuracy=0.95,
                 epochs=2, params=10),
            dict(trial_id="d", order=4, status="stopped", genome='{"x": "2"}', accuracy=0.80,
                 epochs=3, params=10)]
    table = ranked_genomes(pd.DataFrame(rows))
    assert list(table["genome"]) == ['{"x": "1"}', '{"x": "2"}', '{"x": "0"}']
    assert list(table["status"]) == ["completed", "stopped", "stopped"]
    assert table["accuracy"].iloc[0] == 0.90 and table["trials"].iloc[0] == 1  # not the 2-epoch 0.95
