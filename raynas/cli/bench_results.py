"""``raynas bench-results``: the command-line face of :mod:`raynas.bench.results_scale`."""

from __future__ import annotations

from raynas.bench.results_scale import command

bench_results_command = command()
