"""Helpers shared by the benchmarks: repeated timing, medians, ratios, subprocess timing."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


def time_call(func: Callable[[], object], repeat: int = 5) -> list[float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        samples.append(time.perf_counter() - began)
    return samples


def time_command(argv: Sequence[str], repeat: int = 7, env: dict[str, str] | None = None) -> list[float]:
    def once() -> None:
        subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)

    once()  # warm the page cache so the first sample is not an outlier
    return time_call(once, repeat)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("inf")
