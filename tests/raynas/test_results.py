"""Parquet results: atomic parts, journal recovery after a kill, compaction, corrupt files."""

import json
import time
from datetime import datetime, timezone

import pandas as pd
import pytest

from raynas.results.journal import journal_rows
from raynas.results.repair import repair
from raynas.results.objectives import history
from raynas.results.store import (ResultsError, ResultsWriter, make_row, read_trials,
                                  results_schema)

KEYS = ["op", "skip"]


def row(i, status="completed", accuracy=0.5):
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return make_row(KEYS, {"op": "a", "skip": ["x"]}, trial_id=f"t{i}", order=i, status=status,
                    accuracy=accuracy if status == "completed" else None, started_at=now,
                    finished_at=now, strategy="random", seed=0, error=None if status == "completed" else "boom")


def test_rows_have_the_documented_columns(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS)
    writer.add(row(1))
    writer.close()
    frame = pd.read_parquet(tmp_path / "trials")
    for column in ["trial_id", "order", "status", "genome", "arch.op", "arch.skip", "parent_trial_id",
                   "accuracy", "loss", "params", "epochs", "train_seconds", "node", "started_at",
                   "finished_at", "error", "strategy", "seed"]:
        assert column in frame.columns
    assert frame.loc[0, "arch.skip"] == '["x"]'
    assert json.loads(frame.loc[0, "genome"]) == {"op": "a", "skip": ["x"]}


def test_bad_status_and_columns_rejected():
    with pytest.raises(ValueError, match="status must be one of"):
        make_row(KEYS, {"op": "a", "skip": []}, status="done")
    with pytest.raises(ValueError, match="unknown result columns"):
        make_row(KEYS, {"op": "a", "skip": []}, status="failed", colour="red")


def test_journal_keeps_rows_a_kill_would_lose(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=3600)
    writer.add(row(1))  # first add flushes (no earlier flush)
    writer.add(row(2))
    writer.add(row(3, status="failed"))
    # simulate SIGKILL: no close(); rows 2 and 3 live only in the journal, and the OS drops
    # the dead process's lock
    writer._lock.release()
    assert len(pd.read_parquet(tmp_path / "trials")) == 1
    assert list(read_trials(tmp_path)["order"]) == [1, 2, 3]
    again = ResultsWriter(tmp_path, KEYS)
    assert any("wrote 2 row(s) from the journal" in line for line in again.recovered)
    again.close()
    frame = pd.read_parquet(tmp_path / "trials")
    assert sorted(frame["order"]) == [1, 2, 3]
    # the journal stays: the durable log every part can be rebuilt from
    assert [r["trial_id"] for r in journal_rows(tmp_path)] == ["t1", "t2", "t3"]


def test_parts_are_bounded_and_compacted(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=3600)
    for i in range(1, 50):
        writer.add(row(i))
    assert len(list((tmp_path / "trials").glob("*.parquet"))) == 1  # batched
    writer.flush()
    writer.close()  # a run never deletes a part: a reader may have listed it
    assert len(list((tmp_path / "trials").glob("*.parquet"))) == 2
    assert len(read_trials(tmp_path)) == 49
    assert any("merged 2 part files" in line for line in repair(tmp_path, compact=True))
    assert len(list((tmp_path / "trials").glob("*.parquet"))) == 1
    assert list(pd.read_parquet(tmp_path / "trials")["order"]) == list(range(1, 50))


def test_corrupt_part_is_a_clear_error_and_others_survive(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS)
    writer.add(row(1))
    writer.close(compact=False)
    (tmp_path / "trials" / "part-99999999999999999999-bad.parquet").write_bytes(b"PAR1garbage")
    with pytest.raises(ResultsError, match="corrupt results file .*bad.parquet.*raynas repair"):
        read_trials(tmp_path, on_corrupt="raise")
    with pytest.warns(UserWarning, match="bad.parquet.*read from the journal"):
        frame = read_trials(tmp_path)
    assert list(frame["trial_id"]) == ["t1"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ResultsError, match="holds no raynas results"):
        read_trials(tmp_path / "nowhere")


def test_history_marks_failures_none(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS)
    for r in (row(1, accuracy=0.7), row(2, status="failed"), row(3, accuracy=float("nan"))):
        writer.add(r)
    writer.close()
    values = [v for _, v, _ in history(read_trials(tmp_path))]
    assert values == [0.7, None, None]


def test_schema_has_one_arch_column_per_key():
    names = results_schema(["a", "b/c"]).names
    assert names.index("arch.a") == names.index("genome") + 1 and "arch.b/c" in names


def test_long_runs_flush_less_often_as_parts_accumulate(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=1.0, max_parts=4)
    intervals = []
    for i in range(1, 13):
        writer.add(row(i))
        writer.flush()
        intervals.append(writer.current_interval)
    assert intervals[:3] == [1.0] * 3 and intervals[3] == 2.0 and intervals[7] == 4.0
    assert list(read_trials(tmp_path)["order"]) == list(range(1, 13))
    writer.close()


def test_waiting_rows_reach_parquet_without_a_further_trial(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS, flush_interval=0.2)
    writer.add(row(1))
    writer.add(row(2))  # within the interval: journaled only
    assert len(pd.read_parquet(tmp_path / "trials")) == 1
    time.sleep(0.25)
    writer.flush_due()  # the driver calls this every Tune step
    assert len(pd.read_parquet(tmp_path / "trials")) == 2
    writer.close()


def test_one_writer_per_run(tmp_path):
    writer = ResultsWriter(tmp_path, KEYS)
    with pytest.raises(ResultsError, match="being written by another raynas process"):
        ResultsWriter(tmp_path, KEYS)
    writer.close()
    ResultsWriter(tmp_path, KEYS).close()  # free again once the first one closed


def test_status_is_one_enum_whose_values_are_the_row_statuses():
    from raynas.results.store import STATUSES, Status

    assert [s.value for s in Status] == list(STATUSES) == ["completed", "failed", "rejected",
                                                               "stopped"]
    assert Status.COMPLETED == "completed" and str(Status.FAILED) == "failed"
    row = make_row(["a"], {"a": "x"}, status=Status.REJECTED, trial_id="t", order=1)
    assert row["status"] == "rejected" and type(row["status"]) is str


def test_the_genome_column_is_the_canonical_genome_id():
    from raynas.core.space import SearchSpace

    genome = {"b": ["1", "0"], "a": "x"}
    row = make_row(["a", "b"], genome, status="completed", trial_id="t", order=1)
    assert row["genome"] == SearchSpace.genome_id(genome) == '{"a": "x", "b": ["1", "0"]}'
