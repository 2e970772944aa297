"""The one error path of the command line: bad input becomes ``raynas CMD: error: MESSAGE``
on stderr and exit status 2 (click's ``ClickException`` machinery)."""

from __future__ import annotations

import functools
from typing import IO, Any, Callable, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """Bad input to a command: printed as ``raynas CMD: error: MESSAGE``, exit status 2."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        ctx = click.get_current_context(silent=True)
        self.command = ctx.command_path if ctx is not None else "raynas"

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{self.command}: error: {self.format_message()}", err=True, file=file)


def user_errors(command: F) -> F:
    """Turn the errors raynas raises for bad input (``ValueError`` and its kin: ``RunError``,
    ``ResultsError``; pydantic's ``ValidationError`` with each field named;
    ``FileNotFoundError``; any ``OSError`` naming a file, such as a read-only place) into a
    :class:`CommandError`."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        try:
            return command(*args, **kwargs)
        except ValidationError as err:
            from raynas.run.settings import explain

            raise CommandError(explain(err)) from None
        except (ValueError, FileNotFoundError) as err:
            raise CommandError(str(err)) from None
        except OSError as err:  # a place that cannot be written (read-only, full, no access)
            if err.filename is None:
                raise
            raise CommandError(f"{err.filename}: {err.strerror or err}") from None

    return wrapper  # type: ignore[return-value]
