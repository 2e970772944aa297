"""Regularized (aging) evolution, after Real, Aggarwal, Huang & Le, "Regularized Evolution for
Image Classifier Architecture Search", AAAI 2019, with optional model-screened mutants, for one
objective or several (Pareto-rank selection and hypervolume-improvement screening).
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from typing import Any, Mapping

import numpy as np

from raynas.core.space import SearchSpace, SeedLike
from raynas.strategies.base import Strategy, fidelity_key
from raynas.strategies.pareto import (RankPeeling, SlidingDominance, best_improvement,
                                      compare_to_rows, crowding_distance_one_rank)
from raynas.strategies.surrogate import RankRidge

MODELS = ("ridge", None)
ON_FAILURE = ("ignore", "worst")


def default_population_size(budget: int | None) -> int:
    """A quarter of the run's budget, between 6 and 100; 25 when the budget is unknown."""
    if budget is None:
        return 25
    return min(100, max(6, budget // 4))


class RegularizedEvolution(Strategy):
    """Asynchronous regularized evolution (Real et al., AAAI 2019).

    The first ``population_size`` asks are uniformly random genomes. After that each ask
    runs a tournament: ``sample_size`` members drawn without replacement from the population,
    the fittest is the parent, and a mutation changes ``mutation`` of its decisions (a
    LayerChoice moves to another candidate; an InputChoice gains or loses an input, or swaps one
    when ``n_chosen`` is fixed; a numeric value choice, a width or a depth, moves to a
    neighbouring value with probability 3/4, else to any other; only decisions that shape the
    parent's model change, see :meth:`~raynas.strategies.encoding.Encoding.mutate`). Each result joins the population when it is told and the oldest
    member dies, so any number of asks may be outstanding and results may arrive in any order:
    there is no generation barrier.

    With ``model="ridge"`` (default) each ask screens ``candidates`` mutants of the parent plus
    ``random_candidates`` random genomes with a Bayesian ridge model of the history (one-hot
    features, rank-normalized results, see :class:`~raynas.strategies.surrogate.RankRidge`) and
    proposes the best under one Thompson draw of the model; ``last_parent`` is ``None`` when a
    random candidate wins. ``model=None`` proposes the mutant itself: with
    ``population_size=10, sample_size=3, mutation=1, model=None, dedup=False`` this is the
    textbook algorithm.

    Cost: an ask+tell does not grow with the history. The model refits after every result up
    to 256 results, then each time the results have grown by 2% (see
    :class:`~raynas.strategies.surrogate.RankRidge`); ``python -m raynas.bench.ask_tell``
    measures it with 200 to 10,000 results told.

    Defaults scale with ``budget`` (the number of trials the run will make):
    ``population_size = clip(budget // 4, 6, 100)`` (25 without a budget) and
    ``sample_size = max(2, population_size // 2)``.

    Failures: ``on_failure="ignore"`` leaves failed trials out of the population and the model;
    ``"worst"`` adds them as the worst result (they age out like any member). While the
    population is empty (early trials failed or still running) asks are random genomes.

    Multi-fidelity (results told with ``fidelity``, the epochs a trial trained before an
    early-stopping scheduler stopped it): the tournament and the model order results by
    :func:`~raynas.strategies.base.fidelity_key`, the rung a trial reached first and its value
    within that rung second. A trial ASHA stopped after one epoch thus never beats one that
    trained to the full budget (which beat its rung's cut at every rung), and two trials
    stopped at the same rung compare by their accuracy there. Without a scheduler every result
    has the same fidelity and this is the plain order by value.

    Dedup (default): a genome is never proposed twice. When every mutant screened was seen
    already the ask falls back to an unseen random genome (``last_parent`` ``None``); when the
    whole space was proposed, ``ask()`` returns ``None`` while results are pending and then
    raises :class:`~raynas.strategies.SpaceExhausted`. Without dedup and with a model, the model
    may re-propose the genomes it rates best.

    Several ``objectives`` (e.g. ``{"accuracy": "max", "params": "min"}``): the same aging
    population and asynchrony, with two changes.

    * Selection: the tournament winner is the member of lowest Pareto rank within the living
      population (non-dominated sorting), ties broken by the larger crowding distance (Deb et
      al., NSGA-II, IEEE TEVC 2002); this is the aging multi-objective evolution of Syne Tune's
      MO-REA, with rank and crowding in place of the single fitness.
    * Screening (``model="ridge"``): one rank-ridge model per objective; each ask draws one
      Thompson sample of every model and proposes the candidate (mutants of the parent plus
      random genomes) whose sampled objective vector adds the most hypervolume to the
      non-dominated set of every result so far, computed on the models' rank scores with a
      reference point one unit beyond the worst result (TSEMO: Bradford, Schweidtmann &
      Lapkin, J. Glob. Optim. 2018; hypervolume improvement: Emmerich et al. 2006). When no
      candidate is predicted to improve the front, the one closest to it wins (the smallest
      shift that would make it non-dominated). Objectives are ordered by priority only for
      ``best()``; the search treats them alike. With ``model=None`` the mutant is proposed
      unscreened: with ``population_size=10, sample_size=3`` this is the textbook
      multi-objective evolution.
    """

    name = "evolution"

    def __init__(self, space: SearchSpace, population_size: int | None = None,
                 sample_size: int | None = None, mutation: int = 1, seed: SeedLike = None,
                 dedup: bool = True, on_failure: str = "ignore", mode: str | None = None,
                 budget: int | None = None, model: str | None = "ridge", candidates: int = 20,
                 random_candidates: int = 100, objectives: Mapping[str, str] | None = None):
        super().__init__(space, seed=seed, mode=mode, budget=budget, dedup=dedup,
                         objectives=objectives)
        if population_size is None:
            population_size = default_population_size(self.budget)
        _check_int("population_size", population_size, 1, "e.g. population_size=20")
        if sample_size is None:
            sample_size = min(population_size, max(2, population_size // 2))
        _check_int("sample_size", sample_size, 1, "e.g. sample_size=population_size // 2")
        if sample_size > population_size:
            raise ValueError(
                f"sample_size must be <= population_size, got sample_size={sample_size}, "
                f"population_size={population_size}; lower sample_size or raise population_size")
        _check_int("mutation", mutation, 1, "mutation is the number of decisions a mutation "
                   "changes, e.g. mutation=1")
        if on_failure not in ON_FAILURE:
            raise ValueError(f"on_failure must be 'ignore' or 'worst', got {on_failure!r}; "
                             f"'ignore' drops failed trials, 'worst' ranks them last")
        if model not in MODELS:
            raise ValueError(f"model must be 'ridge' or None, got {model!r}; None proposes "
                             f"mutants unscreened (the textbook algorithm)")
        _check_int("candidates", candidates, 1, "e.g. candidates=20")
        _check_int("random_candidates", random_candidates, 0, "e.g. random_candidates=100")
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.mutation = int(mutation)
        self.on_failure = on_failure
        self.model = model
        self.candidates = int(candidates)
        self.random_candidates = int(random_candidates)
        self._reset()

    def config(self) -> dict[str, Any]:
        return {**super().config(), "population_size": self.population_size,
                "sample_size": self.sample_size, "mutation": self.mutation,
                "on_failure": self.on_failure, "model": self.model,
                "candidates": self.candidates, "random_candidates": self.random_candidates}

    def _reset(self) -> None:
        if not hasattr(self, "population_size"):
            return  # Strategy.__init__ runs before the settings exist
        # members: (code, signed score, fidelity); the score is a tuple with several objectives
        self._population: deque[tuple[np.ndarray, Any, int | None]] = deque(
            maxlen=self.population_size)
        self._surrogate = (RankRidge(self._enc.n_features) if self.model == "ridge" else None)
        self._surrogates = ([RankRidge(self._enc.n_features) for _ in range(self.n_objectives)]
                            if self.model == "ridge" and self.n_objectives > 1 else [])
        # MO selection keys of the population, cached until it changes: Pareto ranks, peeled
        # only as deep as a tournament needs, and the crowding distance of a rank, computed
        # only when a tournament ties on that rank
        self._ranks: RankPeeling | None = None
        self._crowding: dict[int, np.ndarray] = {}
        # the population's objective values to minimise (failures: the largest float) with
        # their dominance matrix, and fidelity (full: inf), one per member in the same order
        self._members = SlidingDominance(self.population_size, self.n_objectives)
        self._levels = np.zeros(0)
        # non-dominated results so far (indices into the models' observations, signed values):
        # dominance is invariant under the models' monotone rank transform
        self._front_index = np.zeros(0, dtype=np.int64)
        self._front_values = np.zeros((0, self.n_objectives))
        self._n_observed = 0
        # the front's rows on the models' scales while the models lag (NaN: not scored yet),
        # valid for one fit of every model (the key), so a new front point costs one row
        self._front_scaled = np.zeros((0, self.n_objectives))
        self._front_scaled_fits: tuple = ()

    @property
    def population(self) -> list[tuple[dict, Any]]:
        """The living members ``(genome, signed score)``, oldest first (higher is better; a
        tuple in ``metrics`` order with several objectives)."""
        return [(self._enc.decode(code), score) for code, score, _ in self._population]

    def _observe(self, code: tuple[int, ...], score: Any, fidelity: int | None = None) -> None:
        if score is None:
            if self.on_failure == "ignore":
                return
            score = -np.inf if self.n_objectives == 1 else (-np.inf,) * self.n_objectives
        row = np.array(code, dtype=np.int64)
        self._population.append((row, score, fidelity))
        if self.n_objectives > 1:
            self._ranks = None
            self._crowding = {}
            values = -np.array(score, dtype=float)
            finite = all(map(math.isfinite, score))
            if not finite:
                values[~np.isfinite(values)] = np.finfo(float).max  # failures: worst
            self._members.append(values)
            start = len(self._levels) + 1 - len(self._members.points)
            self._levels = np.append(self._levels[start:],
                                     np.inf if fidelity is None else float(fidelity))
            if self._surrogates:
                x = self._enc.features(row[None, :])[0]
                for model, value in zip(self._surrogates, score):
                    model.add(x, value)
                self._update_front(score, finite)
            return
        if self._surrogate is not None:
            self._surrogate.add(self._enc.features(row[None, :])[0],
                                model_target(score, fidelity))

    def _tournament(self) -> np.ndarray:
        n = len(self._population)
        k = min(self.sample_size, n)
        if k == n:
            picked = range(n)
        else:
            picked = np.argpartition(self._rng.random(n), k - 1)[:k].tolist()
        if self.n_objectives > 1:
            return self._population[self._tournament_winner(np.asarray(picked))][0]
        best, best_key = None, None
        for i in picked:
            code, score, fidelity = self._population[i]
            key = fidelity_key(score, fidelity)
            if best_key is None or key > best_key:
                best, best_key = code, key
        return best  # type: ignore[return-value]

    def _tournament_winner(self, picked: np.ndarray) -> int:
        """The picked member first in (fidelity reached, Pareto rank, -crowding distance, age)
        order; the crowding distance (within the member's rank, over the whole population) is
        computed only when the highest fidelity and the best rank leave a tie."""
        if self._ranks is None:
            self._ranks = RankPeeling(dominance=self._members.matrix,
                                      counts=self._members.counts)
        peeling, level = self._ranks, self._levels[picked]
        # the highest fidelity first (as fidelity_key orders single-objective results), then
        # the best rank: peel until one of the members at that fidelity has its rank
        contenders = picked[level == level.max()]
        ranks = peeling.ranks
        while (ranks[contenders] < 0).all() and peeling.peel():
            pass
        ranked = ranks[contenders]
        rank = int(ranked[ranked >= 0].min())
        tied = contenders[ranked == rank]
        if len(tied) == 1:
            return int(tied[0])
        if rank not in self._crowding:
            members = np.flatnonzero(ranks == rank)
            crowding = np.zeros(len(ranks))
            crowding[members] = crowding_distance_one_rank(self._members.points[members])
            self._crowding[rank] = crowding
        crowding = self._crowding[rank][tied]
        return int(tied[crowding == crowding.max()].min())  # the oldest of the most isolated

    def _update_front(self, score: tuple[float, ...], finite: bool) -> None:
        """Count the result told and, if ``finite``, add it to the non-dominated set."""
        index = self._n_observed
        self._n_observed += 1
        if not finite:
            return
        front = self._front_values
        below, above = compare_to_rows(np.array(score, dtype=float), front)  # to maximise
        if below.any():
            return  # a front point dominates it
        if above.any():
            keep = ~above
            front, self._front_index = front[keep], self._front_index[keep]
            self._front_scaled = self._front_scaled[keep]
        self._front_index = np.append(self._front_index, index)
        self._front_values = np.concatenate([front, [score]])
        self._front_scaled = np.concatenate([self._front_scaled,
                                             np.full((1, self.n_objectives), np.nan)])

    def _front_on_model_scale(self) -> np.ndarray:
        """The non-dominated results on the models' rank scales, negated (to minimise)."""
        models = self._surrogates
        if all(m.current for m in models):
            return -np.column_stack([m.targets()[self._front_index] for m in models])
        # a long run: the models lag the newest results a little (see RankRidge)
        return -self._front_scores(tuple(m.fitted for m in models))

    def _front_scores(self, fits: tuple) -> np.ndarray:
        """The front's values on the lagging models' rank scales, one row per front point;
        rows already scored under the same fits are reused (a score depends only on the value
        and the fit)."""
        scaled = self._front_scaled
        if fits != self._front_scaled_fits:
            scaled[:] = np.nan
            self._front_scaled_fits = fits
        missing = np.flatnonzero(np.isnan(scaled[:, 0]))
        if len(missing):
            values = self._front_values[missing]
            for j, model in enumerate(self._surrogates):
                scaled[missing, j] = model.scores(values[:, j])
        return scaled

    def _screen(self, pool: np.ndarray) -> int:
        """Index of the pool row with the largest sampled hypervolume improvement."""
        rng = self._rng
        features = self._enc.features(pool)
        predicted = np.column_stack([features @ m.sample_weights(rng) for m in self._surrogates])
        if not len(self._front_index):
            return int(np.argmax(predicted.sum(axis=1)))
        front = self._front_on_model_scale()
        models = self._surrogates
        candidates = -predicted
        reference = -np.array([m.lowest_target() for m in models]) + 1.0
        best, gain = best_improvement(front, candidates, reference, front_is_non_dominated=True)
        if gain > 0:
            return best
        # no predicted improvement: the smallest uniform shift that makes a candidate
        # non-dominated (additive epsilon indicator against the front)
        candidate_axes, front_axes = candidates.T.copy(), front.T.copy()  # per objective
        shift = np.subtract.outer(candidate_axes[0], front_axes[0])        # (c, n)
        difference = np.empty_like(shift)
        for j in range(1, len(front_axes)):
            np.minimum(shift, np.subtract.outer(candidate_axes[j], front_axes[j],
                                                out=difference), out=shift)
        shift = shift.max(axis=1)
        return int(np.argmin(shift))

    def _propose(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.n_asked < self.population_size or not self._population:
            return self._fresh(), None
        parent = self._tournament()
        enc, rng = self._enc, self._rng
        if self.model is None:
            for n in (1, self.candidates):
                mutants = enc.mutate(rng, parent, n, self.mutation)
                if not self.dedup:
                    return mutants[0], parent
                for code, key in zip(mutants, enc.keys_of(mutants)):
                    if key not in self._seen:
                        return code, parent
            return self._fresh(), None
        pool = enc.mutate(rng, parent, self.candidates, self.mutation)
        if self.random_candidates:
            pool = np.concatenate([pool, enc.sample(rng, self.random_candidates)])
        is_mutant = np.arange(len(pool)) < self.candidates
        if self.dedup:
            keep = np.array([key not in self._seen for key in enc.keys_of(pool)])
            if not keep.any():
                return self._fresh(), None
            pool, is_mutant = pool[keep], is_mutant[keep]
        if self.n_objectives > 1:
            best = self._screen(pool)
            return pool[best], (parent if is_mutant[best] else None)
        weights = self._surrogate.sample_weights(rng)
        best = int(np.argmax(enc.features(pool) @ weights))
        return pool[best], (parent if is_mutant[best] else None)


def model_target(score: float, fidelity: int | None) -> float:
    """One number in :func:`~raynas.strategies.base.fidelity_key` order, for the rank model:
    the fidelity (full: 1e6) times 4 plus the score squashed into (-1, 1)."""
    level = 1e6 if fidelity is None else float(fidelity)
    return 4.0 * level + 2.0 / math.pi * math.atan(score)


def _check_int(name: str, value: Any, low: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}; {hint}")
