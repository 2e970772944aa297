"""``raynas bench-fidelity``: early stopping against full training, side by side.

For each seed, the same search (space, dataset, strategy, trials, epochs) runs with each
scheduler (``fifo``: every trial trains ``epochs``; ``asha`` by default) through the real
``raynas evolve`` driver on one local Ray started once. Per run it measures the epochs
trained over all trials (from the rows' ``epochs``), the wall time, and the best
full-fidelity accuracy (completed rows only); then, per scheduler against the baseline,
the epoch ratio, the accuracy gap (points) and how often the best genome is the same.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

BASELINE = "fifo"


@dataclass
class FidelityRun:
    scheduler: str
    seed: int
    epochs_trained: int
    wall_seconds: float
    best_accuracy: float | None
    best_genome: str | None
    stopped: int
    completed: int


def run_one(scheduler: str, seed: int, out: Path, scheduler_options: dict[str, Any] | None = None,
            **settings: Any) -> FidelityRun:
    """One ``raynas evolve`` run; its figures from the rows it wrote. ``scheduler_options``
    (``grace_epochs``, ``reduction_factor``) apply to every scheduler but fifo."""
    if scheduler != BASELINE:
        settings.update(scheduler_options or {})
    from raynas.results.store import Status, ranked, read_trials
    from raynas.run.driver import evolve
    from raynas.run.settings import EvolveSettings

    config = EvolveSettings(scheduler=scheduler, seed=seed, out=str(out), **settings)
    started = time.perf_counter()
    evolve(config, quiet=True)
    wall = time.perf_counter() - started
    rows = read_trials(out)
    full = ranked(rows)
    full = full[full["status"] == Status.COMPLETED]
    return FidelityRun(
        scheduler=scheduler, seed=seed, epochs_trained=int(rows["epochs"].fillna(0).sum()),
        wall_seconds=wall, best_accuracy=float(full.iloc[0]["accuracy"]) if len(full) else None,
        best_genome=full.iloc[0]["genome"] if len(full) else None,
        stopped=int((rows["status"] == Status.STOPPED).sum()),
        completed=int((rows["status"] == Status.COMPLETED).sum()))


def run_bench(schedulers: Sequence[str], seeds: Sequence[int], num_cpus: int | None = None,
              workdir: Path | None = None, progress: Any = None, **settings: Any
              ) -> list[FidelityRun]:
    """Every scheduler on every seed (alternating, so load on a shared machine hits each
    alike) on one local Ray; ``settings`` are ``EvolveSettings`` fields shared by all runs."""
    import ray

    from raynas.run.ray_session import set_tune_env

    set_tune_env()
    runs = []
    with tempfile.TemporaryDirectory(prefix="raynas-bench-fidelity-") as tmp:
        base = Path(workdir) if workdir else Path(tmp)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 log_to_driver=False, logging_level="ERROR")
        try:
            for seed in seeds:
                for scheduler in schedulers:
                    run = run_one(scheduler, seed, base / f"{scheduler}-seed{seed}", **settings)
                    runs.append(run)
                    if progress is not None:
                        progress(run)
        finally:
            ray.shutdown()
    return runs


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary_rows(runs: Sequence[FidelityRun]) -> list[dict[str, Any]]:
    """Per scheduler: medians over the seeds, and the comparison with the fifo run of the
    same seed (epoch ratio, accuracy gap in points, same best genome)."""
    base = {r.seed: r for r in runs if r.scheduler == BASELINE}
    out = []
    for scheduler in dict.fromkeys(r.scheduler for r in runs):
        mine = [r for r in runs if r.scheduler == scheduler]
        paired = [(r, base[r.seed]) for r in mine if r.seed in base]
        ratios = [r.epochs_trained / b.epochs_trained for r, b in paired if b.epochs_trained]
        gaps = [100 * (b.best_accuracy - r.best_accuracy) for r, b in paired
                if r.best_accuracy is not None and b.best_accuracy is not None]
        out.append({
            "scheduler": scheduler, "seeds": len(mine),
            "epochs": _median([r.epochs_trained for r in mine]),
            "wall_s": _median([r.wall_seconds for r in mine]),
            "best": _median([r.best_accuracy for r in mine if r.best_accuracy is not None]),
            "epoch_ratio": _median(ratios), "gap_points": _median(gaps),
            "same_best": sum(r.best_genome == b.best_genome for r, b in paired),
            "stopped": _median([r.stopped for r in mine]),
        })
    return out


def format_runs(runs: Sequence[FidelityRun]) -> str:
    """One Markdown line per run."""
    lines = ["| scheduler | seed | epochs trained | wall s | best full-fidelity acc | "
             "completed | stopped |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        best = "" if r.best_accuracy is None else f"{100 * r.best_accuracy:.2f}"
        lines.append(f"| {r.scheduler} | {r.seed} | {r.epochs_trained} | {r.wall_seconds:.1f} | "
                     f"{best} | {r.completed} | {r.stopped} |")
    return "\n".join(lines)


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """The per-scheduler medians as a Markdown table."""
    lines = ["| scheduler | epochs trained | wall s | best full-fidelity acc | epochs vs fifo | "
             "best vs fifo (points) | same best genome as fifo |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(
            f"| {row['scheduler']} | {row['epochs']:.0f} | {row['wall_s']:.1f} | "
            f"{100 * row['best']:.2f} | {row['epoch_ratio']:.0%} | {-row['gap_points']:+.2f} | "
            f"{row['same_best']} of {row['seeds']} |")
    return "\n".join(lines)
