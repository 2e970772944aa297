"""``raynas evolve``: the command-line face of :func:`raynas.run.driver.evolve`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from raynas.cli.errors import user_errors
from raynas.cli.options import given_settings, run_options, settings_options
from raynas.run.settings import EvolveSettings


@click.command("evolve")
@run_options("Continue the run in this folder up to --trials (its settings are reused).")
@settings_options(EvolveSettings)
@user_errors
def evolve_command(config_file: str | None, resume_dir: str | None, quiet: bool, **options: Any) -> None:
    """Search the space with a strategy; each candidate is a Ray Tune trial.

    With no options: the embedded default (space mnist, dataset digits, regularized
    evolution) on this machine. Results: pandas.read_parquet(OUT / "trials").
    """
    from raynas.run.driver import evolve, resume_settings  # their errors are ValueErrors

    given = given_settings(config_file, options)
    settings = resume_settings(Path(resume_dir), given) if resume_dir else EvolveSettings(**given)
    summary = evolve(settings, resume=bool(resume_dir), quiet=quiet)
    counts = summary.counts
    stopped = f"stopped {counts['stopped']}, " if counts.get("stopped") else ""
    click.echo(f"trials: {sum(counts.values())}/{summary.total} (completed {counts['completed']}, "
               f"{stopped}failed {counts['failed']}, rejected {counts['rejected']})")
    if summary.epochs_trained is not None:
        click.echo(f"epochs trained: {summary.epochs_trained}")
    if summary.exhausted:
        click.echo(f"every genome of the space was tried; {summary.reevaluated} trial(s) then "
                   f"trained known genomes again, with new seeds")
    if summary.best is not None:
        best = summary.best
        partial = "" if best.get("status", "completed") == "completed" else \
            f" (stopped after {best['epochs']} epochs: no trial trained fully)"
        spread = (f" ± {best['accuracy_std']:.4f} (mean of {best['trials']} trials)"
                  if best.get("trials", 1) > 1 else "")
        click.echo(f"best: accuracy {best['accuracy']:.4f}{spread}{partial}, params {best['params']}, "
                   f"trial {best['trial_id']}, genome {best['genome']}")
    else:
        click.echo("no trial completed")
    lines = summary.front_lines()
    if lines:
        from raynas.results.objectives import describe

        click.echo(f"Pareto front ({len(summary.front)} genome(s); {describe(summary.objectives)}):")
        for line in lines:
            click.echo(line)
    click.echo(f"results: {summary.out.resolve()}  (pandas.read_parquet('{summary.out}/trials'))")
    if summary.interrupted:
        click.echo(f"raynas evolve: interrupted before all trials finished; continue with "
                   f"`raynas evolve --resume {summary.out}`", err=True)
        sys.exit(130)
