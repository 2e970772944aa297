"""Command-line options generated from a pydantic settings model: one description per
setting, shared by the ``--option`` help and the YAML settings file."""

from __future__ import annotations

import typing
from typing import Any, Callable

import click
from pydantic import BaseModel


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
