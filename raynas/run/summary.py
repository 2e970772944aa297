"""What a finished (or interrupted) run reports: counts and the best row."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raynas.results.objectives import (DEFAULT_OBJECTIVES, best_by_objectives, front_lines,
                                      objective_front)
from raynas.results.store import counts, ranked_genomes, read_trials


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
    epochs_trained: int | None = None  # over every trial (stopped ones trained fewer)

    @property
    def interrupted(self) -> bool:
        """The run stopped before its trials were done (Ctrl-C): ``--resume`` continues it."""
        return sum(self.counts.values()) < self.total


def summarize(out: Path, total: int, objectives: dict[str, str] | None = None) -> RunSummary:
    """The summary of the rows in ``out`` for a run of ``total`` trials; the best row is the
    best by the first objective (accuracy alone: the best genome of
    :func:`ranked_genomes`, by mean accuracy over its trials)."""
    objectives = dict(objectives or DEFAULT_OBJECTIVES)
    rows = read_trials(out)
    several = len(objectives) > 1
    # one objective, accuracy: per genome (mean accuracy over its trials); else by objectives
    best = ranked_genomes(rows) if objectives == DEFAULT_OBJECTIVES else \
        best_by_objectives(rows, objectives)
    epochs = rows["epochs"].dropna().astype(int).sum() if "epochs" in rows else None
    return RunSummary(out=out, total=total, counts=counts(rows),
                      best=best.iloc[0].to_dict() if len(best) else None, objectives=objectives,
                      front=objective_front(rows, objectives) if several else None,
                      epochs_trained=None if epochs is None else int(epochs))
