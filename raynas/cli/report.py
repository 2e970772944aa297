"""``raynas report DIR``: the command-line face of :func:`raynas.analysis.report.build_report`."""

from __future__ import annotations

from pathlib import Path

import click

from raynas.cli.errors import user_errors


@click.command("report")
@click.argument("run_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the plots and index.html. [DIR/report]")
@click.option("--watch", is_flag=True,
              help="Rewrite the report every --interval seconds while the run goes on (the "
                   "page reloads itself); stop when the run ends or on Ctrl-C.")
@click.option("--interval", type=click.FloatRange(1, 3600), default=5.0, show_default=True,
              help="Seconds between two reports with --watch.")
@user_errors
def report_command(run_dir: Path, out: Path | None, watch: bool, interval: float) -> None:
    """Plots, an HTML page and a summary of the run in DIR (also while it runs).

    Writes best.png, pareto.png (by the run's objectives), hv.png, choices.png and
    index.html into DIR/report.
    """
    from raynas.analysis.report import build_report, summary_lines

    if watch:
        from raynas.analysis.watch import watch_report

        raise SystemExit(watch_report(run_dir, out, interval, click.echo))
    for line in summary_lines(build_report(run_dir, out)):
        click.echo(line)
