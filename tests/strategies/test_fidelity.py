"""Multi-fidelity results: ``tell(genome, value, fidelity=epochs)`` and the order of results
of different fidelity (a stopped trial never outranks a full-fidelity one)."""

from __future__ import annotations

import json

import pytest

import raynas.strategies
from raynas.core.space import SearchSpace
from raynas.strategies import RegularizedEvolution
from raynas.strategies.base import fidelity_key
from raynas.strategies.evolution import model_target


def test_fidelity_key_orders_by_fidelity_then_score() -> None:
    assert fidelity_key(0.99, 1) < fidelity_key(0.50, 3) < fidelity_key(0.10, None)
    assert fidelity_key(0.40, 3) < fidelity_key(0.60, 3)
    assert fidelity_key(0.90, 8) < fidelity_key(0.20, None)  # None is the full fidelity


def test_model_target_keeps_the_fidelity_order() -> None:
    cases = [(0.99, 1), (-5.0, 3), (0.5, 3), (float("-inf"), 8), (0.1, 8), (0.0, None)]
    keys = [fidelity_key(s, f) for s, f in cases]
    targets = [model_target(s, f) for s, f in cases]
    assert sorted(range(len(cases)), key=keys.__getitem__) == \
        sorted(range(len(cases)), key=targets.__getitem__)


def _told(space: SearchSpace, strategy, values_and_fidelities):
    genomes = []
    for value, fidelity in values_and_fidelities:
        genome = strategy.ask()
        strategy.tell(genome, value, fidelity=fidelity)
        genomes.append(genome)
    return genomes


@pytest.mark.parametrize("model", [None, "ridge"])
def test_a_stopped_trial_cannot_outrank_a_full_fidelity_one(nb201_space, model) -> None:
    """A 1-epoch accuracy of 0.99 (stopped by the scheduler) against full-fidelity (8-epoch)
    results of 0.6 and 0.7: the tournament over the whole population picks the best
    full-fidelity member, and ``best()`` reports it."""
    s = RegularizedEvolution(nb201_space, seed=0, population_size=4, sample_size=4, model=model)
    stopped, low, full, mid = _told(nb201_space, s, [(0.99, 1), (0.6, 8), (0.7, 8), (0.95, 3)])
    assert s.best() == (full, 0.7)
    for _ in range(5):
        s.ask()
        if s.last_parent is not None:  # with the model a random candidate may win: no parent
            assert s.last_parent == full
    assert s.fidelities == [1, 8, 8, 3]


def test_within_a_rung_the_better_value_wins(nb201_space) -> None:
    s = RegularizedEvolution(nb201_space, seed=0, population_size=3, sample_size=3, model=None)
    _, better, _ = _told(nb201_space, s, [(0.5, 1), (0.6, 3), (0.4, 3)])
    for _ in range(3):
        s.ask()
        assert s.last_parent == better


def test_equal_fidelity_is_the_plain_order(nb201_space) -> None:
    """Told with the same fidelity everywhere (a FIFO run) the strategy proposes exactly what
    it proposes without fidelities."""
    plain = RegularizedEvolution(nb201_space, seed=3, population_size=5)
    aware = RegularizedEvolution(nb201_space, seed=3, population_size=5)
    for i in range(30):
        a, b = plain.ask(), aware.ask()
        assert a == b
        value = (i * 37 % 11) / 11
        plain.tell(a, value)
        aware.tell(b, value, fidelity=8)


def test_fidelity_survives_state_dict_and_replay(nb201_space) -> None:
    live = RegularizedEvolution(nb201_space, seed=1, population_size=4)
    for i, fidelity in enumerate([1, 3, 8, 1, 8, 3, None, 1]):
        g = live.ask()
        live.tell(g, i / 10, fidelity=fidelity)
    state = json.loads(json.dumps(live.state_dict()))
    loaded = RegularizedEvolution(nb201_space, seed=99, population_size=4)
    loaded.load_state_dict(state)
    assert loaded.fidelities == live.fidelities and loaded.best() == live.best()
    assert loaded.ask() == live.ask()
    triples = [(g, v, f) for (g, v), f in zip(live.history, live.fidelities)]
    replayed = RegularizedEvolution.from_history(nb201_space, triples, seed=1, population_size=4)
    assert replayed.fidelities == live.fidelities and replayed.best() == live.best()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_fidelity_is_an_error_stating_the_rule(nb201_space, bad) -> None:
    s = raynas.strategies.get("random")(nb201_space, seed=0)
    with pytest.raises(ValueError, match=r"fidelity must be an int >= 0 .* got"):
        s.tell(s.ask(), 0.5, fidelity=bad)


@pytest.mark.parametrize("name", raynas.strategies.names())
def test_every_strategy_accepts_a_fidelity(name, nb201_space) -> None:
    s = raynas.strategies.get(name)(nb201_space, seed=0)
    g1, g2 = s.ask(), s.ask()
    s.tell(g1, 0.9, fidelity=1)
    s.tell(g2, 0.5, fidelity=None)
    assert s.best() == (g2, 0.5)
