"""``raynas bench-results``: the results layer at scale, measured without running a trial.

It writes a realistic run folder of ``--rows`` trials through the real
:class:`~raynas.results.store.ResultsWriter`, one ``add`` per finished trial as the driver's
recorder does (rows of a real space's keys made by ``make_row``; completed, stopped, failed
and rejected rows; accuracy curves, parameters, FLOPs, latency, parents, timestamps), with
the writer's normal flush policy run on a simulated clock (``--trials-per-second``: the run
it stands for lasts ``rows / trials_per_second`` seconds). Then it times what reads the
folder: ``read_trials``, the strategy's replay input (``objectives.history``), opening a
writer again as ``--resume`` does (recovery), ``raynas report`` (every plot) and ``raynas
export``, and counts the run folder's files.

``python -m raynas.bench.results_scale --rows 10000`` (or ``raynas bench-results``).
"""

from __future__ import annotations

import heapq
import json
import math
import os
import time
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

STATUS_SHARES = {"completed": 0.80, "stopped": 0.08, "failed": 0.07, "rejected": 0.05}
FULL_EPOCHS = 12
RANDOM_START = 64  # the first trials are random genomes, later ones mutate a parent


@dataclass
class SimulatedClock:
    """A clock the writer reads; the synthesizer moves it to each trial's finish."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class WriteFigures:
    """What writing the rows cost."""

    rows: int
    write_s: float
    add_ms_first: float   # mean add() of the first 10% of rows
    add_ms_last: float    # mean add() of the last 10% of rows
    add_ms_max: float
    simulated_hours: float
    parts_peak: int       # most part files seen while the rows were written
    read_running_s: float  # read_trials just before the writer closes (``report --watch``)


@dataclass
class ScaleFigures:
    """One benchmark's figures (seconds unless named otherwise)."""

    rows: int
    parts: int
    journal_files: int
    files: int
    write_s: float
    add_ms_first: float
    add_ms_last: float
    add_ms_max: float
    simulated_hours: float
    parts_peak: int
    read_running_s: float
    read_trials_s: float
    history_s: float
    resume_open_s: float
    report_s: float
    export_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _space(name: str) -> Any:
    import raynas.spaces
    from raynas.core.space import SearchSpace

    return SearchSpace.from_model(raynas.spaces.get(name)())


def _proposals(space: Any, rows: int, rng: np.random.Generator) -> list[tuple[dict, int | None]]:
    """``(genome, parent index or None)`` per proposal: random first, then one-key mutations
    of a parent drawn among the last 100 proposals (as a regularized evolution does)."""
    keys = space.keys
    choices = {key: list(space[key].decisions()) for key in keys}
    out: list[tuple[dict, int | None]] = []
    for i in range(rows):
        if i < RANDOM_START:
            genome = {k: choices[k][rng.integers(len(choices[k]))] for k in keys}
            out.append((genome, None))
            continue
        parent = int(rng.integers(max(0, i - 100), i))
        genome = dict(out[parent][0])
        key = keys[rng.integers(len(keys))]
        genome[key] = choices[key][rng.integers(len(choices[key]))]
        out.append((genome, parent))
    return out


def _quality(genome: dict) -> float:
    """A genome's deterministic 'true' accuracy in [0.55, 0.95]."""
    return 0.55 + 0.4 * ((_digest(genome) % 10_007) / 10_007)


def _digest(genome: dict) -> int:
    """A stable number of a genome (the same in every process)."""
    return zlib.crc32(json.dumps(genome, sort_keys=True).encode())


def _row_values(i: int, status: str, genome: dict, keys: list[str], rng: np.random.Generator,
                parent_id: str | None, started: datetime, finished: datetime) -> dict[str, Any]:
    params = 20_000 + (_digest(genome) * 7 % 400_000)
    values: dict[str, Any] = {
        "order": i + 1, "status": status, "parent_trial_id": parent_id, "params": params,
        "flops": params * 180, "latency_ms": 0.2 + params / 1e6,
        "latency_batch_ms": 1.5 + params / 2e5, "started_at": started, "finished_at": finished,
        "strategy": "evolution", "seed": 0}
    if status == "rejected":
        return {**values, "error": f"params {params} > --max-params 400000", "latency_ms": None,
                "latency_batch_ms": None}
    values.update(node=f"node{i % 4}", node_ip=f"10.0.0.{i % 4 + 1}", gpu_ids=str(i % 4))
    if status == "failed":
        return {**values, "error": "RuntimeError: CUDA out of memory (simulated)"}
    epochs = FULL_EPOCHS if status == "completed" else int(rng.integers(1, FULL_EPOCHS))
    final = min(0.99, max(0.05, _quality(genome) + rng.normal(0, 0.01)))
    curve = [round(final * (1 - 0.6 * math.exp(-e / 3)), 5) for e in range(1, epochs + 1)]
    return {**values, "accuracy": curve[-1], "loss": round(2.3 * (1 - curve[-1]), 5),
            "epochs": epochs, "accuracy_curve": json.dumps(curve),
            "train_seconds": (finished - started).total_seconds(),
            "samples_per_second": 2_000.0 + 10 * (i % 50)}


def synthesize_run(out: Path, rows: int, space_name: str = "nasbench201-small", seed: int = 0,
                   trials_per_second: float = 1.0, concurrency: int = 4,
                   flush_interval: float = 1.0, max_parts: int = 16) -> WriteFigures:
    """Write a run folder of ``rows`` trials through :class:`ResultsWriter` (see the module
    docstring); the rows reach the writer in finishing order, each ``add`` timed."""
    from raynas.results.store import ResultsWriter, make_row, read_trials, write_run_info

    space = _space(space_name)
    keys = space.keys
    rng = np.random.default_rng(seed)
    write_run_info(out, {
        "settings": {"space": space_name, "dataset": "synthetic", "strategy": "evolution",
                     "trials": rows, "epochs": FULL_EPOCHS, "seed": seed},
        "space": space.to_dict(), "input_shape": [1, 16, 16], "num_classes": 10})
    events = _schedule(_proposals(space, rows, rng), rng, trials_per_second, concurrency)
    clock = SimulatedClock()
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ids = [f"synth_{i:06d}" for i in range(rows)]
    writer = ResultsWriter(out, keys, flush_interval=flush_interval, max_parts=max_parts,
                           clock=clock)
    costs: list[float] = []
    peak = 0
    begin = time.perf_counter()
    for n, (start, finish, i, status, genome, parent) in enumerate(events):
        clock.now = finish
        trial_id = f"rejected_{i + 1:05d}_{i:06x}" if status == "rejected" else ids[i]
        values = _row_values(i, status, genome, keys, rng, None if parent is None else ids[parent],
                             t0 + timedelta(seconds=start), t0 + timedelta(seconds=finish))
        row = make_row(keys, genome, trial_id=trial_id, **values)
        tick = time.perf_counter()
        writer.add(row)
        costs.append(time.perf_counter() - tick)
        if n % 50 == 0 or n == len(events) - 1:
            peak = max(peak, _part_count(out))
    write_s = time.perf_counter() - begin
    read_running_s, _ = _timed(lambda: read_trials(out))
    writer.close()
    tenth = max(1, rows // 10)
    return WriteFigures(rows=rows, write_s=write_s,
                        add_ms_first=1e3 * float(np.mean(costs[:tenth])),
                        add_ms_last=1e3 * float(np.mean(costs[-tenth:])),
                        add_ms_max=1e3 * float(np.max(costs)),
                        simulated_hours=(events[-1][1] if events else 0.0) / 3600,
                        parts_peak=peak, read_running_s=read_running_s)


def _part_count(run_dir: Path) -> int:
    return sum(1 for name in os.listdir(run_dir / "trials") if name.startswith("part-"))


def _schedule(proposals: list[tuple[dict, int | None]], rng: np.random.Generator,
              trials_per_second: float, concurrency: int) -> list[tuple]:
    """``(start, finish, index, status, genome, parent)`` per trial, in finishing order: each
    trial waits for one of ``concurrency`` slots; a rejected one ends when proposed."""
    statuses = rng.choice(list(STATUS_SHARES), size=len(proposals), p=list(STATUS_SHARES.values()))
    mean = concurrency / trials_per_second
    slots = [0.0] * concurrency
    events = []
    for i, ((genome, parent), status) in enumerate(zip(proposals, statuses)):
        start = heapq.heappop(slots)
        if status == "rejected":
            heapq.heappush(slots, start)
            events.append((start, start, i, str(status), genome, parent))
            continue
        share = 0.5 if status != "completed" else 1.0
        finish = start + float(rng.gamma(4.0, mean * share / 4.0))
        heapq.heappush(slots, finish)
        events.append((start, finish, i, str(status), genome, parent))
    events.sort(key=lambda e: (e[1], e[2]))
    return events


def count_files(run_dir: Path) -> tuple[int, int, int]:
    """``(parts, journal files, every file)`` of a run folder (report and export excluded)."""
    from raynas.results.journal import journal_files

    parts = len(list((run_dir / "trials").glob("part-*.parquet")))
    journal = len(journal_files(run_dir))
    every = sum(1 for p in run_dir.rglob("*") if p.is_file()
                and not {"report", "export"} & set(p.relative_to(run_dir).parts))
    return parts, journal, every


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    begin = time.perf_counter()
    value = action()
    return time.perf_counter() - begin, value


def measure_reads(run_dir: Path) -> dict[str, float]:
    """Seconds of ``read_trials``, ``history``, a resumed writer's open, report and export."""
    from raynas.analysis.export import export_run
    from raynas.analysis.report import build_report
    from raynas.results.objectives import history, run_objectives
    from raynas.results.run_dir import RunDir
    from raynas.results.store import ResultsWriter, read_trials

    read_s, frame = _timed(lambda: read_trials(run_dir))
    objectives = run_objectives(RunDir(run_dir).read_info())
    history_s, _ = _timed(lambda: list(history(frame, objectives)))
    keys = [c[len("arch."):] for c in frame.columns if c.startswith("arch.")]
    resume_s, writer = _timed(lambda: ResultsWriter(run_dir, keys, resume=True))
    writer.close()
    report_s, _ = _timed(lambda: build_report(run_dir))
    export_s, _ = _timed(lambda: export_run(run_dir, top_k=5))
    return {"read_trials_s": read_s, "history_s": history_s, "resume_open_s": resume_s,
            "report_s": report_s, "export_s": export_s}


def run_scale_bench(out: Path, rows: int, trials_per_second: float = 1.0,
                    space_name: str = "nasbench201-small", seed: int = 0,
                    reads: bool = True) -> ScaleFigures:
    """Write ``rows`` rows into ``out`` (a new folder) and time what reads them."""
    written = synthesize_run(out, rows, space_name, seed, trials_per_second)
    parts, journal, every = count_files(out)
    timings = measure_reads(out) if reads else dict.fromkeys(
        ("read_trials_s", "history_s", "resume_open_s", "report_s", "export_s"), float("nan"))
    return ScaleFigures(parts=parts, journal_files=journal, files=every, **asdict(written),
                        **timings)


def figure_lines(figures: ScaleFigures) -> list[str]:
    """The figures as printed lines."""
    f = figures
    return [f"rows {f.rows:,} (a run of {f.simulated_hours:.1f} h simulated)",
            f"files {f.files} after the run (parts {f.parts}, journal files "
            f"{f.journal_files}); parts at most {f.parts_peak} while it ran",
            f"write {f.write_s:.2f} s (add: first 10% {f.add_ms_first:.3f} ms, last 10% "
            f"{f.add_ms_last:.3f} ms, max {f.add_ms_max:.1f} ms)",
            f"read_trials {f.read_trials_s:.2f} s (before the writer closed, its parts "
            f"unmerged: {f.read_running_s:.2f} s)",
            f"history {f.history_s:.2f} s",
            f"resume open (recovery) {f.resume_open_s:.2f} s",
            f"report {f.report_s:.2f} s",
            f"export {f.export_s:.2f} s"]


def command() -> Any:
    """The click command (``raynas bench-results`` and ``python -m`` this module)."""
    import click

    @click.command("bench-results")
    @click.option("--rows", default=10_000, show_default=True, type=click.IntRange(min=1),
                  help="Trials (rows) to write.")
    @click.option("--trials-per-second", default=1.0, show_default=True,
                  type=click.FloatRange(min=1e-6),
                  help="The simulated run's pace (the writer's flush policy runs on it).")
    @click.option("--space", "space_name", default="nasbench201-small", show_default=True,
                  help="The registered space whose keys the rows have.")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="A new folder for the run (kept). [a temporary one]")
    @click.option("--no-reads", is_flag=True, help="Only write and count files.")
    @click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
                  help="Also write the figures to this JSON file.")
    def bench_results_command(rows: int, trials_per_second: float, space_name: str,
                              out: Path | None, no_reads: bool, json_out: str | None) -> None:
        """Write ROWS synthetic trials through the results writer; time reading them."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="raynas-results-scale-") as tmp:
            folder = out if out is not None else Path(tmp) / "run"
            figures = run_scale_bench(folder, rows, trials_per_second, space_name,
                                      reads=not no_reads)
        for line in figure_lines(figures):
            click.echo(line)
        if json_out:
            Path(json_out).write_text(json.dumps(figures.to_dict(), indent=2) + "\n")

    return bench_results_command


def main() -> None:
    command()()


if __name__ == "__main__":  # pragma: no cover
    main()
