"""What a finished (or interrupted) run reports: counts and the best row."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raynas.results.store import counts, ranked_genomes, read_trials


@dataclass
class RunSummary:
    out: Path
    total: int
    counts: dict[str, int]
    best: dict[str, Any] | None
    exhausted: bool = False  # every genome of the space was proposed
    reevaluated: int = 0     # trials that then trained known genomes again
    epochs_trained: int | None = None  # over every trial (stopped ones trained fewer)

    @property
    def interrupted(self) -> bool:
        """The run stopped before its trials were done (Ctrl-C): ``--resume`` continues it."""
        return sum(self.counts.values()) < self.total


def summarize(out: Path, total: int) -> RunSummary:
    """The summary of the rows in ``out`` for a run of ``total`` trials."""
    rows = read_trials(out)
    best = ranked_genomes(rows)  # per genome: mean accuracy over its trials
    epochs = rows["epochs"].dropna().astype(int).sum() if "epochs" in rows else None
    return RunSummary(out=out, total=total, counts=counts(rows),
                      best=best.iloc[0].to_dict() if len(best) else None,
                      epochs_trained=None if epochs is None else int(epochs))
