"""Helpers for benchmarks: timing, peak memory, and the one output format."""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Timer:
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


@contextmanager
def timed() -> Iterator[Timer]:
    timer = Timer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - start


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(benchmark: str, metric: str, value: float, unit: str, **context: object) -> None:
    """Print one figure as a JSON line: the format `make bench` promises."""
    line = {"benchmark": benchmark, "metric": metric, "value": round(value, 4), "unit": unit, **context}
    print(json.dumps(line, sort_keys=False), flush=True)
    sys.stdout.flush()
