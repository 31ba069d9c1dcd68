"""Two different CPU-bound tasks for the MIMD demonstration (imported by the notebook and by the
worker processes of a process pool, which cannot run functions defined inside a notebook)."""
import time

import numpy as np


def count_primes(limit: int) -> int:
    """Pure Python: holds the GIL the whole time."""
    count = 0
    for candidate in range(2, limit):
        divisor = 2
        while divisor * divisor <= candidate:
            if candidate % divisor == 0:
                break
            divisor += 1
        else:
            count += 1
    return count


def sum_of_digits(limit: int) -> int:
    """Pure Python too, but a different task: the digits of every number below limit."""
    return sum(sum(map(int, str(number))) for number in range(limit))


def sort_random(n_items: int) -> float:
    """NumPy: the sort runs in C and releases the GIL, so threads can overlap it."""
    values = np.random.default_rng(n_items).random(n_items)
    values.sort()
    return float(values[n_items // 2])


def on_cpu(task, arg) -> tuple[object, float]:
    """Run task(arg); return its result and the CPU seconds this thread spent on it. Waiting for the
    GIL costs no CPU time, so the CPU seconds of all tasks divided by the wall time is the number of
    cores that were really busy."""
    started = time.thread_time()
    result = task(arg)
    return result, time.thread_time() - started
