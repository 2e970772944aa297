"""The ``raynas`` command line (click). Each sub-command lives in its own module."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="raynas")
def main() -> None:
    """raynas: evolutionary neural-architecture search for PyTorch on Ray."""


@main.command("list")
def list_command() -> None:
    """List the registered search spaces, strategies and datasets."""
    import raynas.spaces
    import raynas.strategies

    click.echo("spaces:     " + ", ".join(raynas.spaces.names()))
    click.echo("strategies: " + ", ".join(raynas.strategies.names()))
    try:
        from raynas.datasets import names as dataset_names
    except ImportError:  # pragma: no cover - datasets not built yet
        return
    click.echo("datasets:   " + ", ".join(dataset_names()))


def _add_commands() -> None:
    """Attach the sub-commands that live in their own modules."""
    import importlib

    for module_name, attr in [
        ("raynas.bench", "bench_command"),
        ("raynas.evolve_cli", "evolve_command"),
        ("raynas.report", "report_command"),
        ("raynas.export", "export_command"),
        ("raynas.train_cli", "train_command"),
        ("raynas.overhead_bench", "bench_overhead_command"),
    ]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        main.add_command(getattr(module, attr))


_add_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
