"""Timing helpers. On a shared, noisy machine take the best of a few runs, and compare runs made
side by side in one go (ratios), never against a fixed number of seconds."""
from __future__ import annotations

import time


class Timer:
    """`with Timer() as t: ...` then `t.seconds`."""

    def __enter__(self) -> "Timer":
        self.started = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started


def best_time(function, *args, repeat: int = 3, **kwargs) -> float:
    """The shortest wall time of `repeat` calls of function(*args, **kwargs), in seconds."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    best = float("inf")
    for _ in range(repeat):
        with Timer() as timer:
            function(*args, **kwargs)
        best = min(best, timer.seconds)
    return best
