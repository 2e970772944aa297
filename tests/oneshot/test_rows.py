"""The optional ``stage`` column: oneshot/retrain rows, null for evolve rows, old runs still read."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raynas.results.store import ResultsWriter, make_row, read_trials, results_schema

KEYS = ["op"]


def test_stage_is_checked_and_null_by_default():
    evolve_row = make_row(KEYS, {"op": "a"}, trial_id="t1", order=1, status="completed")
    assert evolve_row["stage"] is None
    assert make_row(KEYS, {"op": "a"}, status="completed", stage="oneshot")["stage"] == "oneshot"
    with pytest.raises(ValueError, match=r"stage must be one of \['oneshot', 'retrain'\] or None, "
                                         r"got 'warmup'"):
        make_row(KEYS, {"op": "a"}, status="completed", stage="warmup")


def test_a_run_written_before_the_stage_column_still_reads_and_compacts(tmp_path):
    old_schema = pa.schema([f for f in results_schema(KEYS) if f.name != "stage"])
    old = make_row(KEYS, {"op": "a"}, trial_id="t1", order=1, status="completed", accuracy=0.5)
    del old["stage"]
    (tmp_path / "trials").mkdir()
    pq.write_table(pa.Table.from_pylist([old], schema=old_schema),
                   tmp_path / "trials" / "part-00000000000000000001-old.parquet")
    writer = ResultsWriter(tmp_path, KEYS)
    writer.add(make_row(KEYS, {"op": "b"}, trial_id="t2", order=2, status="completed",
                        accuracy=0.7, stage="oneshot"))
    writer.close(compact=True)  # merges the old part and the new one into one file
    assert len(list((tmp_path / "trials").glob("part-*.parquet"))) == 1
    rows = read_trials(tmp_path)
    assert list(rows["trial_id"]) == ["t1", "t2"]
    assert rows["stage"].isna().tolist() == [True, False] and rows["stage"][1] == "oneshot"
