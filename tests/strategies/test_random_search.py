"""RandomSearch: dedup, exhaustion, uniformity."""

from __future__ import annotations

import collections
import json

import pytest

from raynas.core.space import Dimension, SearchSpace
from raynas.strategies import RandomSearch, SpaceExhausted


def test_dedup_covers_the_space_then_exhausts(space) -> None:
    s = RandomSearch(space, seed=0)
    ids = set()
    for _ in range(space.size):
        genome = s.ask()
        ids.add(SearchSpace.genome_id(genome))
    assert len(ids) == space.size == 144
    assert s.ask() is None  # results pending
    for genome_id in ids:
        s.tell(json.loads(genome_id), 0.1)
    with pytest.raises(SpaceExhausted, match="every one of the 144 genomes"):
        s.ask()


def test_told_genomes_are_not_proposed(space) -> None:
    s = RandomSearch(space, seed=0)
    told = list(space.genomes())[:100]
    for genome in told:
        s.tell(genome, 0.5)  # results of genomes it never asked (e.g. injected)
    proposed = [SearchSpace.genome_id(s.ask()) for _ in range(44)]
    assert not set(proposed) & {SearchSpace.genome_id(g) for g in told}


def test_without_dedup_repeats_and_never_exhausts() -> None:
    space = SearchSpace([Dimension("a", "layer", ("x", "y"))])
    s = RandomSearch(space, seed=0, dedup=False)
    asked = [s.ask() for _ in range(50)]
    assert len({g["a"] for g in asked}) == 2
    assert s.n_pending == 50


def test_uniform(space) -> None:
    s = RandomSearch(space, seed=0, dedup=False)
    counts = collections.Counter(SearchSpace.genome_id(s.ask()) for _ in range(14_400))
    assert len(counts) == 144
    assert 40 < min(counts.values()) and max(counts.values()) < 170  # expected 100 each
    merge = collections.Counter(tuple(json.loads(k)["merge"]) for k in counts.elements())
    assert len(merge) == 6  # every 2-of-4 subset


def test_budget_is_accepted_and_unused(space, drive) -> None:
    assert drive(RandomSearch(space, seed=1, budget=10), 10) == \
        drive(RandomSearch(space, seed=1), 10)
