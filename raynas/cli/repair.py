"""``raynas repair DIR``: the command-line face of :func:`raynas.results.repair.repair`."""

from __future__ import annotations

from pathlib import Path

import click

from raynas.cli.errors import user_errors


@click.command("repair")
@click.argument("run_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--compact", is_flag=True,
              help="Also merge the part files into one (only while nobody reads DIR).")
@user_errors
def repair_command(run_dir: Path, compact: bool) -> None:
    """Rebuild what is corrupt in the run folder DIR from its journal, and say what was done.

    A corrupt part file is moved to DIR/corrupt/ and its rows written again from the journal;
    rows only in the journal are written to a part; torn journal lines are dropped. Refused
    while a run writes DIR.
    """
    from raynas.core.files import check_writable
    from raynas.results.repair import repair

    check_writable(run_dir, "the run folder")
    for line in repair(run_dir, compact=compact):
        click.echo(line)
