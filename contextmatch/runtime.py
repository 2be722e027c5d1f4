"""CPU thread settings: use the cores this process may run on, not those of the whole host."""

from __future__ import annotations

import os
from pathlib import Path

import torch


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
