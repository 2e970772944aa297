"""``raynas report DIR --watch``: rewrite the report while a run goes on.

A run is going on while a process holds its writer lock (``DIR/.writer.lock``, held by the
one driver writing the run; the OS drops it with the process). Every ``interval`` seconds
the report is rewritten with a meta refresh, so an open ``index.html`` reloads itself; once
no process holds the lock (the run ended, or was stopped) one last report is written
without the refresh and the watch ends. Ctrl-C ends it too, leaving the last report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from raynas.analysis.report import build_report, summary_lines
from raynas.results.store import ResultsError


def run_is_live(run_dir: Path) -> bool:
    """Whether a driver holds the run's writer lock now (tried without waiting, then freed)."""
    from filelock import FileLock, Timeout

    lock_file = Path(run_dir) / ".writer.lock"
    if not lock_file.exists():
        return False
    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def watch_report(run_dir: Path, out: Path | None, interval: float,
                 echo: Callable[[str], None] = print) -> int:
    """Report ``run_dir`` every ``interval`` seconds while its run is live; the exit status.

    Waits for the first rows (a run that has just started has none); 0 when the run ended,
    130 on Ctrl-C, 2 when the folder never held results and no run is live.
    """
    last_total = -1
    try:
        while True:
            live = run_is_live(run_dir)
            try:
                report = build_report(run_dir, out, refresh_seconds=interval if live else None)
            except ResultsError as err:
                if not live:
                    echo(f"raynas report: error: {err}")
                    return 2
                time.sleep(interval)  # the run has started but written nothing yet
                continue
            if report.total != last_total or not live:
                echo(f"[{time.strftime('%H:%M:%S')}] " + " | ".join(summary_lines(report)[1:3]))
                last_total = report.total
            if not live:
                for line in summary_lines(report):
                    echo(line)
                return 0
            time.sleep(interval)
    except KeyboardInterrupt:
        echo("raynas report: watch stopped; the last report is in place")
        return 130
