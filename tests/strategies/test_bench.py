"""The NAS-Bench-201 table and ``raynas bench``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from raynas.bench.nb201 import run_bench
from raynas.cli.bench import bench_command
from raynas.bench.table import (FITNESS, NB201_KEYS, NB201_OPS, REPORTED, load_table,
                                    nasbench201_space)

SHARED_CSV = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nasbench201_cifar10.csv"


@pytest.fixture(scope="module")
def table():
    return load_table()


def test_shipped_table_matches_the_published_checks(table) -> None:
    assert len(table) == 15_625
    assert table.best_reported == pytest.approx(94.3733, abs=1e-4)
    best = int(np.argmax(table.fitness))
    assert table.fitness[best] == pytest.approx(84.892, abs=1e-3)
    assert table.reported[best] == pytest.approx(94.3733, abs=1e-4)  # index 13714


def test_space_is_the_nasbench201_cell() -> None:
    space = nasbench201_space()
    assert space.keys == list(NB201_KEYS) == [f"edge{i}" for i in range(6)]
    assert all(d.kind == "layer" and d.choices == NB201_OPS for d in space.dimensions)
    assert NB201_OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def test_index_looks_up_the_genome(table) -> None:
    import pandas as pd

    frame = pd.read_parquet(Path(table.source))
    row = frame.iloc[1234]
    genome = {k: row[k] for k in NB201_KEYS}
    i = table.index(genome)
    assert table.fitness[i] == row[FITNESS] and table.reported[i] == row[REPORTED]


@pytest.mark.skipif(not SHARED_CSV.is_file(), reason="the shared CSV is not in this checkout")
def test_csv_and_shipped_parquet_agree(table) -> None:
    csv = load_table(SHARED_CSV)
    assert np.array_equal(csv.fitness, table.fitness)
    assert np.array_equal(csv.reported, table.reported)


def _write(tmp_path: Path, frame, name: str = "t.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_table_validation_errors(tmp_path, table) -> None:
    import pandas as pd

    frame = pd.read_parquet(Path(table.source))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['cifar10_test_200ep'\]"):
        load_table(_write(tmp_path, frame.drop(columns=[REPORTED])))
    bad = frame.copy()
    bad.loc[0, "edge3"] = "conv_9x9"
    with pytest.raises(ValueError, match="column 'edge3' holds unknown operation.*conv_9x9"):
        load_table(_write(tmp_path, bad))
    with pytest.raises(ValueError, match="1 missing, 0 repeated"):
        load_table(_write(tmp_path, frame.iloc[1:]))
    nan = frame.copy()
    nan.loc[5, FITNESS] = np.nan
    with pytest.raises(ValueError, match="must hold finite numbers; 1 row"):
        load_table(_write(tmp_path, nan))
    with pytest.raises(ValueError, match="unknown file type '.txt'"):
        load_table(_write(tmp_path, frame.head(), "t.txt"))
    with pytest.raises(ValueError, match="no file at"):
        load_table(tmp_path / "absent.csv")
    shuffled = frame.sample(frac=1.0, random_state=0)  # row order does not matter
    shuffled.to_parquet(tmp_path / "t.parquet")
    assert np.array_equal(load_table(tmp_path / "t.parquet").fitness, table.fitness)


@pytest.mark.slow  # a benchmark run over many seeds
def test_run_bench_structure_and_evolution_beats_random(table) -> None:
    result = run_bench(["evolution", "random"], budgets=[10, 100], repeats=100, table=table,
                       seed=1000)
    assert [(r.strategy, r.budget) for r in result.rows] == \
        [("evolution", 10), ("evolution", 100), ("random", 10), ("random", 100)]
    for row in result.rows:
        assert row.repeats == 100 and 85 < row.mean <= table.best_reported
        assert row.regret == pytest.approx(table.best_reported - row.mean)
        assert row.std >= 0 and row.us_per_call > 0
        assert len(result.values[row.strategy][row.budget]) == 100
    evolution, random = result.row("evolution", 100), result.row("random", 100)
    assert evolution.mean > random.mean + 0.2  # ~94.3 vs ~93.75: must be able to fail
    assert set(result.us_per_call) == {"evolution", "random"}
    json.dumps(result.to_dict())


def test_bench_command(tmp_path) -> None:
    out = tmp_path / "r.json"
    done = CliRunner().invoke(bench_command, ["--repeats", "3", "--budgets", "5,10",
                                              "--json", str(out)])
    assert done.exit_code == 0, done.output
    for text in ("evolution", "random", "mean ± std", "regret", "µs / ask+tell", "total"):
        assert text in done.output
    assert len(json.loads(out.read_text())["rows"]) == 4


@pytest.mark.parametrize("args, message", [
    (["--strategies", "evolutoin"], "unknown strategy 'evolutoin'; known: evolution, random"),
    (["--budgets", "25,x"], "comma-separated ints"),
    (["--table", "nowhere.csv"], "no file at"),
])
def test_bench_command_errors(args, message) -> None:
    done = CliRunner().invoke(bench_command, [*args, "--repeats", "1"])
    assert done.exit_code != 0
    assert message in done.output


def test_mo_bench_protocol_and_evolution_beats_random(table) -> None:
    from raynas.bench.nb201_mo import run_mo_bench

    result = run_mo_bench({"accuracy": "max", "params": "min"}, ["evolution", "random"],
                          budgets=[50], repeats=12, table=table, seed=10_000)
    assert result.best_hv == pytest.approx(0.7946, abs=1e-4)  # the shared README's front
    evolution, random = result.row("evolution", 50), result.row("random", 50)
    assert 0 <= evolution.mean < random.mean  # ~0.014 vs ~0.023: must be able to fail
    json.dumps(result.to_dict())


def test_bench_command_objectives(tmp_path) -> None:
    out = tmp_path / "mo.json"
    done = CliRunner().invoke(bench_command, ["--objectives", "accuracy:max,params:min",
                                              "--repeats", "2", "--budgets", "10",
                                              "--strategies", "random", "--json", str(out)])
    assert done.exit_code == 0, done.output
    assert "table front HV 0.7946" in done.output and "MO-TPE" in done.output
    assert json.loads(out.read_text())["objectives"] == {"accuracy": "max", "params": "min"}
    bad = CliRunner().invoke(bench_command, ["--objectives", "accuracy:max,latency_ms:min"])
    assert bad.exit_code != 0 and "unknown metric 'latency_ms'" in bad.output
