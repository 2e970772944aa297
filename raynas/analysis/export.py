"""``raynas export DIR``: the best genomes of a run as architecture JSON files.

Each file is a plain genome ``{key: decision}`` written by
:func:`raynas.export_architecture`, so ``fix(model, load_architecture(path))`` builds the
model. Files are named by rank and trial: ``rank01-<trial_id>.json`` (``--top-k``) or
``pareto01-<trial_id>.json`` (``--pareto``). With the default objective (accuracy), genomes
are ranked by their mean accuracy over their completed trials (a genome trained again with
new seeds counts once, named by its best trial), and ``--pareto`` is the genomes'
accuracy/parameters front, fewest parameters first. With other or several objectives
(``--objective``), ``--top-k`` is best first by the run's first objective and ``--pareto``
the trials no other dominates on the run's objectives, best first by the first one; either
way a genome trained again is exported once, by its first trial in that order.
``manifest.csv`` beside them lists file, rank, trial id, (mean) accuracy, its spread and
trial count, the trial ids, params, the other objectives' metrics and the genome.

Only files raynas wrote are ever replaced: the files listed in the folder's previous
``manifest.csv``. A file of another origin is left alone, and one in the way of a file to
write is an error naming it.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any


from raynas.core.architecture import export_architecture
from raynas.core.files import check_writable
from raynas.results.objectives import (DEFAULT_OBJECTIVES, best_by_objectives, objective_front,
                                      run_objectives)
from raynas.results.run_dir import RunDir
from raynas.results.store import (ResultsError, genome_pareto_front, ranked_genomes,
                                  read_trials)

__all__ = ["export_run"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _file_name(prefix: str, rank: int, width: int, trial_id: str) -> str:
    return f"{prefix}{rank:0{width}d}-{_SAFE.sub('_', str(trial_id))}.json"


MANIFEST = "manifest.csv"
MANIFEST_HEADER = ["file", "rank", "trial_id", "accuracy", "accuracy_std", "trials",
                   "trial_ids", "params", "genome"]


def _written_before(out: Path) -> list[Path]:
    """The files an earlier export wrote into ``out`` (listed in its manifest), else none;
    ``ValueError`` when ``out`` holds a ``manifest.csv`` raynas did not write."""
    manifest = out / MANIFEST
    if not manifest.exists():
        return []
    with manifest.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:1] != ["file"]:
        raise ValueError(f"{manifest} is not a raynas export manifest; pass another --out "
                         f"(raynas replaces only files it wrote)")
    return [out / Path(row[0]).name for row in rows[1:] if row]


def export_run(run_dir: str | Path, out: str | Path | None = None, top_k: int = 5,
               pareto: bool = False) -> list[dict[str, Any]]:
    """Write the ``top_k`` best (or the Pareto front's) genomes of ``run_dir`` into ``out``.

    Returns one dict per file (``path``, ``rank``, ``trial_id`` (the genome's best trial),
    ``accuracy`` (mean over its trials), ``accuracy_std``, ``trials``, ``trial_ids``,
    ``params``, ``genome`` and the run's other objectives' metrics). The files of the previous export into ``out`` (those its
    manifest lists) are replaced, so the folder's ``manifest.csv`` holds one ranking; any
    other file is kept. Raises :class:`ResultsError` for unreadable results and
    ``ValueError`` when no trial completed, ``top_k`` < 1, or a file raynas did not write
    stands where an exported file goes.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"--top-k must be a positive integer, got {top_k!r}")
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "export"
    check_writable(out, "the export folder")
    frame = read_trials(run_dir)
    objectives = _objectives(run_dir)
    if objectives == DEFAULT_OBJECTIVES:  # per genome: mean accuracy over its trials
        chosen = genome_pareto_front(frame) if pareto else ranked_genomes(frame).head(top_k)
    elif pareto:
        chosen = objective_front(frame, objectives) if len(objectives) > 1 else \
            genome_pareto_front(frame)
    else:
        chosen = best_by_objectives(frame, objectives).head(top_k)
    extra = [m for m in objectives if m not in ("accuracy", "params")]
    if not len(chosen):
        statuses = ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items())
        raise ValueError(f"{run_dir}: no completed trial to export ({len(frame)} trials"
                         + (f": {statuses}" if statuses else "") + ")")
    prefix = "pareto" if pareto else "rank"
    width = max(2, len(str(len(chosen))))
    names = [_file_name(prefix, rank, width, row["trial_id"])
             for rank, (_, row) in enumerate(chosen.iterrows(), 1)]
    ours = set(_written_before(out))
    in_the_way = [out / name for name in names if (out / name).exists() and out / name not in ours]
    if in_the_way:
        raise ValueError(f"{in_the_way[0]} exists and was not written by an earlier raynas "
                         f"export into {out}; move it, or pass another --out")
    out.mkdir(parents=True, exist_ok=True)
    for stale in ours:
        if stale.suffix == ".json":
            stale.unlink(missing_ok=True)
    written = []
    for rank, ((_, row), name) in enumerate(zip(chosen.iterrows(), names), 1):
        genome = json.loads(row["genome"])
        path = export_architecture(genome, out / name)
        written.append({"path": path, "rank": rank, "trial_id": row["trial_id"],
                        "accuracy": float(row["accuracy"]),
                        "accuracy_std": float(row.get("accuracy_std", 0.0) or 0.0),
                        "trials": int(row.get("trials", 1) or 1),
                        "trial_ids": list(row.get("trial_ids", [row["trial_id"]])),
                        "params": None if row["params"] is None or row["params"] != row["params"]
                        else int(row["params"]),
                        "genome": genome,
                        **{m: _plain(row.get(m)) for m in extra}})
    header = MANIFEST_HEADER[:-1] + extra + MANIFEST_HEADER[-1:]
    with (out / MANIFEST).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for item in written:
            writer.writerow([item["path"].name, item["rank"], item["trial_id"],
                             f"{item['accuracy']:.6f}", f"{item['accuracy_std']:.6f}",
                             item["trials"], " ".join(map(str, item["trial_ids"])),
                             item["params"], *[item[m] for m in extra],
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
