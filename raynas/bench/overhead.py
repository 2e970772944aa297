"""``raynas bench-overhead``: what the platform adds to each trial, measured in one process.

1. The scale run: ``raynas evolve`` of ``--trials`` trials of the trivial :class:`TinyNet`
   space (each trial: strategy, Tune trial, fixing and training a real model for one batch,
   a Parquet row), with the driver's RSS sampled every ``every`` trials, the files in the
   run folder, and trials/s over each block of trials.
2. The ratios, for trials that train one batch and for trials that train one full epoch of
   digits: ``raynas evolve`` against plain Ray Tune running the same training (the same
   fixed TinyNet, a plain PyTorch loop in a function trainable) tuned (``reuse_actors``,
   auto loggers off, rare experiment snapshots) with all its trials known up front (Tune's
   basic variant generator) and with a search algorithm that proposes each trial on demand
   once a slot is free (what any adaptive search, raynas' too, makes Tune do: a ``Trial`` is
   created on the critical path), alternating with raynas; and with Tune's defaults (a new
   worker per trial, loggers on). Steady-state trials/s come from the trials' finish times
   after the first quarter; a ratio is the median of the per-round ratios (the runs of a
   round are seconds apart, and this machine's speed drifts by tens of percent over minutes).
   Each run's CPU is read by role (the driver, the trials' workers, the rest of Ray; see
   :mod:`raynas.bench.cpu_usage`), per trial, with the cores busy on average: a run that
   leaves cores idle waits on round trips, not on CPU.
3. Training throughput: the mnist space's fixed model in a raynas trial against the same
   training in a plain PyTorch loop run as a Ray task with one CPU (the same kind of process
   as a trial), alternating, median of the per-pair ratios; the plain loop in the driver
   process is shown beside it.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
from ray.tune.search import Searcher

from raynas.bench.cpu_usage import ROLES, CpuReading
from raynas.core.mutables import LayerChoice


class TinyNet(nn.Module):
    """A trivially small space on 8x8 digits (2**8 = 256 genomes), for measuring overhead."""

    input_shape = (1, 8, 8)
    num_classes = 10

    def __init__(self) -> None:
        super().__init__()
        self.acts = nn.ModuleList(LayerChoice([nn.Identity(), nn.ReLU()]) for _ in range(8))
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for act in self.acts:
            x = act(x)
        return self.head(x)


def steady_rate(finish_times: list[float]) -> float:
    """Trials per second between the first-quarter mark and the last finish."""
    times = sorted(finish_times)
    start = len(times) // 4
    span = times[-1] - times[start]
    return (len(times) - 1 - start) / span if span > 0 else float("inf")


def block_rates(finish_times: list[float], block: int) -> list[float]:
    """Trials/s over each ``block`` consecutive finishes (the first block from the first
    finish: ``block - 1`` intervals); a last partial block is left out."""
    times = sorted(finish_times)
    rates = []
    for end in range(block, len(times) + 1, block):
        first = max(0, end - block - 1)
        intervals = end - 1 - first
        span = times[end - 1] - times[first]
        rates.append(intervals / span if span > 0 else float("inf"))
    return rates


def rss_mb() -> float:
    """This process's resident set size in MB (``VmRSS`` of ``/proc/self/status``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def count_files(folder: Path) -> int:
    """Files under ``folder`` (0 while it does not exist)."""
    return sum(len(files) for _, _, files in os.walk(folder))


class Sampler:
    """A thread sampling ``(time, RSS MB, files in folder)`` every ``period`` seconds."""

    def __init__(self, folder: Path, period: float = 0.2):
        self.folder, self.period = folder, period
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), rss_mb(), count_files(self.folder)))
            self._stop.wait(self.period)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.time(), rss_mb(), count_files(self.folder)))


@dataclass
class ScaleRow:
    """The scale run after ``trials`` finished: the driver's RSS, the run folder's files and
    trials/s over the last block (``None`` between block ends)."""

    trials: int
    rss_mb: float
    files: int
    rate: float | None


def scale_rows(finish_times: list[float], samples: list[tuple[float, float, int]],
               every: int, block: int) -> list[ScaleRow]:
    """One row per ``every`` finished trials: the first sample taken at or after that
    trial's finish (RSS, files) and, at each ``block`` end, the block's trials/s."""
    times = sorted(finish_times)
    rates = block_rates(times, block)
    rows = []
    for done in range(every, len(times) + 1, every):
        at = times[done - 1]
        sample = next((s for s in samples if s[0] >= at), samples[-1])
        rate = rates[done // block - 1] if done % block == 0 and done // block <= len(rates) \
            else None
        rows.append(ScaleRow(done, sample[1], sample[2], rate))
    return rows


def _digits(max_batches: int | None) -> Any:
    """The digits data of the bench's trials: 64 images for one-batch trials, all of it
    for full-epoch ones."""
    from raynas import datasets

    return datasets.load("digits", input_shape=TinyNet.input_shape,
                         limit=64 if max_batches == 1 else None)


def _plain_trial(config: dict[str, Any], data: Any, max_batches: int | None) -> None:
    """Plain Tune's trial: TinyNet fixed to a genome, trained by a plain PyTorch loop
    (``max_batches`` batches of 32, None: one epoch), reporting its accuracy."""
    from ray import tune

    from raynas.core.fixing import fix

    torch.set_num_threads(1)
    torch.manual_seed(config["seed"])
    genome = {f"acts.{i}": str((config["seed"] >> i) & 1) for i in range(8)}
    model = fix(TinyNet(), genome)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data.normalize(data.train_x), data.train_y
    order = torch.randperm(len(y))
    starts = list(range(0, len(y), 32))[:max_batches]
    for start in starts:
        idx = order[start:start + 32]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model(data.normalize(data.valid_x)).argmax(1) == data.valid_y).float().mean()
    tune.report({"accuracy": float(accuracy), "finished": time.time()})


class SeedSearcher(Searcher):
    """A Tune search algorithm proposing ``{"seed": i}`` on demand, ``trials`` times."""

    def __init__(self, trials: int) -> None:
        super().__init__(metric="accuracy", mode="max")
        self.trials, self.proposed = trials, 0

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.proposed >= self.trials:
            return Searcher.FINISHED
        self.proposed += 1
        return {"seed": self.proposed % 256}

    def on_trial_complete(self, trial_id: str, result: Any = None, error: bool = False) -> None:
        """Nothing to learn."""


def _plain_tune(trials: int, tuned: bool, cpus: float, max_batches: int | None = 1,
                on_demand: bool = False) -> float:
    """Steady trials/s of plain Tune; ``on_demand``: trials come from a search algorithm,
    one per free slot, instead of all up front."""
    import math

    import ray
    from ray import tune

    saved = {k: os.environ.get(k) for k in ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS",
                                            "TUNE_GLOBAL_CHECKPOINT_S")}
    for key in saved:
        os.environ.pop(key, None)
    if tuned:
        os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
        os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = "3600"
    try:
        with tempfile.TemporaryDirectory() as storage:
            trainable = tune.with_parameters(_plain_trial, data=_digits(max_batches),
                                             max_batches=max_batches)
            if on_demand:
                slots = max(1, math.floor(ray.cluster_resources().get("CPU", 1) / cpus))
                config = tune.TuneConfig(search_alg=SeedSearcher(trials), num_samples=-1,
                                         reuse_actors=tuned, max_concurrent_trials=slots)
                space = None
            else:
                config = tune.TuneConfig(num_samples=trials, reuse_actors=tuned)
                space = {"seed": tune.randint(0, 256)}
            tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": cpus}), param_space=space,
                               tune_config=config,
                               run_config=tune.RunConfig(storage_path=storage, verbose=0))
            grid = tuner.fit()
            return steady_rate([r.metrics["finished"] for r in grid if r.metrics])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class RaynasRun:
    """One ``raynas evolve`` of the bench: its trials' finish times."""

    finish_times: list[float]

    @property
    def rate(self) -> float:
        return steady_rate(self.finish_times)


def _raynas(trials: int, cpus: float, max_batches: int | None = 1,
            out: Path | None = None) -> RaynasRun:
    """``raynas evolve`` of ``trials`` TinyNet trials (``max_batches`` None: a full epoch)
    into ``out`` (default: a temporary folder, removed after)."""
    from raynas.results.store import read_trials
    from raynas.run.driver import evolve
    from raynas.run.settings import EvolveSettings

    if out is None:
        with tempfile.TemporaryDirectory(prefix="raynas-overhead-") as folder:
            return _raynas(trials, cpus, max_batches, Path(folder) / "run")
    settings = EvolveSettings(space=f"{__name__}:TinyNet", dataset="digits", strategy="random",
                              trials=trials, epochs=1, max_batches_per_epoch=max_batches,
                              limit=64 if max_batches == 1 else None, cpus_per_trial=cpus,
                              out=str(out))
    evolve(settings, quiet=True)
    rows = read_trials(out)
    return RaynasRun([t.timestamp() for t in rows["finished_at"]])


def scale_run(trials: int, every: int = 500, block: int = 1000,
              cpus: float = 1.0) -> tuple[list[ScaleRow], float]:
    """The scale run (module docstring, 1): its rows and its steady trials/s (its run folder
    is temporary)."""
    with tempfile.TemporaryDirectory(prefix="raynas-scale-") as folder:
        run_dir = Path(folder) / "run"
        with Sampler(run_dir) as sampler:
            run = _raynas(trials, cpus, out=run_dir)
    return scale_rows(run.finish_times, sampler.samples, every, block), run.rate


def _plain_loop(epochs: int, genome: dict[str, Any]) -> float:
    """Samples/s of the mnist space's model fixed to ``genome``: a plain PyTorch loop (Adam,
    batches of 32, pre-normalized data) over digits at 28x28, one thread."""
    import raynas.spaces
    from raynas import datasets
    from raynas.core.fixing import fix

    torch.set_num_threads(1)
    bundle = datasets.load("digits", input_shape=(1, 28, 28))
    torch.manual_seed(0)
    model = fix(raynas.spaces.get("mnist")(), genome)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = bundle.normalize(bundle.train_x), bundle.train_y
    model.train()
    seen, started = 0, time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for start in range(0, len(y), 32):
            idx = order[start:start + 32]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(idx)
    return seen / (time.perf_counter() - started)


def _in_trial(epochs: int) -> tuple[float, dict[str, Any]]:
    """Samples/s of a raynas trial of the mnist space on digits in a warm worker (the second
    of two trials one reused worker runs, as in any run past its first trials), and its
    genome."""
    import json

    from raynas.results.store import read_trials
    from raynas.run.driver import evolve
    from raynas.run.settings import EvolveSettings

    with tempfile.TemporaryDirectory(prefix="raynas-throughput-") as folder:
        out = Path(folder) / "run"
        evolve(EvolveSettings(space="mnist", dataset="digits", strategy="random", trials=2,
                              epochs=epochs, cpus_per_trial=1, max_concurrent=1, out=str(out)),
               quiet=True)
        row = read_trials(out).sort_values("order").iloc[-1]
    return float(row["samples_per_second"]), json.loads(row["genome"])


@dataclass
class Throughput:
    """Alternating runs: samples/s in a raynas trial, in a plain loop as a 1-CPU Ray task,
    and in a plain loop in the driver process."""

    in_trial: list[float]
    plain_task: list[float]
    plain_driver: list[float]

    @property
    def ratio(self) -> float:
        """Median of the per-pair ratios in-trial / plain loop in a Ray task."""
        return statistics.median(a / b for a, b in zip(self.in_trial, self.plain_task))


def training_throughput(epochs: int = 2, repeats: int = 3) -> Throughput:
    """``repeats`` alternating runs of the three (see :class:`Throughput`), each warm: the
    trial is a reused worker's second, and the plain loops run once untimed first (a Ray
    task's worker is reused too), so that no side pays a process's first training."""
    import ray

    import raynas.spaces
    from raynas.core.space import SearchSpace

    task = ray.remote(num_cpus=1)(_plain_loop)
    result = Throughput([], [], [])
    genome = SearchSpace.from_model(raynas.spaces.get("mnist")).default()
    ray.get(task.remote(1, genome))
    _plain_loop(1, genome)
    for _ in range(repeats):
        in_trial, genome = _in_trial(epochs)
        result.in_trial.append(in_trial)
        result.plain_task.append(ray.get(task.remote(epochs, genome)))
        result.plain_driver.append(_plain_loop(epochs, genome))
    return result


@dataclass
class Ratios:
    """Steady trials/s of plain Tune (defaults, tuned runs) and raynas runs, one trial kind."""

    kind: str
    default_trials: int
    defaults: float
    tuned_runs: list[float]
    ours_runs: list[float]
    on_demand_runs: list[float] = field(default_factory=list)
    #: per setup ("tuned", "on demand", "raynas"), one :class:`CpuUse` per round
    cpu: dict[str, list["CpuUse"]] = field(default_factory=dict)

    @property
    def tuned(self) -> float:
        return statistics.median(self.tuned_runs)

    @property
    def on_demand(self) -> float | None:
        return statistics.median(self.on_demand_runs) if self.on_demand_runs else None

    @property
    def ours(self) -> float:
        return statistics.median(self.ours_runs)

    @property
    def ours_per_tuned(self) -> float:
        """Median over the rounds of raynas / tuned Tune (all trials up front)."""
        return statistics.median(a / b for a, b in zip(self.ours_runs, self.tuned_runs))

    @property
    def ours_per_on_demand(self) -> float | None:
        """Median over the rounds of raynas / tuned Tune with trials proposed on demand."""
        if not self.on_demand_runs:
            return None
        return statistics.median(a / b for a, b in zip(self.ours_runs, self.on_demand_runs))


@dataclass
class CpuUse:
    """Where one run's CPU went: milliseconds per trial by role (see
    :mod:`raynas.bench.cpu_usage`) and the cores busy on average over the run."""

    ms_per_trial: dict[str, float]
    cores_busy: float

    @classmethod
    def of(cls, run: Callable[[], float], trials: int) -> tuple[float, "CpuUse"]:
        """``(run(), its CpuUse)`` for a run of ``trials`` trials."""
        before, started = CpuReading.take(), time.perf_counter()
        rate = run()
        wall = time.perf_counter() - started
        used = CpuReading.take().since(before)
        return rate, cls({role: 1000 * used[role] / trials for role in ROLES},
                         sum(used.values()) / wall if wall > 0 else 0.0)


def measure_ratios(kind: str, max_batches: int | None, trials: int, default_trials: int,
                   repeats: int) -> Ratios:
    """Plain Tune defaults once, then ``repeats`` rounds of tuned Tune (trials up front),
    tuned Tune (trials on demand) and raynas, alternating; the CPU each run used by role."""
    defaults = _plain_tune(default_trials, tuned=False, cpus=1.0, max_batches=max_batches)
    result = Ratios(kind, default_trials, defaults, [], [])
    setups = (("tuned", result.tuned_runs,
               lambda: _plain_tune(trials, tuned=True, cpus=1.0, max_batches=max_batches)),
              ("on demand", result.on_demand_runs,
               lambda: _plain_tune(trials, tuned=True, cpus=1.0, max_batches=max_batches,
                                   on_demand=True)),
              ("raynas", result.ours_runs,
               lambda: _raynas(trials, cpus=1.0, max_batches=max_batches).rate))
    for _ in range(repeats):
        for name, runs, run in setups:
            rate, use = CpuUse.of(run, trials)
            runs.append(rate)
            result.cpu.setdefault(name, []).append(use)
    return result


def cpu_line(name: str, uses: list[CpuUse]) -> str:
    """One setup's CPU per trial by role and cores busy, medians over the rounds."""
    parts = ", ".join(f"{role} {statistics.median(u.ms_per_trial[role] for u in uses):.1f}"
                      for role in ROLES)
    busy = statistics.median(u.cores_busy for u in uses)
    return f"  CPU ms/trial, {name + ':':10} {parts}; {busy:.2f} cores busy"


@dataclass
class Overhead:
    """Everything ``raynas bench-overhead`` measured (see the module docstring)."""

    ray_version: str
    cpus: float
    scale: list[ScaleRow]
    scale_rate: float
    ratios: list[Ratios] = field(default_factory=list)
    throughput: Throughput | None = None


def measure_overhead(trials: int, default_trials: int, repeats: int, num_cpus: int | None,
                     ratio_trials: int | None = None, epoch_trials: int | None = None,
                     every: int | None = None,
                     say: Callable[[str], None] = lambda line: None) -> Overhead:
    """Run the bench on a local Ray. ``ratio_trials`` (default ``min(trials, 500)``) and
    ``epoch_trials`` (default ``min(trials, 100)``) size the ratio runs (0: skip them);
    ``every`` (default ``min(500, trials // 4)``) spaces the scale rows, a block is two rows;
    ``repeats`` 0 skips the ratios and the throughput."""
    import ray

    every = every or max(1, min(500, trials // 4))
    ratio_trials = min(trials, 500) if ratio_trials is None else ratio_trials
    epoch_trials = min(trials, 100) if epoch_trials is None else epoch_trials
    started = not ray.is_initialized()  # a Ray already up (a test's) is joined, left up
    if started:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", address="local")
    try:
        cpus = ray.cluster_resources().get("CPU", 0)
        say(f"scale run: {trials} trials")
        rows, rate = scale_run(trials, every=every, block=2 * every)
        result = Overhead(ray.__version__, cpus, rows, rate)
        if repeats:
            for kind, max_batches, n in (("one batch", 1, ratio_trials),
                                         ("one epoch", None, epoch_trials)):
                if n:
                    say(f"ratios, {kind}: {repeats} x {n} trials")
                    result.ratios.append(measure_ratios(kind, max_batches, n, default_trials,
                                                        repeats))
            say("training throughput")
            result.throughput = training_throughput(repeats=repeats)
        return result
    finally:
        if started:
            ray.shutdown()


def scale_lines(rows: list[ScaleRow]) -> list[str]:
    """The scale table as Markdown lines (trials, RSS MB, files, trials/s per block)."""
    lines = ["| trials | driver RSS MB | files in the run folder | trials/s over the last block |",
             "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {r.trials:,} | {r.rss_mb:.0f} | {r.files} | "
              f"{'' if r.rate is None else f'{r.rate:.1f}'} |" for r in rows]
    return lines


def rss_growth(rows: list[ScaleRow]) -> tuple[float, float] | None:
    """``(MB, fraction)`` the driver's RSS grew from the row at 1,000 trials (or the second
    row of a shorter run) to the last; None with fewer than two rows after it."""
    base = next((r for r in rows if r.trials >= 1000), rows[1] if len(rows) > 2 else None)
    if base is None or base is rows[-1]:
        return None
    grown = rows[-1].rss_mb - base.rss_mb
    return grown, grown / base.rss_mb


def overhead_lines(result: Overhead) -> list[str]:
    """The figures as the lines ``raynas bench-overhead`` prints."""
    runs = lambda values: ", ".join(f"{v:.1f}" for v in values)  # noqa: E731
    lines = [f"Ray {result.ray_version}, {result.cpus:g} CPUs, 1 CPU per trial; steady-state "
             f"trials/s from the trials' finish times", ""]
    lines += scale_lines(result.scale)
    growth = rss_growth(result.scale)
    lines.append("")
    lines.append(f"scale run: steady {result.scale_rate:.1f} trials/s"
                 + (f"; driver RSS grew {growth[0]:+.0f} MB ({growth[1]:+.1%}) after the first "
                    f"rows" if growth else ""))
    for r in result.ratios:
        lines += [
            "",
            f"trials that train {r.kind}:",
            f"  plain Tune defaults     {r.defaults:8.2f} trials/s  ({r.default_trials} trials)",
            f"  plain Tune tuned        {r.tuned:8.2f} trials/s  (median of {runs(r.tuned_runs)})",
            *([f"  ... trials on demand    {r.on_demand:8.2f} trials/s  (median of "
               f"{runs(r.on_demand_runs)})"] if r.on_demand is not None else []),
            f"  raynas evolve           {r.ours:8.2f} trials/s  (median of {runs(r.ours_runs)})",
            f"  raynas / Tune defaults  {r.ours / r.defaults:8.1f}x",
            f"  raynas / Tune tuned     {r.ours_per_tuned:8.2f}x  (median of the rounds)",
            *([f"  raynas / ... on demand  {r.ours_per_on_demand:8.2f}x  (median of the rounds)"]
              if r.ours_per_on_demand is not None else []),
            *[cpu_line(name, uses) for name, uses in r.cpu.items()]]
    t = result.throughput
    if t is not None:
        lines += ["", f"training throughput (samples/s, {len(t.in_trial)} alternating runs): in a "
                  f"raynas trial {runs(t.in_trial)}; plain loop in a 1-CPU Ray task "
                  f"{runs(t.plain_task)}; plain loop in the driver {runs(t.plain_driver)}; "
                  f"ratio trial / Ray task {t.ratio:.2f} (median of the pairs)"]
    return lines
