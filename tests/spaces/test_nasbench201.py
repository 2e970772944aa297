"""The NAS-Bench-201 space maps genomes to the benchmark's arch_str and parameter counts."""

from pathlib import Path

import pandas as pd
import pytest

import raynas
import raynas.spaces
from raynas import SearchSpace, count_parameters, fix
from raynas.bench.table import nasbench201_space
from raynas.spaces.nasbench201 import EDGE_KEYS, OPERATIONS, from_arch_str, to_arch_str

TABLE = Path(raynas.__file__).parent / "bench" / "data" / "nasbench201_cifar10.parquet"


def rows(step=997):
    return pd.read_parquet(TABLE).iloc[::step].to_dict("records")


def test_keys_and_choices():
    space = SearchSpace.from_model(raynas.spaces.get("nasbench201")())
    assert space.keys == list(EDGE_KEYS)
    assert all(d.choices == OPERATIONS for d in space)
    assert space.size == 15625
    assert space == nasbench201_space()  # the tabular benchmark's space is the model's


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


def test_malformed_arch_str_and_genome():
    with pytest.raises(ValueError, match="not a NAS-Bench-201 arch_str"):
        from_arch_str("|conv~0|+|x~0|")
    with pytest.raises(ValueError, match="not a NAS-Bench-201 genome"):
        to_arch_str({**{key: "none" for key in EDGE_KEYS}, "edge1": 1})
    with pytest.raises(ValueError, match="edge5"):
        to_arch_str({key: "none" for key in EDGE_KEYS[:5]})
