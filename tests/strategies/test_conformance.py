"""Every registered strategy passes the same contract tests (DESIGN.md principle 9)."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest

import raynas.strategies
from raynas.core.space import SearchSpace
from raynas.strategies import SpaceExhausted, Strategy

NAMES = raynas.strategies.names()


def test_registry_names_and_lookup() -> None:
    assert {"evolution", "random"} <= set(NAMES)
    assert raynas.strategies.get("evolution") is raynas.strategies.RegularizedEvolution
    assert raynas.strategies.get("random") is raynas.strategies.RandomSearch
    with pytest.raises(KeyError, match="known: .*evolution.*random"):
        raynas.strategies.get("evolutoin")
    with pytest.raises(ValueError, match="duplicate strategy name 'random'"):
        raynas.strategies.register_strategy("random")(raynas.strategies.RandomSearch)


@pytest.mark.parametrize("name", NAMES)
def test_is_a_strategy(name: str) -> None:
    assert issubclass(raynas.strategies.get(name), Strategy)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_genomes(name, any_space, drive) -> None:
    cls = raynas.strategies.get(name)
    first = drive(cls(any_space, seed=7, budget=60), 60)
    second = drive(cls(any_space, seed=7, budget=60), 60)
    assert first == second
    other = drive(cls(any_space, seed=8, budget=60), 60)
    assert other != first


@pytest.mark.parametrize("name", NAMES)
def test_asks_are_canonical_genomes_of_the_space(name, any_space, drive) -> None:
    for genome in drive(raynas.strategies.get(name)(any_space, seed=1, budget=80), 80):
        assert any_space.validate(genome) == genome


@pytest.mark.parametrize("name", NAMES)
def test_global_reseeding_changes_nothing(name, any_space, drive) -> None:
    cls = raynas.strategies.get(name)
    random.seed(1)
    np.random.seed(1)
    first = drive(cls(any_space, seed=3, budget=40), 40)
    random.seed(2)
    np.random.seed(2)
    second = drive(cls(any_space, seed=3, budget=40), 40)
    assert first == second


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip_mid_run(name, any_space, drive) -> None:
    strategy = raynas.strategies.get(name)(any_space, seed=5, budget=50)
    drive(strategy, 20)
    pending = strategy.ask()  # an outstanding ask travels too
    clone = pickle.loads(pickle.dumps(strategy))
    for s in (strategy, clone):
        s.tell(pending, 0.5)
    assert drive(clone, 25) == drive(strategy, 25)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_through_json(name, any_space, drive, objective) -> None:
    cls = raynas.strategies.get(name)
    strategy = cls(any_space, seed=5, budget=50)
    drive(strategy, 20)
    strategy.tell(strategy.ask(), None)
    outstanding = [strategy.ask() for _ in range(3)]
    state = json.loads(json.dumps(strategy.state_dict()))
    restored = cls(any_space, seed=12345, budget=50)
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    assert restored.n_pending == 3
    for s in (strategy, restored):
        for genome in reversed(outstanding):
            s.tell(genome, objective(genome))
    assert drive(restored, 25) == drive(strategy, 25)


@pytest.mark.parametrize("name", NAMES)
def test_load_state_dict_checks_what_it_loads(name, space, nb201_space, drive) -> None:
    cls = raynas.strategies.get(name)
    strategy = cls(space, seed=0)
    drive(strategy, 5)
    state = strategy.state_dict()
    with pytest.raises(ValueError, match="different search space"):
        cls(nb201_space, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="settings: mode='max' \\(this strategy: 'min'\\)"):
        cls(space, seed=0, mode="min").load_state_dict(state)
    other = next(n for n in NAMES if n != name)
    with pytest.raises(ValueError, match="belongs to strategy"):
        raynas.strategies.get(other)(space, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="not a raynas strategy state"):
        cls(space, seed=0).load_state_dict({"history": []})


@pytest.mark.parametrize("name", NAMES)
def test_same_genomes_in_a_spawned_process(name, any_space, drive) -> None:
    here = drive(raynas.strategies.get(name)(any_space, seed=11, budget=40), 40)
    code = f"""
import hashlib, json, sys
import raynas.strategies
from raynas.core.space import SearchSpace
space = SearchSpace.from_json(sys.stdin.read())
def value_of(genome):
    digest = hashlib.sha256(SearchSpace.genome_id(genome).encode()).hexdigest()
    return int(digest[:12], 16) / 16 ** 12
s = raynas.strategies.get({name!r})(space, seed=11, budget=40)
out = []
for _ in range(40):
    g = s.ask(); out.append(g); s.tell(g, value_of(g))
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code], input=any_space.to_json(),
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == here


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("failure", [None, math.nan, math.inf, -math.inf])
def test_failed_trials(name, space, failure, objective) -> None:
    strategy = raynas.strategies.get(name)(space, seed=2, budget=60)
    for i in range(60):
        genome = strategy.ask()
        strategy.tell(genome, failure if i % 3 == 0 else objective(genome))
    values = [v for _, v in strategy.history]
    assert values.count(None) == 20
    assert all(v is None or math.isfinite(v) for v in values)
    best = strategy.best()
    assert best is not None and best[1] == max(v for v in values if v is not None)


@pytest.mark.parametrize("name", NAMES)
def test_all_trials_failing(name, space) -> None:
    strategy = raynas.strategies.get(name)(space, seed=2, budget=40)
    for _ in range(40):
        strategy.tell(strategy.ask(), None)
    assert strategy.best() is None


@pytest.mark.parametrize("name", NAMES)
def test_value_must_be_a_number(name, space) -> None:
    strategy = raynas.strategies.get(name)(space, seed=0)
    genome = strategy.ask()
    with pytest.raises(TypeError, match="value must be a real number.*'0.9'"):
        strategy.tell(genome, "0.9")
    with pytest.raises(ValueError, match="unknown candidate 'bogus'"):
        strategy.tell({**genome, "conv": "bogus"}, 0.9)


@pytest.mark.parametrize("name", NAMES)
def test_many_outstanding_asks_any_order(name, nb201_space, objective) -> None:
    strategy = raynas.strategies.get(name)(nb201_space, seed=4, budget=200)
    rng = random.Random(0)
    seen: list[str] = []
    outstanding: list[dict] = []
    for _ in range(10):  # waves: ask many, tell a shuffled part, ask again
        outstanding += [strategy.ask() for _ in range(20)]
        rng.shuffle(outstanding)
        for genome in outstanding[:15]:
            strategy.tell(genome, objective(genome))
        seen += [SearchSpace.genome_id(g) for g in outstanding[:15]]
        outstanding = outstanding[15:]
    assert strategy.n_pending == len(outstanding) == 50
    ids = seen + [SearchSpace.genome_id(g) for g in outstanding]
    assert len(ids) == len(set(ids)) == 200  # dedup holds with asks in flight


@pytest.mark.parametrize("name", NAMES)
def test_replay_rebuilds_the_live_state(name, any_space, drive, objective) -> None:
    cls = raynas.strategies.get(name)
    live = cls(any_space, seed=9, budget=60)
    drive(live, 30, lambda g: None if objective(g) < 0.2 else objective(g))
    replayed = cls(any_space, seed=9, budget=60).replay(live.history)
    by_class = cls.from_history(any_space, live.history, seed=9, budget=60)

    def comparable(s: Strategy) -> dict:
        state = s.state_dict()
        for key in ("rng", "parents", "last_parent"):
            state.pop(key)
        return state

    assert comparable(replayed) == comparable(live) == comparable(by_class)
    assert getattr(replayed, "population", None) == getattr(live, "population", None)
    assert replayed.n_asked == live.n_asked == 30
    # the resumed run never re-proposes a replayed genome
    ids = {SearchSpace.genome_id(g) for g, _ in live.history}
    assert not ids & {SearchSpace.genome_id(g) for g in drive(replayed, 20)}


@pytest.mark.parametrize("name", NAMES)
def test_min_mode_mirrors_max_mode(name, nb201_space, drive, objective) -> None:
    cls = raynas.strategies.get(name)
    maximizing = drive(cls(nb201_space, seed=6, budget=80), 80, objective)
    minimizing = cls(nb201_space, seed=6, mode="min", budget=80)
    assert drive(minimizing, 80, lambda g: -objective(g)) == maximizing
    assert minimizing.best()[1] == min(v for _, v in minimizing.history)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("settings, message", [
    ({"mode": "maximize"}, "mode must be 'max' or 'min', got 'maximize'"),
    ({"budget": 0}, "budget must be a positive int .* got 0"),
    ({"budget": True}, "budget must be a positive int .* got True"),
])
def test_invalid_settings(name, space, settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        raynas.strategies.get(name)(space, **settings)


@pytest.mark.parametrize("name", NAMES)
def test_exhaustion_none_while_pending_then_space_exhausted(name) -> None:
    from raynas.core.space import Dimension

    tiny = SearchSpace([Dimension("a", "layer", ("x", "y")), Dimension("b", "input", ("p",))])
    strategy = raynas.strategies.get(name)(tiny, seed=0)
    asked = [strategy.ask() for _ in range(4)]
    assert len({SearchSpace.genome_id(g) for g in asked}) == 4
    assert strategy.ask() is None  # results pending: nothing to propose yet
    for genome in asked:
        strategy.tell(genome, 1.0)
    with pytest.raises(SpaceExhausted, match="every one of the 4 genomes"):
        strategy.ask()
    assert issubclass(SpaceExhausted, StopIteration)


def _exhausted(name: str, seed: int) -> tuple[Strategy, list]:
    """A strategy that has proposed (and been told) all 4 genomes of a tiny space."""
    from raynas.core.space import Dimension

    tiny = SearchSpace([Dimension("a", "layer", ("x", "y")), Dimension("b", "input", ("p",))])
    strategy = raynas.strategies.get(name)(tiny, seed=seed)
    asked = [strategy.ask() for _ in range(4)]
    for i, genome in enumerate(asked):
        strategy.tell(genome, float(i))
    with pytest.raises(SpaceExhausted):
        strategy.ask()
    return strategy, asked


@pytest.mark.parametrize("name", NAMES)
def test_after_exhaustion_reevaluate_proposes_known_genomes(name) -> None:
    strategy, asked = _exhausted(name, seed=0)
    known = {SearchSpace.genome_id(g) for g in asked}
    again = [strategy.reevaluate() for _ in range(12)]
    assert {SearchSpace.genome_id(g) for g in again} <= known
    assert len({SearchSpace.genome_id(g) for g in again}) > 1  # drawn, not one genome forever
    assert all(strategy.space.validate(g) == g for g in again)
    assert strategy.n_pending == 12 and strategy.last_parent is None
    for genome in again:
        strategy.tell(genome, 0.5)  # re-evaluations are told like any result
    assert strategy.n_pending == 0 and len(strategy.history) == 16
    # the strategy's own seeded generator decides: same seed, same re-evaluations
    same, _ = _exhausted(name, seed=0)
    assert [same.reevaluate() for _ in range(12)] == again
    state = json.loads(json.dumps(strategy.state_dict()))
    restored = raynas.strategies.get(name)(strategy.space, seed=99)
    restored.load_state_dict(state)
    assert [restored.reevaluate() for _ in range(5)] == [strategy.reevaluate() for _ in range(5)]


@pytest.mark.parametrize("name", NAMES)
def test_reevaluate_before_any_genome_is_a_clear_error(name, space) -> None:
    with pytest.raises(ValueError, match="reevaluate\\(\\) needs a genome"):
        raynas.strategies.get(name)(space, seed=0).reevaluate()


@pytest.mark.parametrize("name", NAMES)
def test_lineage(name, space, drive) -> None:
    strategy = raynas.strategies.get(name)(space, seed=1, budget=40)
    told: set[str] = set()
    for genome in drive(strategy, 40):
        told.add(SearchSpace.genome_id(genome))
        parent = strategy.parent_of(genome)
        assert parent == strategy.parent_of(SearchSpace.genome_id(genome))
        if parent is not None:
            assert space.validate(parent) == parent
            assert SearchSpace.genome_id(parent) in told
    genome = strategy.ask()
    parent = strategy.last_parent
    assert parent == strategy.parent_of(genome)
