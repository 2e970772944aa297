"""What a finished (or interrupted) run reports: counts and the best row."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raynas.results.objectives import (DEFAULT_OBJECTIVES, best_by_objectives, front_lines,
                                      objective_front)
from raynas.results.store import counts, ranked, read_trials


@dataclass
class RunSummary:
    out: Path
    total: int
    counts: dict[str, int]
    best: dict[str, Any] | None
    exhausted: bool = False  # every genome of the space was proposed
    reevaluated: int = 0     # trials that then trained known genomes again
    objectives: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_OBJECTIVES))
    front: Any = None        # the non-dominated completed rows (several objectives), best first

    def front_lines(self, limit: int = 8) -> list[str]:
        """A few lines: the Pareto front by the run's objectives (empty with one objective)."""
        if len(self.objectives) < 2 or self.front is None:
            return []
        return front_lines(self.front, self.objectives, limit)

    @property
    def interrupted(self) -> bool:
        """The run stopped before its trials were done (Ctrl-C): ``--resume`` continues it."""
        return sum(self.counts.values()) < self.total


def summarize(out: Path, total: int, objectives: dict[str, str] | None = None) -> RunSummary:
    """The summary of the rows in ``out`` for a run of ``total`` trials; the best row is the
    best by the first objective (accuracy: :func:`ranked`'s order)."""
    objectives = dict(objectives or DEFAULT_OBJECTIVES)
    rows = read_trials(out)
    several = len(objectives) > 1
    best = best_by_objectives(rows, objectives) if objectives != DEFAULT_OBJECTIVES else \
        ranked(rows)
    return RunSummary(out=out, total=total, counts=counts(rows),
                      best=best.iloc[0].to_dict() if len(best) else None, objectives=objectives,
                      front=objective_front(rows, objectives) if several else None)
