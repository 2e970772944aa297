"""``raynas evolve``: the command-line face of :func:`raynas.driver.evolve`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


def _fail(message: str) -> None:
    click.echo(f"raynas evolve: error: {message}", err=True)
    sys.exit(2)


@click.command("evolve")
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False),
              help="YAML file with any of these settings (command-line values win).")
@click.option("--space", help="Registered space (raynas list), FILE.py:Class or module:Class. [mnist]")
@click.option("--dataset", help="Dataset: digits (embedded, offline), mnist, fashion_mnist, cifar10. [digits]")
@click.option("--data-dir", help="Folder of the torchvision datasets.")
@click.option("--download/--no-download", default=None, help="Download a missing torchvision dataset.")
@click.option("--limit", type=int, help="Use only this many training images.")
@click.option("--strategy", help="Search strategy: evolution or random. [evolution]")
@click.option("--trials", type=int, help="Trials in total, rejected and failed ones included. [12]")
@click.option("--population-size", type=int, help="Evolution: population size (default scales with --trials).")
@click.option("--sample-size", type=int, help="Evolution: tournament size.")
@click.option("--epochs", type=int, help="Training epochs per trial. [3]")
@click.option("--batch-size", type=int, help="Training batch size (default: the trainer's, 32).")
@click.option("--lr", type=float, help="Learning rate (default: the trainer's).")
@click.option("--max-batches-per-epoch", type=int, help="Cap on training steps per epoch.")
@click.option("--seed", type=int, help="Seed of the strategy and the trials. [0]")
@click.option("--out", help="Results folder. [./raynas-runs/<name>]")
@click.option("--name", help="Run name for the default results folder.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue the run in this folder up to --trials (its settings are reused).")
@click.option("--cpus-per-trial", type=float, help="CPUs each trial reserves. [1]")
@click.option("--gpus-per-trial", type=float, help="GPUs each trial reserves; 0.25 packs four on a GPU. [0]")
@click.option("--max-concurrent", type=int, help="Trials running at once (default: as resources allow).")
@click.option("--max-params", type=int, help="Reject genomes with more parameters, before training.")
@click.option("--max-flops", type=int, help="Reject genomes with more FLOPs per sample, before training.")
@click.option("--max-failures", type=int, help="Retries of a trial lost with its node. [2]")
@click.option("--address", help="Ray address; 'auto' joins a running cluster (or set RAY_ADDRESS). "
                                "Default: start Ray on this machine.")
@click.option("--num-cpus", type=int, help="Local mode: CPUs the local Ray may use.")
@click.option("--num-gpus", type=float, help="Local mode: GPUs the local Ray advertises.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def evolve_command(config_file: str | None, resume_dir: str | None, quiet: bool, **options: Any) -> None:
    """Search the space with a strategy; each candidate is a Ray Tune trial.

    With no options: the embedded default (space mnist, dataset digits, regularized
    evolution) on this machine. Results: pandas.read_parquet(OUT / "trials").
    """
    from pydantic import ValidationError

    from raynas.driver import RunError, evolve, resume_settings
    from raynas.results import ResultsError
    from raynas.settings import explain, load_yaml, settings_from

    try:
        file_values = load_yaml(config_file) if config_file else None
        if resume_dir:
            overrides = {**(file_values or {}), **{k: v for k, v in options.items() if v is not None}}
            settings = resume_settings(Path(resume_dir), overrides)
        else:
            settings = settings_from(file_values, options)
        summary = evolve(settings, resume=bool(resume_dir), quiet=quiet)
    except ValidationError as err:
        _fail(explain(err))
    except (RunError, ResultsError, ValueError, FileNotFoundError) as err:
        _fail(str(err))
    counts = summary.counts
    click.echo(f"trials: {sum(counts.values())}/{summary.total} (completed {counts['completed']}, "
               f"failed {counts['failed']}, rejected {counts['rejected']})")
    if summary.exhausted:
        click.echo("the strategy has no new genome to propose: the space is exhausted")
    if summary.best is not None:
        best = summary.best
        click.echo(f"best: accuracy {best['accuracy']:.4f}, params {best['params']}, "
                   f"trial {best['trial_id']}, genome {best['genome']}")
    else:
        click.echo("no trial completed")
    click.echo(f"results: {summary.out.resolve()}  (pandas.read_parquet('{summary.out}/trials'))")
