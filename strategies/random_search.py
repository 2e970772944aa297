"""Random search: the baseline every NAS strategy must beat (Li & Talwalkar, UAI 2019)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from raynas.core.space import SearchSpace, SeedLike
from raynas.strategies.base import Strategy


class RandomSearch(Strategy):
    """Uniformly random genomes.

    With ``dedup=True`` (default) no genome is proposed twice (nor one already told); once
    every genome of the space has been proposed, ``ask()`` returns ``None`` while results are
    pending, then raises :class:`~raynas.strategies.SpaceExhausted`. Results do not steer the
    search, so any ``objectives`` work; ``budget`` is accepted for the common interface and
    unused.
    """

    name = "random"

    def __init__(self, space: SearchSpace, seed: SeedLike = None, dedup: bool = True,
                 mode: str | None = None, budget: int | None = None,
                 objectives: Mapping[str, str] | None = None):
        super().__init__(space, seed=seed, mode=mode, budget=budget, dedup=dedup,
                         objectives=objectives)

    def _propose(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self._fresh(), None
