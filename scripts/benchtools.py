"""Helpers shared by the benchmark scripts (``python scripts/bench_*.py`` puts this folder on the path)."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    The warm-up absorbs one-off costs (oneDNN kernel selection, allocator growth,
    lazy imports); the median ignores the odd slow call on a shared machine.

    Examples
    --------
    >>> median_seconds(lambda: None, repeats=3) < 0.01
    True
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
