"""CPU time of this process and everything it started (a local Ray's GCS, raylet and workers),
by role, from ``/proc`` (Linux; elsewhere the readings are empty).

``CpuReading.take()`` before and after a run, then ``after.since(before)`` gives the CPU
seconds each role used in between: ``driver`` (this process), ``trials`` (Ray workers that ran
Tune trainables, ``ray::ImplicitFunc`` and the like) and ``ray`` (the GCS, the raylet, the
other Ray workers and helpers). A process that ended in between is not counted, so a run
that starts a worker per trial (Tune's defaults) reads low.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("driver", "trials", "ray")
_TRIAL_MARKERS = ("ray::ImplicitFunc", "ray::_Inner", "ray::Trainable")


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):  # not a POSIX system with /proc
        return 100


_TICKS_PER_SECOND = _ticks_per_second()


def _stat(pid: int) -> tuple[int, float, str] | None:
    """``(parent pid, CPU seconds, command name)`` of a process, ``None`` if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    # fields from the 3rd of proc(5): state, ppid, ..., utime (14th), stime (15th)
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND, name


def _role(pid: int, name: str, root: int) -> str:
    if pid == root:
        return "driver"
    if any(name.startswith(marker[:15]) for marker in _TRIAL_MARKERS):  # comm: 15 characters
        return "trials"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        command = ""
    return "trials" if any(marker in command for marker in _TRIAL_MARKERS) else "ray"


@dataclass
class CpuReading:
    """CPU seconds so far of every process in this process's tree (pid -> (role, seconds))."""

    processes: dict[int, tuple[str, float]] = field(default_factory=dict)

    @classmethod
    def take(cls) -> "CpuReading":
        """Read the CPU time of this process and all its descendants now."""
        root = os.getpid()
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return cls()
        stats = {pid: s for pid in pids if (s := _stat(pid)) is not None}
        children: dict[int, list[int]] = {}
        for pid, (parent, _, _) in stats.items():
            children.setdefault(parent, []).append(pid)
        reading, todo = cls(), [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                _, seconds, name = stats[pid]
                reading.processes[pid] = (_role(pid, name, root), seconds)
            todo.extend(children.get(pid, []))
        return reading

    def since(self, before: "CpuReading") -> dict[str, float]:
        """CPU seconds used by each role (:data:`ROLES`) between ``before`` and this reading."""
        used: Counter[str] = Counter({role: 0.0 for role in ROLES})
        for pid, (role, seconds) in self.processes.items():
            used[role] += seconds - before.processes.get(pid, (role, 0.0))[1]
        return {role: max(0.0, used[role]) for role in ROLES}
