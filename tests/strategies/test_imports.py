"""Strategies and the benchmark are pure: importing them loads neither ray nor torch."""

from __future__ import annotations

import json
import subprocess
import sys


def test_no_ray_no_torch() -> None:
    code = """
import json, sys
import raynas.strategies
import raynas.bench.nb201, raynas.bench.table
print(json.dumps(sorted(m for m in ("ray", "torch") if m in sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_strategies_import_numpy_and_the_space_only() -> None:
    code = """
import json, sys
before = set(sys.modules)
import raynas.strategies
heavy = ("pandas", "pyarrow", "rich", "scipy", "sklearn", "ray", "torch")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
