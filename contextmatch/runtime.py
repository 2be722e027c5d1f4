"""CPU thread settings: use the cores this process may run on, not those of the whole host."""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota (containers) when one is set.

    >>> available_cores() >= 1
    True
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota() -> int | None:
    """Whole CPUs allowed by a cgroup v2 ``cpu.max`` quota, or ``None`` without one."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else max(1, int(quota) // int(period))


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads to ``threads``, or to :func:`available_cores` when torch's default (the host's
    physical cores) is more than the process may use; returns the number in use.

    Also turns off the tokenizers' own thread pool unless ``TOKENIZERS_PARALLELISM`` is set: tokenizing is a small
    share of the work, and its idle threads would spin on the cores torch's threads need."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    wanted = threads or min(torch.get_num_threads(), available_cores())
    if wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)
    return torch.get_num_threads()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 1) -> Iterator[R]:
    """``map(fn, items)``, in order. With ``workers`` > 1, items run on that many threads at once, torch on one
    thread in each (restored when the iteration ends), at most ``2 * workers`` items in flight.

    Small batches keep two cores busier as two one-thread streams than as one two-thread stream: each operation
    is too short to split well (``benchmarks/throughput.py``). ``fn`` must not change shared state.

    >>> list(ordered_map(lambda x: x * x, range(6), workers=2))
    [0, 1, 4, 9, 16, 25]
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,))
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)
