"""Shared fixtures of the strategy tests: small hand-built spaces and deterministic objectives."""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import pytest

from raynas.bench.table import nasbench201_space
from raynas.core.space import Dimension, SearchSpace


def mixed_space() -> SearchSpace:
    """LayerChoices plus an any-subset InputChoice and a fixed-size one (144 genomes)."""
    return SearchSpace([
        Dimension("conv", "layer", ("3x3", "5x5", "7x7")),
        Dimension("act", "layer", ("relu", "gelu")),
        Dimension("skip", "input", ("x0", "x1"), n_chosen=None),
        Dimension("merge", "input", ("a", "b", "c", "d"), n_chosen=2),
    ])


def value_of(genome: dict[str, Any]) -> float:
    """A deterministic pseudo-random value in [0, 1) of a genome (same in every process)."""
    digest = hashlib.sha256(SearchSpace.genome_id(genome).encode()).hexdigest()
    return int(digest[:12], 16) / 16 ** 12


def _drive(strategy: Any, steps: int, objective: Callable[[dict], float | None] = value_of
           ) -> list[dict[str, Any]]:
    """Sequential ask/tell for ``steps`` trials; the genomes asked."""
    asked = []
    for _ in range(steps):
        genome = strategy.ask()
        assert genome is not None
        asked.append(genome)
        strategy.tell(genome, objective(genome))
    return asked


@pytest.fixture
def space() -> SearchSpace:
    return mixed_space()


@pytest.fixture
def nb201_space() -> SearchSpace:
    return nasbench201_space()


@pytest.fixture(params=["mixed", "nb201"])
def any_space(request: pytest.FixtureRequest) -> SearchSpace:
    return mixed_space() if request.param == "mixed" else nasbench201_space()


@pytest.fixture
def objective() -> Callable[[dict], float]:
    """``value_of``: a deterministic pseudo-random value per genome."""
    return value_of


@pytest.fixture
def drive() -> Callable[..., list[dict[str, Any]]]:
    """``drive(strategy, steps, objective=value_of)``: sequential ask/tell; the genomes asked."""
    return _drive


@pytest.fixture
def make_space() -> Callable[[str], SearchSpace]:
    """``make_space("mixed" | "nb201")``: a fresh space (for use inside parametrized tests)."""
    return lambda name: mixed_space() if name == "mixed" else nasbench201_space()
