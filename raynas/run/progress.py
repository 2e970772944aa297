"""Live progress: the one rich bar helper (:func:`progress_bar`, used by ``evolve``,
``train`` and ``bench``) and a run's trials done, running, failed, rejected, best so far."""

from __future__ import annotations

import math
import sys
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from raynas.results.store import Status


def progress_bar(label: str, *fields: str, console: Console | None = None,
                 remaining: bool = True, transient: bool = False) -> Progress:
    """A rich bar: ``label``, the bar, ``done/total``, each of ``fields`` (a task field shown
    as ``{task.fields[name]}``), the elapsed and (``remaining``) the remaining time. On
    ``console`` (default: stderr)."""
    columns: list[Any] = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn(f"{{task.fields[{name}]}}") for name in fields]
    columns.append(TimeElapsedColumn())
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console or Console(stderr=True), transient=transient)


class RunProgress:
    """A progress bar on stderr (a plain line per trial when stderr is not a terminal)."""

    def __init__(self, total: int, done: int = 0, best: float | None = None, quiet: bool = False):
        self.console = Console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.quiet = quiet
        self.total = total
        self.counts = {status.value: 0 for status in Status}
        self.running = 0
        self.done = done
        self.best = best
        self._bar = progress_bar("[bold]trials", "status", console=self.console,
                                 remaining=False)
        self._task = self._bar.add_task("trials", total=total, completed=done, status=self._status())

    def _status(self) -> str:
        best = "-" if self.best is None else f"{self.best:.4f}"
        stopped = f"stopped {self.counts['stopped']}  " if self.counts["stopped"] else ""
        return (f"running {self.running}  {stopped}failed {self.counts['failed']}  "
                f"rejected {self.counts['rejected']}  best {best}")

    def __enter__(self) -> "RunProgress":
        if self.live:
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self._bar.stop()

    def started(self) -> None:
        self.running += 1
        self._refresh()

    def finished(self, row: dict[str, Any], was_running: bool = True) -> None:
        status = row["status"]
        self.counts[status] += 1
        self.done += 1
        if was_running:
            self.running = max(0, self.running - 1)
        accuracy = row.get("accuracy")
        if status == Status.COMPLETED and accuracy is not None and not math.isnan(accuracy):
            self.best = accuracy if self.best is None else max(self.best, accuracy)
        if not self.live and not self.quiet:
            figure = f"accuracy {accuracy:.4f}" if status == Status.COMPLETED else \
                f"accuracy {accuracy:.4f} after {row.get('epochs')} epoch(s)" \
                if status == Status.STOPPED and accuracy is not None else \
                (row.get("error") or "").splitlines()[0][:100]
            print(f"[{self.done}/{self.total}] trial {row['order']} {status}: {figure}",
                  file=sys.stderr, flush=True)
        self._refresh()

    def _refresh(self) -> None:
        self._bar.update(self._task, completed=self.done, status=self._status())
