"""Repeatable performance runs. Each `bench_*.py` module prints one JSON line per figure.

`python -m benchmarks [NAME ...]` runs them, each in its own process so peak RSS figures
are the benchmark's own.
"""
