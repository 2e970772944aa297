"""``raynas bench`` and ``raynas bench-overhead``: the command-line faces of
:mod:`raynas.bench.nb201` and :mod:`raynas.bench.overhead`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from raynas.bench.fidelity import DEFAULT_RETRAIN_SEEDS, RETRAIN_SEED_BASE
from raynas.bench.nb201 import DEFAULT_BUDGETS, DEFAULT_REPEATS
from raynas.cli.errors import user_errors


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated ints such as 25,50,100,200, "
                                 f"got {text!r}") from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"expected ints >= 1 such as 25,50,100,200, got {text!r}")
    return values


@click.command("bench")
@click.option("--strategies", default=None, metavar="NAMES",
              help="Comma-separated registered strategies. [all]")
@click.option("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)), show_default=True,
              help="Comma-separated numbers of queries per run.")
@click.option("--repeats", default=None, type=click.IntRange(min=1),
              help=f"Runs (seeds) per strategy and budget. [{DEFAULT_REPEATS}; 100 with "
                   f"--objectives]")
@click.option("--seed", default=0, show_default=True, type=int, help="First seed.")
@click.option("--table", "table_path", default=None, type=click.Path(dir_okay=False),
              help="A CSV or Parquet NAS-Bench-201 table of the same shape. [the shipped one]")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the results to this JSON file.")
@click.option("--objectives", default=None, metavar="METRIC:DIR,...",
              help="Multi-objective protocol, e.g. accuracy:max,params:min (metrics: accuracy, "
                   "params, flops); prints HV regret per budget beside the peers' figures.")
@user_errors
def bench_command(strategies: str | None, budgets: str, repeats: int | None, seed: int,
                  table_path: str | None, json_path: str | None,
                  objectives: str | None) -> None:
    """Benchmark search strategies on the tabular NAS-Bench-201 (CIFAR-10), no Ray.

    Fitness is the 12-epoch validation accuracy; each run reports the 200-epoch test accuracy
    of its best-fitness architecture; mean ± std over the seeds, regret to the table's best.
    With --objectives: the hypervolume regret of every run's non-dominated set instead.
    """
    from rich.console import Console

    import raynas.strategies
    from raynas.bench.nb201 import format_table, load_table, run_bench
    from raynas.bench.nb201_mo import DEFAULT_MO_REPEATS, MO_METRICS, format_mo_table, run_mo_bench
    from raynas.run.progress import progress_bar
    from raynas.strategies import parse_objectives

    budget_list = _int_list(budgets)
    wanted = None
    if objectives is not None:
        try:
            wanted = parse_objectives(objectives, known=list(MO_METRICS))
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--objectives") from None
    if repeats is None:
        repeats = DEFAULT_REPEATS if wanted is None else DEFAULT_MO_REPEATS
    names = None
    if strategies:
        names = [n.strip() for n in strategies.split(",") if n.strip()]
        for name in names:
            try:
                raynas.strategies.get(name)
            except KeyError as err:
                raise click.BadParameter(err.args[0], param_hint="--strategies") from None
    table = load_table(table_path)
    n_strategies = len(names) if names else len(raynas.strategies.names())
    console = Console()
    with progress_bar("bench", console=console, transient=True) as bar:
        task = bar.add_task("runs", total=n_strategies * len(budget_list) * repeats)
        advance = lambda n: bar.advance(task, n)  # noqa: E731
        if wanted is not None:
            mo = run_mo_bench(wanted, names, budget_list, repeats, table, seed, advance)
        else:
            result = run_bench(names, budget_list, repeats, table, seed, progress=advance)
    if wanted is not None:
        console.print(format_mo_table(mo))
        console.print(f"{repeats} seeds from {seed}; total {mo.seconds:.1f} s")
        if json_path:
            Path(json_path).write_text(json.dumps(mo.to_dict(), indent=2))
        return
    console.print(format_table(result))
    console.print("µs / ask+tell over all budgets: " + ", ".join(
        f"{name} {us:.0f}" for name, us in result.us_per_call.items())
        + f"; {repeats} seeds from {seed}; total {result.seconds:.1f} s")
    if json_path:
        Path(json_path).write_text(json.dumps(result.to_dict(), indent=2))


@click.command("bench-overhead")
@click.option("--trials", default=200, show_default=True, type=click.IntRange(min=4),
              help="Trials of the scale run (driver RSS, files, trials/s per block).")
@click.option("--ratio-trials", default=None, type=click.IntRange(min=0),
              help="Trials per tuned-Tune / raynas run, one-batch trials (0: skip). "
                   "[min(--trials, 500)]")
@click.option("--epoch-trials", default=None, type=click.IntRange(min=0),
              help="Trials per run for trials that train one full epoch (0: skip). "
                   "[min(--trials, 100)]")
@click.option("--default-trials", default=16, show_default=True, type=click.IntRange(min=1),
              help="Trials for plain Tune defaults (slow: a new process per trial).")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=0),
              help="Alternating tuned-Tune / raynas runs and throughput runs; medians are "
                   "reported (0: the scale run only).")
@click.option("--every", default=None, type=click.IntRange(min=1),
              help="Trials between RSS samples (a trials/s block is two). [min(500, trials/4)]")
@click.option("--num-cpus", type=int, default=None, help="CPUs for the local Ray.")
def bench_overhead_command(trials: int, ratio_trials: int | None, epoch_trials: int | None,
                           default_trials: int, repeats: int, every: int | None,
                           num_cpus: int | None) -> None:
    """Driver RSS, run-folder files and trials/s over a long run of trivial trials; trials/s
    against plain Tune (tuned and defaults) for one-batch and one-epoch trials; training
    throughput in a trial against a plain loop."""
    from raynas.bench.overhead import measure_overhead, overhead_lines

    say = lambda line: click.echo(line, err=True)  # noqa: E731
    result = measure_overhead(trials, default_trials, repeats, num_cpus, ratio_trials=ratio_trials,
                              epoch_trials=epoch_trials, every=every, say=say)
    for line in overhead_lines(result):
        click.echo(line)


@click.command("bench-fidelity")
@click.option("--schedulers", default="fifo,asha", show_default=True,
              help="Comma-separated schedulers; fifo is the baseline.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated seeds.")
@click.option("--space", default="tiny", show_default=True, help="Search space.")
@click.option("--strategy", default="evolution", show_default=True, help="Search strategy.")
@click.option("--trials", default=48, show_default=True, type=click.IntRange(min=1))
@click.option("--epochs", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--limit", default=600, show_default=True, type=click.IntRange(min=1),
              help="Training images (digits).")
@click.option("--grace-epochs", default=None, type=click.IntRange(min=1))
@click.option("--reduction-factor", default=None, type=float)
@click.option("--num-cpus", default=None, type=click.IntRange(min=1),
              help="CPUs of the local Ray. [all]")
@click.option("--retrain-seeds", default=DEFAULT_RETRAIN_SEEDS, show_default=True,
              type=click.IntRange(min=0),
              help="After the searches, train each run's best genome from scratch this many "
                   f"times (seeds {RETRAIN_SEED_BASE}, {RETRAIN_SEED_BASE + 1}, ...; the same "
                   "for every run) and score it on the "
                   "validation and test splits together (540 images, the test split unseen "
                   "by the search): the run's 'retrained acc', the mean. Unlike the search's "
                   "best accuracy, a max over noisy validation figures (higher with more "
                   "full-fidelity trials, so favouring fifo), it is unbiased. 0: none.")
@user_errors
def bench_fidelity_command(schedulers: str, seeds: str, space: str, strategy: str, trials: int,
                           epochs: int, limit: int, grace_epochs: int | None,
                           reduction_factor: float | None, num_cpus: int | None,
                           retrain_seeds: int) -> None:
    """Early stopping (asha, ...) against full training (fifo) on the same searches.

    Real `raynas evolve` runs on the digits data; prints epochs trained, wall time and the
    best full-fidelity accuracy per run, then medians over the seeds against fifo.

    The best full-fidelity accuracy is the search's own: the max of its trials' noisy
    validation figures, biased up the more trials reach full fidelity (fifo: all). So each
    run's best genome is also retrained from scratch (--retrain-seeds times, same epochs
    and settings) and scored on validation + test (the test split is held out from the
    search): "retrained acc" per run, and per scheduler "retrained vs fifo (points)", the
    median over seeds of the gap to the same seed's fifo run.
    """
    from raynas.bench.fidelity import FidelityRun, format_runs, format_summary, run_bench, summary_rows
    from raynas.run.settings import SCHEDULERS

    names = [n.strip() for n in schedulers.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCHEDULERS]
    if unknown or not names:
        raise click.BadParameter(f"unknown scheduler(s) {unknown}; known: "
                                 f"{', '.join(SCHEDULERS)}", param_hint="--schedulers")
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    tuned = {k: v for k, v in (("grace_epochs", grace_epochs),
                               ("reduction_factor", reduction_factor)) if v is not None}

    def show(run: "FidelityRun") -> None:
        click.echo(f"{run.scheduler} seed {run.seed}: {run.epochs_trained} epochs, "
                   f"{run.wall_seconds:.1f} s, best {run.best_accuracy}", err=True)

    def show_retrained(run: "FidelityRun") -> None:
        click.echo(f"{run.scheduler} seed {run.seed}: retrained acc {run.retrained_accuracy:.4f} "
                   f"({retrain_seeds} seed(s))", err=True)

    runs = run_bench(names, seed_list, num_cpus=num_cpus, progress=show, space=space,
                     strategy=strategy, dataset="digits", limit=limit, trials=trials,
                     epochs=epochs, scheduler_options=tuned, retrain_seeds=retrain_seeds,
                     retrain_progress=show_retrained, log=lambda text: click.echo(text, err=True))
    click.echo(format_runs(runs))
    click.echo()
    click.echo(format_summary(summary_rows(runs)))
