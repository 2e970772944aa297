"""Benchmarks: strategies on the NAS-Bench-201 table, and the overhead of the Ray path."""
