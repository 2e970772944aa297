"""SearchSpace as plain data: size, sampling, validation, JSON round trip."""

import json
import random

import numpy as np
import pytest

from raynas import Dimension, SearchSpace
import raynas.spaces


@pytest.fixture
def space():
    return SearchSpace([
        Dimension("op", "layer", ("conv", "pool", "skip")),
        Dimension("inputs", "input", ("a", "b", "c")),
        Dimension("pair", "input", ("a", "b", "c", "d"), n_chosen=2),
    ])


def test_size_counts_distinct_genomes(space):
    assert space.size == 3 * 8 * 6
    assert len({SearchSpace.genome_id(g) for g in space.genomes()}) == space.size


def test_seed_net_space_has_four_genomes():
    model = raynas.spaces.get("mnist")()
    space = SearchSpace.from_model(model)
    assert space.size == 4
    assert [d.kind for d in space] == ["layer", "input"]


def test_sample_is_valid_and_deterministic(space):
    samples = [space.sample(7) for _ in range(3)]
    assert samples[0] == samples[1] == samples[2]
    rng = np.random.default_rng(3)
    many = [space.sample(rng) for _ in range(200)]
    for genome in many:
        assert space.validate(genome) == genome
    assert len({SearchSpace.genome_id(g) for g in many}) > 50
    assert space.sample(random.Random(1)) == space.sample(random.Random(1))


def test_validate_errors_name_key_value_and_choices(space):
    good = space.sample(0)
    with pytest.raises(ValueError, match=r"'op'.*'maxpool'.*conv"):
        space.validate({**good, "op": "maxpool"})
    with pytest.raises(ValueError, match=r"unknown key.*'extra'"):
        space.validate({**good, "extra": "x"})
    missing = dict(good)
    del missing["pair"]
    with pytest.raises(ValueError, match=r"misses.*'pair'.*exactly 2"):
        space.validate(missing)
    with pytest.raises(ValueError, match=r"'pair'.*1 chosen"):
        space.validate({**good, "pair": ["a"]})
    with pytest.raises(ValueError, match="index 5 out of range"):
        space.validate({**good, "op": 5})


def test_validate_accepts_nni_forms(space):
    genome = space.validate({"op": 1, "inputs": [True, False, True], "pair": [3, 0]})
    assert genome == {"op": "pool", "inputs": ["a", "c"], "pair": ["a", "d"]}
    assert space.validate({"op": [False, False, True], "inputs": [], "pair": ["b", "c"]})["op"] == "skip"


def test_json_round_trip_and_value_semantics(space):
    text = space.to_json()
    again = SearchSpace.from_json(text)
    assert again == space and hash(again) == hash(space)
    assert json.loads(text)["dimensions"][2]["n_chosen"] == 2


@pytest.mark.parametrize("bad", [
    {"format": "raynas.core.space/1", "dimensions": [{"key": "a", "kind": "magic", "choices": ["x"]}]},
    {"format": "raynas.core.space/1", "dimensions": [{"key": "a", "kind": "layer", "choices": []}]},
    {"format": "raynas.core.space/1", "dimensions": [{"key": "a", "kind": "layer", "choices": ["x"],
                                                 "evil": "__import__('os')"}]},
    {"dimensions": []},
    {"format": "raynas.core.space/1", "dimensions": [{"key": "a", "kind": "input", "choices": ["x"],
                                                 "n_chosen": 3}]},
])
def test_malformed_space_json_is_a_clear_error(bad):
    with pytest.raises(ValueError):
        SearchSpace.from_dict(bad)


def test_duplicate_keys_rejected():
    with pytest.raises(ValueError, match="duplicated"):
        SearchSpace([Dimension("a", "layer", ("x",)), Dimension("a", "layer", ("y",))])


def test_float_masks_numpy_arrays_and_negative_seeds(space):
    genome = space.validate({"op": [0.0, 1.0, 0.0], "inputs": np.array(["a"]), "pair": np.array([0, 1])})
    assert genome == {"op": "pool", "inputs": ["a"], "pair": ["a", "b"]}
    with pytest.raises(ValueError, match="0.0 and 1.0"):
        space.validate({"op": [0.2, 0.8, 0.0], "inputs": [], "pair": [0, 1]})
    with pytest.raises(ValueError, match="non-negative"):
        space.sample(-1)
