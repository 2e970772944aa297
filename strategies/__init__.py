"""Search strategies: pure ask/tell objects over genomes (numpy only: no ray, no torch).

>>> import raynas.strategies
>>> Strategy = raynas.strategies.get("evolution")      # RegularizedEvolution
>>> s = Strategy(space, seed=0, budget=100)             # doctest: +SKIP
>>> g = s.ask(); s.tell(g, 0.93)                         # doctest: +SKIP

Register a new strategy (a :class:`Strategy` subclass) with ``@register_strategy("name")``;
every registered strategy must pass the conformance suite in ``tests/strategies``.
"""

from __future__ import annotations

from typing import Callable

from raynas.core.registry import Registry
from raynas.strategies.base import SpaceExhausted, Strategy, parse_objectives
from raynas.strategies.evolution import RegularizedEvolution
from raynas.strategies.random_search import RandomSearch

_REGISTRY: Registry[type[Strategy]] = Registry("strategy")


def register_strategy(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator registering a :class:`Strategy` subclass under ``name``."""
    return _REGISTRY.register(name)


def get(name: str) -> type[Strategy]:
    """The strategy class registered as ``name`` (``KeyError`` lists the known names)."""
    return _REGISTRY.get(name)


def names() -> list[str]:
    """The registered strategy names, sorted."""
    return _REGISTRY.names()


register_strategy("random")(RandomSearch)
register_strategy("evolution")(RegularizedEvolution)

__all__ = ["RandomSearch", "RegularizedEvolution", "SpaceExhausted", "Strategy", "get",
           "names", "parse_objectives", "register_strategy"]
