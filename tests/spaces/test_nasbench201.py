"""The NAS-Bench-201 space maps genomes to the benchmark's arch_str and parameter counts."""

import csv
from pathlib import Path

import pytest

import raynas.spaces
from raynas import SearchSpace, count_parameters, fix
from raynas.spaces.nasbench201 import EDGE_KEYS, OPERATIONS, from_arch_str, to_arch_str

TABLE = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "nasbench201_cifar10.csv"


def rows(step=997):
    if not TABLE.exists():
        pytest.skip(f"benchmark table not found at {TABLE}")
    with TABLE.open() as handle:
        return [row for i, row in enumerate(csv.DictReader(handle)) if i % step == 0]


def test_keys_and_choices():
    space = SearchSpace.from_model(raynas.spaces.get("nasbench201")())
    assert space.keys == list(EDGE_KEYS)
    assert all(d.choices == OPERATIONS for d in space)
    assert space.size == 15625


def test_parameter_counts_match_the_benchmark():
    model = raynas.spaces.get("nasbench201")()
    checked = 0
    for row in rows():
        genome = from_arch_str(row["arch_str"])
        assert to_arch_str(genome) == row["arch_str"]
        assert genome == {f"edge{i}": row[f"edge{i}"] for i in range(6)}
        assert count_parameters(model, genome) == int(row["params_cifar10"])
        checked += 1
    fixed = fix(model, genome)
    assert count_parameters(fixed) == int(row["params_cifar10"])
    assert checked >= 10


def test_malformed_arch_str():
    with pytest.raises(ValueError, match="not a NAS-Bench-201 arch_str"):
        from_arch_str("|conv~0|+|x~0|")
