"""The one-shot search loop: a strategy proposes, the evaluator pool scores with inherited
weights, each candidate becomes a results row with ``stage="oneshot"``.

``search_inherited(...)`` runs the same strategies as ``raynas evolve``
(``raynas.strategies.get(name)(space, seed=...)``, ask/tell) over an :class:`EvaluatorPool`.
Proposals go out in small batches, up to ``in_flight`` batches at a time, so every actor
stays busy; results are told in proposal order, so the same seed and the same supernet give
the same genomes and rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from raynas.core.space import Genome, SearchSpace
from raynas.oneshot.evaluate import EvaluatorPool
from raynas.oneshot.settings import INHERITED_METRICS
from raynas.results.objectives import DEFAULT_OBJECTIVES, objective_value
from raynas.results.store import make_row

__all__ = ["SearchResult", "search_inherited"]

RowCallback = Callable[[dict[str, Any]], None]


@dataclass
class SearchResult:
    """The candidates' rows (proposal order), the best one (by the first objective, then the
    lowest inherited loss, then the earliest), and the throughput."""

    rows: list[dict[str, Any]]
    seconds: float
    exhausted: bool = False
    best: dict[str, Any] | None = field(default=None)
    cpu_seconds: float = 0.0  # the actors' CPU time over all candidates

    @property
    def cpu_seconds_per_candidate(self) -> float:
        return self.cpu_seconds / len(self.rows) if self.rows else 0.0

    @property
    def candidates_per_second(self) -> float:
        return len(self.rows) / self.seconds if self.seconds > 0 else 0.0


def search_inherited(space: SearchSpace, pool: EvaluatorPool, *, candidates: int,
                     strategy: str = "evolution", seed: int = 0,
                     strategy_options: Mapping[str, Any] | None = None,
                     batch_size: int = 4, in_flight: int | None = None,
                     on_row: RowCallback | None = None, epochs: int | None = None,
                     first_order: int = 1,
                     history: Iterable[tuple[Any, ...]] | None = None,
                     known_trials: Mapping[str, str] | None = None,
                     objectives: Mapping[str, str] | None = None) -> SearchResult:
    """Evaluate ``candidates`` genomes proposed by ``strategy`` over ``pool``.

    Each candidate is a row (:func:`raynas.results.store.make_row`) with ``trial_id``
    ``oneshot_<order>``, ``stage="oneshot"``, ``accuracy``/``loss`` with inherited weights,
    ``params``, ``parent_trial_id`` (the candidate it was mutated from), ``epochs`` (the
    supernet's, when given), the actor's node and the run's ``strategy`` and ``seed``; a
    candidate whose evaluation fails is a ``failed`` row with its error (told as a failure).
    ``objectives`` (metric -> ``"max"``/``"min"``, among
    :data:`~raynas.oneshot.settings.INHERITED_METRICS`; default accuracy) are what the
    strategy is told.
    To continue a search (``--resume``): ``history`` is the earlier candidates' ``(genome,
    told value or None)`` pairs in proposal order, replayed into the strategy before it asks;
    ``known_trials`` maps their genome ids to trial ids (parent lineage); ``first_order``
    the next order.
    ``on_row(row)`` is called as each row is made (e.g. ``ResultsWriter.add``). A space
    smaller than ``candidates`` ends when the strategy has proposed every genome.
    """
    import raynas.strategies
    from raynas.strategies import SpaceExhausted

    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
        raise ValueError(f"candidates must be a positive int, got {candidates!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    objectives = dict(objectives or DEFAULT_OBJECTIVES)
    unmeasured = [metric for metric in objectives if metric not in INHERITED_METRICS]
    if unmeasured:
        raise ValueError(f"objective {unmeasured[0]!r} is not measured with inherited weights; "
                         f"the one-shot search can optimise {', '.join(INHERITED_METRICS)}")
    options = dict(strategy_options or {})
    options.setdefault("budget", candidates)
    if objectives != DEFAULT_OBJECTIVES:
        options["objectives"] = objectives
    proposer = raynas.strategies.get(strategy)(space, seed=seed, **options)
    if history is not None:  # told as live results are: no fidelity (one supernet for all)
        proposer.replay([(genome, value) for genome, value, *_ in history])
    in_flight = in_flight if in_flight is not None else 2 * len(pool.actors)
    trial_of: dict[str, str] = dict(known_trials or {})  # genome id -> latest trial id
    pending: list[list[tuple[int, Genome, str | None]]] = []
    rows: list[dict[str, Any]] = []
    cpu_seconds = 0.0
    order = first_order
    end = first_order + candidates
    exhausted = False
    started = time.perf_counter()

    def propose() -> None:
        nonlocal order, exhausted
        while not exhausted and order < end and len(pending) < in_flight:
            batch: list[tuple[int, Genome, str | None]] = []
            while order < end and len(batch) < batch_size:
                try:
                    genome = proposer.ask()
                except SpaceExhausted:
                    exhausted = True
                    break
                if genome is None:  # the strategy waits for results
                    break
                parent = proposer.last_parent
                parent_id = trial_of.get(SearchSpace.genome_id(parent)) if parent else None
                batch.append((order, genome, parent_id))
                trial_of[SearchSpace.genome_id(genome)] = f"oneshot_{order:05d}"
                order += 1
            if not batch:
                return
            pool.submit([genome for _, genome, _ in batch])
            pending.append(batch)

    propose()
    while pending:
        batch = pending.pop(0)
        results = pool.next()
        for (n, genome, parent_id), result in zip(batch, results):
            error = result.get("error")
            cpu_seconds += float(result.get("cpu_seconds") or 0.0)
            row = make_row(
                space.keys, genome, trial_id=f"oneshot_{n:05d}", order=n,
                status="failed" if error else "completed", stage="oneshot",
                parent_trial_id=parent_id,
                accuracy=None if error else result["accuracy"],
                loss=None if error else result["loss"], params=result.get("params"),
                epochs=epochs, node=result.get("node"), node_ip=result.get("node_ip"),
                started_at=result.get("started_at"), finished_at=result.get("finished_at"),
                error=error, strategy=strategy, seed=seed)
            proposer.tell(genome, None if error else objective_value(row, objectives))
            rows.append(row)
            if on_row is not None:
                on_row(row)
        propose()
    seconds = time.perf_counter() - started
    done = [r for r in rows if r["status"] == "completed"]
    first, direction = next(iter(objectives.items()))
    sign = 1.0 if direction == "max" else -1.0
    best = max(done, key=lambda r: (sign * r[first], -r["loss"], -r["order"])) if done else None
    return SearchResult(rows=rows, seconds=seconds, exhausted=exhausted, best=best,
                        cpu_seconds=cpu_seconds)
