"""Issue 16: the search as segments of ``Tuner.fit`` (one strategy, searcher, scheduler and
run folder; a flat driver), and ``bench-overhead``'s scale table, on a real local Ray."""

import json
import os
import signal
import threading
import time

import pytest
import ray

from raynas.bench.overhead import (ScaleRow, block_rates, cpu_line, measure_overhead,
                                   measure_ratios, overhead_lines, rss_growth, scale_rows)
from raynas.results.store import Status, read_trials
from raynas.run.driver import evolve
from raynas.run.settings import EvolveSettings

TINY = "raynas.bench.overhead:TinyNet"


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False,
             logging_level="ERROR")
    yield
    ray.shutdown()


def settings(out, **values):
    base = dict(space=TINY, dataset="digits", strategy="evolution", trials=11, epochs=1,
                max_batches_per_epoch=1, limit=64, cpus_per_trial=1, out=str(out),
                population_size=4, sample_size=2)
    return EvolveSettings(**{**base, **values})


@pytest.mark.slow  # several fits on a real Ray
def test_segments_make_one_run_with_one_numbering_and_earlier_parents(tmp_path):
    summary = evolve(settings(tmp_path / "run"), quiet=True, segment_trials=3)
    rows = read_trials(tmp_path / "run")
    assert len(rows) == 11 and summary.counts.get("completed") == 11
    assert sorted(rows["order"]) == list(range(1, 12))
    assert rows["trial_id"].is_unique
    by_order = dict(zip(rows["trial_id"], rows["order"]))
    parents = rows["parent_trial_id"].dropna()
    assert set(parents) <= set(rows["trial_id"])  # (the unit tests make parents certain)
    assert all(by_order[p] < o for p, o in zip(parents, rows.loc[parents.index, "order"]))


@pytest.mark.slow  # several fits on a real Ray
def test_a_segmented_run_resumes_with_the_next_orders(tmp_path):
    evolve(settings(tmp_path / "run", trials=5), quiet=True, segment_trials=2)
    evolve(settings(tmp_path / "run", trials=9), resume=True, quiet=True, segment_trials=2)
    rows = read_trials(tmp_path / "run")
    assert sorted(rows["order"]) == list(range(1, 10))
    assert set(rows["status"]) == {Status.COMPLETED}


@pytest.mark.slow  # several fits on a real Ray
def test_asha_across_segments_stops_some_trials_and_records_every_one(tmp_path):
    run = settings(tmp_path / "run", trials=12, epochs=3, scheduler="asha", grace_epochs=1,
                   max_batches_per_epoch=2)
    evolve(run, quiet=True, segment_trials=5)
    rows = read_trials(tmp_path / "run")
    assert len(rows) == 12 and sorted(rows["order"]) == list(range(1, 13))
    assert set(rows["status"]) <= {Status.COMPLETED, Status.STOPPED}
    stopped = rows[rows["status"] == Status.STOPPED]
    assert len(stopped) and (stopped["epochs"] < 3).all()
    assert all(len(json.loads(c)) == e for c, e in zip(rows["accuracy_curve"], rows["epochs"]))


def _rows(out) -> int:
    try:
        return len(read_trials(out))
    except Exception:  # noqa: BLE001 - not there yet
        return 0


@pytest.mark.slow
def test_ctrl_c_ends_the_run_in_its_segment_and_keeps_every_finished_row(tmp_path):
    out = tmp_path / "run"

    def interrupt_once_rows_exist():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _rows(out) < 3:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_rows_exist, daemon=True).start()
    started = time.monotonic()
    evolve(settings(out, trials=400, strategy="random", population_size=None,
                    sample_size=None), quiet=True, segment_trials=100)
    rows = read_trials(out)
    assert 0 < len(rows) < 400  # stopped: no further segment started after Ctrl-C
    assert set(rows["status"]) == {Status.COMPLETED}
    assert sorted(rows["order"]) == sorted(set(rows["order"]))
    assert time.monotonic() - started < 240


def test_block_rates_and_scale_rows_from_finish_times():
    times = [float(i) for i in range(10)] + [9.0 + 0.5 * i for i in range(1, 11)]  # 1/s, 2/s
    assert block_rates(times, 10) == pytest.approx([1.0, 2.0])
    samples = [(t, 100.0 + t, 3) for t in range(0, 21)]
    rows = scale_rows(times, samples, every=5, block=10)
    assert [r.trials for r in rows] == [5, 10, 15, 20]
    assert [r.rate for r in rows] == [None, pytest.approx(1.0), None, pytest.approx(2.0)]
    assert rows[1].rss_mb == 109.0  # the first sample at or after the 10th finish (t=9)
    assert rss_growth([ScaleRow(n, 100.0 + n / 100, 3, None) for n in (500, 1000, 1500, 2000)]) \
        == (pytest.approx(10.0), pytest.approx(10.0 / 110.0))


def test_bench_overhead_scale_table_is_sane():
    result = measure_overhead(30, default_trials=2, repeats=0, num_cpus=None, every=5)
    rows = result.scale
    assert [r.trials for r in rows] == [5, 10, 15, 20, 25, 30]
    assert [r.rate is not None for r in rows] == [False, True] * 3
    assert all(0 < r.rate < 10_000 for r in rows if r.rate is not None)
    assert all(100 < r.rss_mb < 10_000 for r in rows)
    assert all(0 < r.files <= 20 for r in rows)  # bounded: not one file per trial
    assert 0 < result.scale_rate < 10_000
    lines = overhead_lines(result)
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 2 + 6 and "driver RSS MB" in table[0]


@pytest.mark.slow  # four small fits: plain Tune three ways and raynas
def test_bench_overhead_ratios_say_where_the_cpu_went():
    ratios = measure_ratios("one batch", 1, trials=12, default_trials=2, repeats=1)
    assert set(ratios.cpu) == {"tuned", "on demand", "raynas"}
    for name, (use,) in ratios.cpu.items():
        assert use.ms_per_trial["driver"] > 0      # Tune's loop runs in this process
        assert use.ms_per_trial["trials"] > 0      # the trainables ran in Ray workers
        assert 0 < use.cores_busy <= 2.5           # 2 CPUs (and a little rounding)
    assert 0 < ratios.ours_per_tuned < 100
    line = cpu_line("raynas", ratios.cpu["raynas"])
    assert "driver" in line and "trials" in line and "cores busy" in line
