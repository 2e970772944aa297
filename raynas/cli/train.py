"""``raynas train``: the command-line face of :func:`raynas.analysis.retrain.train`; its
training options are generated from :class:`~raynas.analysis.retrain.TrainSettings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from raynas.analysis.retrain import TrainSettings, meta_path
from raynas.cli.errors import user_errors
from raynas.cli.options import settings_options

__all__ = ["train_command"]


@click.command("train")
@click.option("--arch", "arch_file", type=click.Path(path_type=Path),
              help="Architecture JSON file (raynas export, or an NNI v1 export).")
@click.option("--run", "run_dir", type=click.Path(path_type=Path),
              help="Take the architecture and defaults from this run (instead of --arch).")
@click.option("--trial-id", help="With --run: the trial to train. [the best by the run's first objective]")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@settings_options(TrainSettings)
@user_errors
def train_command(arch_file: Path | None, run_dir: Path | None, trial_id: str | None,
                  quiet: bool, **options: Any) -> None:
    """Train one fixed architecture from scratch and save its weights.

    The saved state_dict loads into raynas.fix(model, genome); model.meta.json beside it
    holds the genome, the dataset's normalization and the accuracies.
    """
    from raynas.analysis.retrain import retrain_inputs, train

    given = TrainSettings(**{k: v for k, v in options.items() if v is not None})
    kwargs, genome, note = retrain_inputs(arch_file, run_dir, trial_id, given)
    meta = train(genome=genome, quiet=quiet, source_note=note, log=click.echo, **kwargs)
    click.echo(f"validation accuracy {meta['valid_accuracy']:.4f} (loss {meta['valid_loss']:.4f})")
    click.echo(f"test accuracy       {meta['test_accuracy']:.4f} (loss {meta['test_loss']:.4f})")
    click.echo(f"saved: {kwargs['save']} (state_dict of raynas.fix(model, genome)), "
               f"{meta_path(kwargs['save'])}")
