"""The objectives contract over every registered strategy: several metrics, told as mappings."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

import raynas.strategies
from raynas.core.space import SearchSpace
from raynas.strategies import parse_objectives
from raynas.strategies.pareto import non_dominated

from .conftest import value_of

NAMES = raynas.strategies.names()
TWO = {"accuracy": "max", "params": "min"}
THREE = {"accuracy": "max", "params": "min", "latency_ms": "min"}


def metrics_of(genome: dict) -> dict[str, float]:
    """Deterministic, conflicting objectives: accuracy grows with a size-like value."""
    size = value_of(genome)
    ident = SearchSpace.genome_id(genome)
    return {"accuracy": 0.5 + 0.4 * size + 0.1 * value_of({"x": ident}),
            "params": 1e5 * (1 + size), "latency_ms": 3.0 + value_of({"y": ident})}


def drive(strategy, steps: int, objectives: dict[str, str]) -> list[dict]:
    asked = []
    for _ in range(steps):
        genome = strategy.ask()
        asked.append(genome)
        full = metrics_of(genome)
        strategy.tell(genome, {k: full[k] for k in objectives})
    return asked


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("objectives", [TWO, THREE], ids=["two", "three"])
def test_same_seed_same_genomes_with_objectives(name, objectives, any_space) -> None:
    cls = raynas.strategies.get(name)
    first = drive(cls(any_space, seed=3, budget=60, objectives=objectives), 60, objectives)
    assert first == drive(cls(any_space, seed=3, budget=60, objectives=objectives), 60, objectives)
    assert first != drive(cls(any_space, seed=4, budget=60, objectives=objectives), 60, objectives)
    assert len({SearchSpace.genome_id(g) for g in first}) == 60  # dedup


@pytest.mark.parametrize("name", NAMES)
def test_pickle_and_state_dict_round_trips(name, nb201_space) -> None:
    cls = raynas.strategies.get(name)
    strategy = cls(nb201_space, seed=5, budget=50, objectives=TWO)
    drive(strategy, 20, TWO)
    strategy.tell(strategy.ask(), None)
    strategy.tell(strategy.ask(), {"accuracy": math.nan, "params": 1.0})  # failed as well
    pending = strategy.ask()
    clone = pickle.loads(pickle.dumps(strategy))
    state = json.loads(json.dumps(strategy.state_dict()))
    restored = cls(nb201_space, seed=99, budget=50, objectives=TWO)
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    assert state["config"]["objectives"] == TWO
    for s in (strategy, clone, restored):
        s.tell(pending, {k: metrics_of(pending)[k] for k in TWO})
    after = drive(strategy, 20, TWO)
    assert drive(clone, 20, TWO) == after == drive(restored, 20, TWO)
    with pytest.raises(ValueError, match="objectives="):
        cls(nb201_space, seed=0, budget=50).load_state_dict(state)


@pytest.mark.parametrize("name", NAMES)
def test_replay_and_history_use_the_told_form(name, nb201_space) -> None:
    cls = raynas.strategies.get(name)
    live = cls(nb201_space, seed=9, budget=60, objectives=TWO)
    drive(live, 30, TWO)
    assert all(set(value) == set(TWO) for _, value in live.history)
    replayed = cls.from_history(nb201_space, live.history, seed=9, budget=60, objectives=TWO)
    assert replayed.history == live.history
    assert getattr(replayed, "population", None) == getattr(live, "population", None)
    seen = {SearchSpace.genome_id(g) for g, _ in live.history}
    assert not seen & {SearchSpace.genome_id(g) for g in drive(replayed, 20, TWO)}


@pytest.mark.parametrize("name", NAMES)
def test_pareto_front_and_best(name, nb201_space) -> None:
    strategy = raynas.strategies.get(name)(nb201_space, seed=1, budget=40, objectives=TWO)
    drive(strategy, 40, TWO)
    front = strategy.pareto_front()
    values = np.array([[v["accuracy"], v["params"]] for _, v in strategy.history])
    mask = non_dominated(np.column_stack([-values[:, 0], values[:, 1]]))
    assert sorted(v["accuracy"] for _, v in front) == sorted(values[mask, 0].tolist())
    assert strategy.best()[1] == values[:, 0].max()  # the first objective


@pytest.mark.parametrize("name", NAMES)
def test_single_objective_mapping_equals_float(name, nb201_space) -> None:
    cls = raynas.strategies.get(name)
    by_float = cls(nb201_space, seed=2, budget=40)
    by_mapping = cls(nb201_space, seed=2, budget=40, objectives={"accuracy": "max"})
    for _ in range(40):
        a, b = by_float.ask(), by_mapping.ask()
        assert a == b
        by_float.tell(a, value_of(a))
        by_mapping.tell(b, {"accuracy": value_of(b)})
    assert by_float.history == by_mapping.history
    assert by_float.config() == by_mapping.config()
    loss = cls(nb201_space, seed=2, budget=40, objectives={"loss": "min"})
    loss.tell(loss.ask(), {"loss": 0.3})
    assert loss.mode == "min" and loss.best()[1] == 0.3


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("result, error, message", [
    ({"accuracy": 0.9}, ValueError, "missing metric 'params'.*accuracy \\(max\\), params \\(min\\)"),
    ({"accuracy": 0.9, "params": 1, "flops": 2}, ValueError, "unknown metric 'flops'"),
    (0.9, TypeError, "with several objectives .* must be a mapping .* got 0.9"),
    ({"accuracy": "high", "params": 1}, TypeError, "real number.*for metric 'accuracy'"),
])
def test_bad_results(name, nb201_space, result, error, message) -> None:
    strategy = raynas.strategies.get(name)(nb201_space, seed=0, objectives=TWO)
    with pytest.raises(error, match=message):
        strategy.tell(strategy.ask(), result)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("settings, message", [
    ({"objectives": {}}, "objectives must name at least one metric, got an empty mapping"),
    ({"objectives": {"accuracy": "maximize"}}, "objective 'accuracy': direction must be 'max' "
                                               "or 'min', got 'maximize'"),
    ({"objectives": {"": "max"}}, "objective names must be non-empty strings"),
    ({"objectives": TWO, "mode": "max"}, "pass either mode= or objectives=, not both"),
])
def test_bad_objectives(name, space, settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        raynas.strategies.get(name)(space, **settings)


@pytest.mark.parametrize("text, expected", [
    ("accuracy:max,params:min", TWO),
    (["accuracy:max", " latency_ms : min"], {"accuracy": "max", "latency_ms": "min"}),
])
def test_parse_objectives(text, expected) -> None:
    assert parse_objectives(text) == expected


@pytest.mark.parametrize("text, message", [
    ("accuracy", "METRIC:DIRECTION such as accuracy:max"),
    ("accuracy:up", "direction must be 'max' or 'min', got 'up'"),
    ("acc:max", "unknown metric 'acc'; known: accuracy, params"),
    ("accuracy:max,accuracy:min", "metric 'accuracy' is given twice"),
    ("", "no objective given"),
])
def test_parse_objectives_errors(text, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_objectives(text, known=["accuracy", "params"])
