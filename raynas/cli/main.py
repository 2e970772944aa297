"""The ``raynas`` command line (click). Each sub-command lives in its own module and is
imported only when it runs, so ``raynas list`` does not pay for torch and Ray."""

from __future__ import annotations

import importlib

import click

# command name -> (module, click command attribute)
COMMANDS = {
    "evolve": ("raynas.cli.evolve", "evolve_command"),
    "oneshot": ("raynas.cli.oneshot", "oneshot_command"),
    "bench": ("raynas.cli.bench", "bench_command"),
    "bench-overhead": ("raynas.cli.bench", "bench_overhead_command"),
    "bench-fidelity": ("raynas.cli.bench", "bench_fidelity_command"),
    "bench-results": ("raynas.cli.bench_results", "bench_results_command"),
    "report": ("raynas.cli.report", "report_command"),
    "export": ("raynas.cli.export", "export_command"),
    "train": ("raynas.cli.train", "train_command"),
    "repair": ("raynas.cli.repair", "repair_command"),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module_name, attr = COMMANDS[name]
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="raynas")
def main() -> None:
    """raynas: evolutionary neural-architecture search for PyTorch on Ray."""


@main.command("list")
def list_command() -> None:
    """List the registered search spaces, strategies and datasets (imports no torch)."""
    import raynas.spaces
    import raynas.strategies
    from raynas import datasets

    for name in raynas.spaces.names():
        info = raynas.spaces.info(name)
        shape = "x".join(str(n) for n in info.input_shape)
        click.echo(f"space     {name:<14} input {shape}, {info.num_classes} classes")
    for name in raynas.strategies.names():
        click.echo(f"strategy  {name}")
    for name in datasets.BUILTIN:
        click.echo(f"dataset   {name}")


if __name__ == "__main__":  # pragma: no cover
    main()
