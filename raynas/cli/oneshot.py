"""``raynas oneshot``: the command-line face of :func:`raynas.oneshot.run.oneshot`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from raynas.cli.errors import user_errors
from raynas.cli.options import given_settings, run_options, settings_options
from raynas.oneshot.settings import EVOLVE_ONLY, OneshotSettings


@click.command("oneshot")
@run_options("Continue the one-shot run in this folder (its settings are reused).")
@settings_options(OneshotSettings, skip=EVOLVE_ONLY)
@user_errors
def oneshot_command(config_file: str | None, resume_dir: str | None, quiet: bool,
                    **options: Any) -> None:
    """One-shot search (Single Path One-Shot): train one weight-sharing supernet on Ray
    Train, score --candidates genomes with its inherited weights, retrain the best
    --retrain-top-k from scratch as Ray Tune trials.

    Results: pandas.read_parquet(OUT / "trials"), the column stage telling oneshot rows
    (inherited weights) from retrain rows; the supernet's checkpoints in OUT/supernet.
    """
    from raynas.oneshot.run import oneshot, oneshot_resume_settings

    given = given_settings(config_file, options)
    if resume_dir:
        settings = oneshot_resume_settings(Path(resume_dir), given)
    else:
        settings = OneshotSettings(**given)
    summary = oneshot(settings, resume=bool(resume_dir), quiet=quiet)
    c = summary.counts
    click.echo(f"candidates: {summary.candidates}/{summary.planned_candidates} scored with "
               f"inherited weights; retrained: {summary.retrained}/{summary.planned_retrain} "
               f"(completed {c['completed']}, failed {c['failed']} in all)")
    if summary.best_inherited is not None:
        b = summary.best_inherited
        click.echo(f"best inherited: accuracy {b['accuracy']:.4f}, trial {b['trial_id']}, "
                   f"genome {b['genome']}")
    if summary.best is not None:
        b = summary.best
        click.echo(f"best: accuracy {b['accuracy']:.4f} retrained, params {b['params']}, "
                   f"trial {b['trial_id']}, genome {b['genome']}")
    else:
        click.echo("no retrained trial completed")
    if summary.kendall_tau is not None:
        click.echo(f"kendall tau (inherited vs retrained): {summary.kendall_tau:.3f}")
    click.echo(f"results: {summary.out.resolve()}  (pandas.read_parquet('{summary.out}/trials'))")
    if summary.interrupted:
        click.echo(f"raynas oneshot: interrupted before all stages finished; continue with "
                   f"`raynas oneshot --resume {summary.out}`", err=True)
        sys.exit(130)
