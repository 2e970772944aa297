"""``raynas.bench.cpu_usage``: CPU time by role over this process's tree, from ``/proc``."""

import subprocess
import sys
import time

import pytest

from raynas.bench.cpu_usage import ROLES, CpuReading

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_child_process_counts_as_ray_and_this_process_as_driver():
    before = CpuReading.take()
    child = subprocess.Popen([sys.executable, "-c",
                              "import time\nend = time.process_time() + 0.4\n"
                              "while time.process_time() < end: pass\ntime.sleep(30)"])
    try:
        burn(0.3)
        time.sleep(1.0)  # the child burns its 0.4 s (on the other core or after us)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            used = CpuReading.take().since(before)
            if used["ray"] >= 0.35:
                break
            time.sleep(0.2)
    finally:
        child.kill()
        child.wait()
    assert set(used) == set(ROLES)
    assert used["driver"] >= 0.25         # this process's own burn
    assert 0.35 <= used["ray"] < 2.0      # the child: not a Tune trainable, so "ray"
    assert used["trials"] == 0.0


def test_a_reading_without_processes_is_empty_and_since_never_goes_negative():
    empty = CpuReading()
    assert empty.since(empty) == {role: 0.0 for role in ROLES}
    later = CpuReading.take()
    assert all(value >= 0.0 for value in later.since(later).values())
    assert later.processes  # at least this process
