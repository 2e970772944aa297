"""RegularizedEvolution: settings, the textbook algorithm, and the edge cases NNI users hit."""

from __future__ import annotations

import numpy as np
import pytest

from raynas.core.space import Dimension, SearchSpace
from raynas.strategies import RegularizedEvolution, SpaceExhausted
from raynas.strategies.encoding import Encoding
from raynas.strategies.evolution import default_population_size

TEXTBOOK = dict(population_size=10, sample_size=3, mutation=1, model=None, dedup=False)


def n_different(a: dict, b: dict) -> int:
    return sum(a[k] != b[k] for k in a)


@pytest.mark.parametrize("settings, message", [
    ({"population_size": 5, "sample_size": 6},
     "sample_size must be <= population_size, got sample_size=6, population_size=5; "
     "lower sample_size or raise population_size"),
    ({"population_size": 0}, "population_size must be an int >= 1, got 0"),
    ({"sample_size": 0}, "sample_size must be an int >= 1, got 0"),
    ({"mutation": 0}, "mutation must be an int >= 1, got 0"),
    ({"on_failure": "drop"}, "on_failure must be 'ignore' or 'worst', got 'drop'"),
    ({"model": "gp"}, "model must be 'ridge' or None, got 'gp'"),
    ({"candidates": 0}, "candidates must be an int >= 1, got 0"),
    ({"random_candidates": -1}, "random_candidates must be an int >= 0, got -1"),
])
def test_invalid_settings(space, settings, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RegularizedEvolution(space, **settings)


def test_defaults_scale_with_the_budget(space) -> None:
    assert [default_population_size(b) for b in (None, 10, 25, 100, 200, 10_000)] == \
        [25, 6, 6, 25, 50, 100]
    s = RegularizedEvolution(space, budget=200)
    assert (s.population_size, s.sample_size, s.model, s.dedup) == (50, 25, "ridge", True)
    assert RegularizedEvolution(space, population_size=10).sample_size == 5


def test_textbook_algorithm(space, objective) -> None:
    s = RegularizedEvolution(space, seed=0, **TEXTBOOK)
    for i in range(60):
        genome = s.ask()
        parent = s.last_parent
        if i < 10:  # random genomes until the population is full
            assert parent is None
        else:  # then each child changes one decision of its parent
            assert parent is not None and n_different(parent, genome) == 1
        s.tell(genome, objective(genome))
    # aging: the population is the 10 most recent results, oldest first
    assert [g for g, _ in s.population] == [g for g, _ in s.history[-10:]]


def test_tournament_parent_is_the_fittest_of_a_sample(nb201_space) -> None:
    s = RegularizedEvolution(nb201_space, seed=0, population_size=10, sample_size=10, model=None)
    values = {}
    for i in range(10):
        g = s.ask()
        values[SearchSpace.genome_id(g)] = float(i)
        s.tell(g, float(i))
    best = max(values, key=values.get)
    for _ in range(5):  # tournament over the whole population: always the best member
        s.ask()
        assert SearchSpace.genome_id(s.last_parent) == best


def test_mutation_changes_the_requested_number_of_decisions(nb201_space, drive) -> None:
    s = RegularizedEvolution(nb201_space, seed=0, population_size=5, mutation=3, model=None)
    for genome in drive(s, 40)[5:]:
        assert n_different(s.parent_of(genome), genome) == 3


def test_input_choices_mutate_within_n_chosen() -> None:
    space = SearchSpace([
        Dimension("free", "input", ("a", "b", "c", "d"), n_chosen=None),
        Dimension("two", "input", ("p", "q", "r", "s", "t"), n_chosen=2),
    ])
    enc = Encoding(space)
    rng = np.random.default_rng(0)
    parent = np.array([0b0101, 0b00110])
    mutants = enc.mutate(rng, parent, 400)
    changed = {"free": 0, "two": 0}
    for m in mutants:
        genome, before = enc.decode(m), enc.decode(parent)
        assert space.validate(genome) == genome
        assert n_different(genome, before) == 1
        if genome["free"] != before["free"]:  # gains or loses one input
            changed["free"] += 1
            assert len(set(genome["free"]) ^ set(before["free"])) == 1
        else:  # swaps one chosen input for an unchosen one
            changed["two"] += 1
            assert len(genome["two"]) == 2 and len(set(genome["two"]) ^ set(before["two"])) == 2
    assert min(changed.values()) > 100


def test_every_early_trial_failing_keeps_proposing(space) -> None:
    for model in (None, "ridge"):
        s = RegularizedEvolution(space, seed=0, population_size=5, on_failure="ignore",
                                 model=model)
        for _ in range(20):  # the population stays empty: asks stay random, nothing hangs
            genome = s.ask()
            assert s.last_parent is None
            s.tell(genome, None)
        assert s.population == []
        survivor = s.ask()
        s.tell(survivor, 1.0)
        assert s.ask() is not None
        if model is None:  # the first success is the only possible parent
            assert s.last_parent == survivor


def test_failures_as_worst_join_the_population_and_lose(nb201_space) -> None:
    s = RegularizedEvolution(nb201_space, seed=0, population_size=4, sample_size=4,
                             on_failure="worst", model=None)
    asked = [s.ask() for _ in range(4)]
    for i, genome in enumerate(asked):
        s.tell(genome, 0.5 if i == 2 else None)
    assert [score for _, score in s.population].count(-np.inf) == 3
    s.ask()
    assert s.last_parent == asked[2]


def test_many_outstanding_asks_no_generation_barrier(nb201_space, objective) -> None:
    s = RegularizedEvolution(nb201_space, seed=0, population_size=10, sample_size=3)
    first = [s.ask() for _ in range(40)]  # more asks in flight than the population holds
    assert all(s.parent_of(g) is None for g in first)  # nothing told yet: random genomes
    for genome in first[25:]:
        s.tell(genome, objective(genome))
    child = s.ask()
    assert child is not None and len(s.population) == 10


def test_dedup_falls_back_to_unseen_random_then_exhausts() -> None:
    space = SearchSpace([Dimension("a", "layer", ("x", "y", "z")),
                         Dimension("b", "layer", ("u", "v", "w"))])
    for model in (None, "ridge"):
        s = RegularizedEvolution(space, seed=0, population_size=2, sample_size=2, model=model)
        ids = []
        for _ in range(9):
            genome = s.ask()
            ids.append(SearchSpace.genome_id(genome))
            s.tell(genome, float(len(ids)))
        assert len(set(ids)) == 9  # every genome once, mutants or random fallbacks
        with pytest.raises(SpaceExhausted):
            s.ask()


def test_single_genome_space() -> None:
    space = SearchSpace([Dimension("only", "layer", ("conv",)),
                         Dimension("inputs", "input", ("a", "b"), n_chosen=2)])
    s = RegularizedEvolution(space, seed=0, population_size=1)
    genome = s.ask()
    assert genome == {"only": "conv", "inputs": ["a", "b"]}
    assert s.ask() is None
    s.tell(genome, 1.0)
    with pytest.raises(SpaceExhausted):
        s.ask()
    again = RegularizedEvolution(space, seed=0, population_size=1, dedup=False)
    for _ in range(5):  # without dedup it re-proposes the one genome, never hangs
        g = again.ask()
        assert g == genome
        again.tell(g, 1.0)


def test_model_screening_beats_unscreened_mutants_on_a_smooth_problem(nb201_space) -> None:
    weights = np.random.default_rng(0).normal(size=(6, 5))
    enc = Encoding(nb201_space)

    def value(genome):
        code = enc.encode(genome)
        return float(sum(weights[i, c] for i, c in enumerate(code)))

    best = weights.max(axis=1).sum()
    found = {}
    for model in (None, "ridge"):
        results = []
        for seed in range(20):
            s = RegularizedEvolution(nb201_space, seed=seed, budget=40, model=model)
            for _ in range(40):
                g = s.ask()
                s.tell(g, value(g))
            results.append(best - s.best()[1])
        found[model] = float(np.mean(results))
    assert found["ridge"] < found[None]
