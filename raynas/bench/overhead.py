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
import tempfile
import time
from pathlib import Path
from typing import Any

import click
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


@click.command("bench-overhead")
@click.option("--trials", default=200, show_default=True, help="Trials per tuned / raynas run.")
@click.option("--default-trials", default=16, show_default=True,
              help="Trials for plain Tune defaults (slow: a new process per trial).")
@click.option("--repeats", default=3, show_default=True,
              help="Alternating tuned-Tune / raynas runs; medians are reported.")
@click.option("--num-cpus", type=int, default=None, help="CPUs for the local Ray.")
def bench_overhead_command(trials: int, default_trials: int, repeats: int,
                           num_cpus: int | None) -> None:
    """Trials/s of plain Tune, tuned Tune and raynas on trivial trials, and training throughput."""
    import statistics

    import ray

    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        cpus = 1.0
        click.echo(f"Ray {ray.__version__}, {ray.cluster_resources().get('CPU', 0):g} CPUs, "
                   f"{cpus:g} CPU per trial; steady-state trials/s from the trials' finish times")
        defaults = _plain_tune(default_trials, tuned=False, cpus=cpus)
        tuned_runs, ours_runs = [], []
        for _ in range(repeats):
            tuned_runs.append(_plain_tune(trials, tuned=True, cpus=cpus))
            ours_runs.append(_raynas(trials, cpus=cpus)[0])
        tuned, ours = statistics.median(tuned_runs), statistics.median(ours_runs)
        runs = lambda values: ", ".join(f"{v:.1f}" for v in values)  # noqa: E731
        click.echo(f"plain Tune defaults     {defaults:8.2f} trials/s  ({default_trials} trials)")
        click.echo(f"plain Tune tuned        {tuned:8.2f} trials/s  (median of {runs(tuned_runs)})")
        click.echo(f"raynas evolve           {ours:8.2f} trials/s  (median of {runs(ours_runs)}; "
                   f"real model, Parquet rows)")
        click.echo(f"raynas / Tune defaults  {ours / defaults:8.1f}x")
        click.echo(f"raynas / Tune tuned     {ours / tuned:8.2f}x")
        in_trial, plain = training_throughput()
        click.echo(f"training throughput: in a raynas trial {in_trial:,.0f} samples/s, plain "
                   f"PyTorch loop {plain:,.0f} samples/s, ratio {in_trial / plain:.2f}")
    finally:
        ray.shutdown()
