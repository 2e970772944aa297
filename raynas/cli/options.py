"""Command-line options generated from a pydantic settings model: one description per
setting, shared by the ``--option`` help and the YAML settings file."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Callable

import click
from pydantic import BaseModel

from raynas.cli.errors import CommandError


def run_options(resume_help: str) -> Callable[[Any], Any]:
    """The options every run command has: ``-c/--config FILE``, ``--resume DIR`` (with
    ``resume_help``) and ``-q/--quiet``; they reach the command as ``config_file``,
    ``resume_dir`` and ``quiet``."""

    def decorate(command: Any) -> Any:
        command = click.option("-q", "--quiet", is_flag=True, help="No progress display.")(command)
        command = click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
                               help=resume_help)(command)
        return click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False),
                            help="YAML file with any of these settings (command-line values "
                                 "win).")(command)

    return decorate


def given_settings(config_file: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The settings given: the ``-c`` file's values, then the options given on the command
    line (not None); :class:`CommandError` for a missing file."""
    from raynas.run.settings import load_yaml

    if config_file and not Path(config_file).is_file():
        raise CommandError(f"-c {config_file}: no such settings file")
    file_values = load_yaml(config_file) if config_file else None
    return {**(file_values or {}), **{k: v for k, v in options.items() if v is not None}}


def settings_options(model: type[BaseModel], skip: tuple[str, ...] = ()) -> Callable[[Any], Any]:
    """A decorator adding one ``--option`` per field of ``model`` (its description is the
    help, its default shown in brackets); every option defaults to ``None`` (= not given),
    so given values can override a file's or a run's."""

    def decorate(command: Any) -> Any:
        for name, field in reversed(list(model.model_fields.items())):
            if name in skip:
                continue
            flag = "--" + name.replace("_", "-")
            kind = next((arg for arg in typing.get_args(field.annotation)
                         if arg is not type(None)), field.annotation)
            default = "" if field.default is None else f" [{field.default}]"
            if typing.get_origin(kind) is list:  # repeatable; not given: None
                item = (typing.get_args(kind) or (str,))[0]
                option = click.option(flag, name, type=item, multiple=True, default=None,
                                      callback=lambda _ctx, _param, value: list(value) or None,
                                      help=f"{field.description}")
            elif kind is bool:
                option = click.option(f"{flag}/--no-{flag[2:]}", name, default=None,
                                      help=f"{field.description}{default}")
            else:
                option = click.option(flag, name, type=kind, default=None,
                                      help=f"{field.description}{default}")
            command = option(command)
        return command

    return decorate
