"""``raynas export DIR``: the best genomes of a run as architecture JSON files.

Each file is a plain genome ``{key: decision}`` written by
:func:`raynas.export_architecture`, so ``fix(model, load_architecture(path))`` builds the
model. Files are named by rank and trial: ``rank01-<trial_id>.json`` (``--top-k``, best
first by the run's first objective, accuracy by default) or ``pareto01-<trial_id>.json``
(``--pareto``: with several objectives, the trials no other dominates on the run's
objectives, best first by the first one; with one, the accuracy/parameters front, fewest
parameters first). ``manifest.csv`` beside them lists file, rank, trial id, accuracy,
params, the other objectives' metrics and the genome.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any


from raynas.core.architecture import export_architecture
from raynas.results.objectives import (DEFAULT_OBJECTIVES, best_by_objectives, objective_front,
                                      run_objectives)
from raynas.results.run_dir import RunDir
from raynas.results.store import ResultsError, pareto_front, ranked, read_trials

__all__ = ["export_run"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _file_name(prefix: str, rank: int, width: int, trial_id: str) -> str:
    return f"{prefix}{rank:0{width}d}-{_SAFE.sub('_', str(trial_id))}.json"


def export_run(run_dir: str | Path, out: str | Path | None = None, top_k: int = 5,
               pareto: bool = False) -> list[dict[str, Any]]:
    """Write the ``top_k`` best (or the Pareto front's) genomes of ``run_dir`` into ``out``.

    Returns one dict per file (``path``, ``rank``, ``trial_id``, ``accuracy``, ``params``,
    ``genome``). Earlier exported files (either kind) in ``out`` are removed first, so the
    folder and its ``manifest.csv`` hold one ranking. Raises :class:`ResultsError` for
    unreadable results and ``ValueError`` when no trial completed or ``top_k`` < 1.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"--top-k must be a positive integer, got {top_k!r}")
    run_dir = Path(run_dir)
    frame = read_trials(run_dir)
    objectives = _objectives(run_dir)
    if pareto:
        chosen = objective_front(frame, objectives) if len(objectives) > 1 else pareto_front(frame)
    elif objectives != DEFAULT_OBJECTIVES:
        chosen = best_by_objectives(frame, objectives).head(top_k)
    else:
        chosen = ranked(frame).head(top_k)
    extra = [m for m in objectives if m not in ("accuracy", "params")]
    if not len(chosen):
        statuses = ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items())
        raise ValueError(f"{run_dir}: no completed trial to export ({len(frame)} trials"
                         + (f": {statuses}" if statuses else "") + ")")
    out = Path(out) if out is not None else run_dir / "export"
    prefix = "pareto" if pareto else "rank"
    out.mkdir(parents=True, exist_ok=True)
    for kind in ("rank", "pareto"):
        for stale in out.glob(f"{kind}[0-9]*-*.json"):
            stale.unlink()
    width = max(2, len(str(len(chosen))))
    written = []
    for rank, (_, row) in enumerate(chosen.iterrows(), 1):
        genome = json.loads(row["genome"])
        path = export_architecture(genome, out / _file_name(prefix, rank, width, row["trial_id"]))
        written.append({"path": path, "rank": rank, "trial_id": row["trial_id"],
                        "accuracy": float(row["accuracy"]),
                        "params": None if row["params"] != row["params"] else int(row["params"]),
                        "genome": genome,
                        **{m: _plain(row.get(m)) for m in extra}})
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "rank", "trial_id", "accuracy", "params", *extra, "genome"])
        for item in written:
            writer.writerow([item["path"].name, item["rank"], item["trial_id"],
                             f"{item['accuracy']:.6f}", item["params"],
                             *[item[m] for m in extra],
                             json.dumps(item["genome"], sort_keys=True)])
    return written


def _objectives(run_dir: Path) -> dict[str, str]:
    """The run's recorded objectives (the default for a run without ``run.json``)."""
    try:
        return run_objectives(RunDir(run_dir).read_info())
    except ResultsError:
        return dict(DEFAULT_OBJECTIVES)


def _plain(value: Any) -> Any:
    """A cell as a plain number (``None`` for a missing one)."""
    if value is None or value != value:
        return None
    return value.item() if hasattr(value, "item") else value
