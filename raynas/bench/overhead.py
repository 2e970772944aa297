"""``raynas bench-overhead``: what the platform adds to each trial, measured in one process.

Three ways to run the same number of trivial trials on this machine's Ray:

1. plain Ray Tune with its defaults (a new worker per trial, Tune's loggers on);
2. plain Ray Tune tuned (``reuse_actors=True``, auto loggers off, rare experiment snapshots);
3. ``raynas evolve`` on a trivially small space (each trial builds, fixes, trains one
   batch of a real model and writes a Parquet row).

It prints steady-state trials/s for each (from the trials' finish times, after the first
quarter) and the ratios; then the training throughput of a fixed model inside a raynas
trial against the same model trained by a plain PyTorch loop in this process.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

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


def _noop(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"score": 1.0, "finished": time.time()})


def _plain_tune(trials: int, tuned: bool, cpus: float) -> float:
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
            tuner = tune.Tuner(
                tune.with_resources(_noop, {"cpu": cpus}),
                tune_config=tune.TuneConfig(num_samples=trials, reuse_actors=tuned),
                run_config=tune.RunConfig(storage_path=storage, verbose=0))
            grid = tuner.fit()
            return steady_rate([r.metrics["finished"] for r in grid if r.metrics])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _raynas(trials: int, cpus: float) -> tuple[float, Path]:
    from raynas.run.driver import evolve
    from raynas.results.store import read_trials
    from raynas.run.settings import EvolveSettings

    out = Path(tempfile.mkdtemp(prefix="raynas-overhead-"))
    settings = EvolveSettings(space=f"{__name__}:TinyNet", dataset="digits", strategy="random",
                              trials=trials, epochs=1, max_batches_per_epoch=1, limit=64,
                              cpus_per_trial=cpus, out=str(out / "run"))
    evolve(settings, quiet=True)
    rows = read_trials(out / "run")
    finished = [t.timestamp() for t in rows["finished_at"]]
    return steady_rate(finished), out / "run"


def training_throughput(epochs: int = 2) -> tuple[float, float]:
    """Samples/s of the mnist space's fixed model: inside a raynas trial vs a plain loop."""
    import raynas.spaces
    from raynas import datasets
    from raynas.run.driver import evolve
    from raynas.core.fixing import fix
    from raynas.results.store import read_trials
    from raynas.run.settings import EvolveSettings

    out = Path(tempfile.mkdtemp(prefix="raynas-throughput-")) / "run"
    evolve(EvolveSettings(space="mnist", dataset="digits", strategy="random", trials=1,
                          epochs=epochs, cpus_per_trial=1, max_concurrent=1, out=str(out)),
           quiet=True)
    row = read_trials(out).iloc[0]
    in_trial = float(row["samples_per_second"])

    import json

    torch.set_num_threads(1)
    bundle = datasets.load("digits", input_shape=(1, 28, 28))
    torch.manual_seed(0)
    model = fix(raynas.spaces.get("mnist")(), json.loads(row["genome"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = bundle.normalize(bundle.train_x)
    y = bundle.train_y
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
    plain = seen / (time.perf_counter() - started)
    return in_trial, plain


@dataclass
class Overhead:
    """Steady-state trials/s of each way (see the module docstring) and training throughput."""

    ray_version: str
    cpus: float
    default_trials: int
    defaults: float
    tuned_runs: list[float]
    ours_runs: list[float]
    in_trial: float
    plain: float

    @property
    def tuned(self) -> float:
        return statistics.median(self.tuned_runs)

    @property
    def ours(self) -> float:
        return statistics.median(self.ours_runs)


def measure_overhead(trials: int, default_trials: int, repeats: int,
                     num_cpus: int | None) -> Overhead:
    """Run the three ways on a local Ray (``repeats`` alternating tuned-Tune / raynas runs)."""
    import ray

    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        cpus = ray.cluster_resources().get("CPU", 0)
        defaults = _plain_tune(default_trials, tuned=False, cpus=1.0)
        tuned_runs, ours_runs = [], []
        for _ in range(repeats):
            tuned_runs.append(_plain_tune(trials, tuned=True, cpus=1.0))
            ours_runs.append(_raynas(trials, cpus=1.0)[0])
        in_trial, plain = training_throughput()
        return Overhead(ray.__version__, cpus, default_trials, defaults, tuned_runs, ours_runs,
                        in_trial, plain)
    finally:
        ray.shutdown()


def overhead_lines(result: Overhead) -> list[str]:
    """The figures as the lines ``raynas bench-overhead`` prints."""
    runs = lambda values: ", ".join(f"{v:.1f}" for v in values)  # noqa: E731
    ours, tuned, defaults = result.ours, result.tuned, result.defaults
    return [
        f"Ray {result.ray_version}, {result.cpus:g} CPUs, 1 CPU per trial; steady-state "
        f"trials/s from the trials' finish times",
        f"plain Tune defaults     {defaults:8.2f} trials/s  ({result.default_trials} trials)",
        f"plain Tune tuned        {tuned:8.2f} trials/s  (median of {runs(result.tuned_runs)})",
        f"raynas evolve           {ours:8.2f} trials/s  (median of {runs(result.ours_runs)}; "
        f"real model, Parquet rows)",
        f"raynas / Tune defaults  {ours / defaults:8.1f}x",
        f"raynas / Tune tuned     {ours / tuned:8.2f}x",
        f"training throughput: in a raynas trial {result.in_trial:,.0f} samples/s, plain "
        f"PyTorch loop {result.plain:,.0f} samples/s, ratio {result.in_trial / result.plain:.2f}",
    ]
