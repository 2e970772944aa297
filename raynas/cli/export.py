"""``raynas export DIR``: the command-line face of :func:`raynas.analysis.export.export_run`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from raynas.cli.errors import user_errors


@click.command("export")
@click.argument("run_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--top-k", "top_k", type=int, default=5, show_default=True,
              help="Export the K best genomes (mean accuracy over their completed trials; "
                   "with --objective runs, the best trials by the run's first objective).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the JSON files. [DIR/export]")
@click.option("--pareto", is_flag=True,
              help="Export the Pareto front instead: by the run's objectives when it has "
                   "several (best first by the first), else fewer parameters, higher accuracy.")
@user_errors
def export_command(run_dir: Path, top_k: int, out: Path | None, pareto: bool) -> None:
    """Write the best architectures of the run in DIR as JSON files.

    Each file loads with raynas.load_architecture and builds a model with
    raynas.fix(model, genome); train one with `raynas train --arch FILE`.
    """
    from raynas.analysis.export import export_run
    from raynas.results.objectives import OBJECTIVE_METRICS, format_metric

    written = export_run(run_dir, out, top_k=top_k, pareto=pareto)
    what = "Pareto front" if pareto else f"top {top_k}"
    folder = written[0]["path"].parent
    click.echo(f"exported {len(written)} architecture(s) ({what}) to {folder}:")
    for item in written:
        params = "" if item["params"] is None else f", params {item['params']:,}"
        spread = (f" ± {item['accuracy_std']:.4f} (mean of {item['trials']} trials)"
                  if item["trials"] > 1 else "")
        params += "".join(f", {m} {format_metric(m, v)}" for m, v in item.items()
                          if m in OBJECTIVE_METRICS and m not in ("accuracy", "params"))
        click.echo(f"  {item['path'].name}  accuracy {item['accuracy']:.4f}{spread}{params}  "
                   f"{json.dumps(item['genome'], sort_keys=True)}")
    click.echo("  manifest.csv  (file, rank, trial_id, accuracy, accuracy_std, trials, trial_ids, "
               "params, ..., genome)")
