"""Where a model runs: the device (``auto``: CUDA when present, ``cpu`` or ``cuda``) and, on a CPU, how many threads.

Why the thread count matters: torch's default is one intra-op thread per core, and a thread that waits for a core
another busy process holds spins. Beside one other busy process on two cores, a voice-conversion training with
torch's default two threads ran 11 times slower than with one, while on a quiet machine the second thread bought 3%
(``benchmarks/train.py --section threads``): ``train.threads`` is 1 unless set.
"""
from __future__ import annotations

import os

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a CUDA device is refused (RuntimeError)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is available")
    return torch.device(name)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it, else the core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_elsewhere(samples: int = 5) -> int:
    """Processes running or waiting for a core right now, besides this one: the median of a few readings of the
    running-task count in ``/proc/loadavg`` less the reader itself (0 where the system does not say)."""
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return 0
    return max(0, sorted(counts)[len(counts) // 2])


def cpu_threads(setting: int) -> int:
    """Intra-op CPU threads for a training run: ``setting`` when > 0; 0 (auto): the usable cores not busy with other
    work at the start (:func:`usable_cores` - :func:`busy_elsewhere`), at least 1.

    >>> cpu_threads(3)
    3
    >>> 1 <= cpu_threads(0) <= usable_cores()
    True
    """
    if setting > 0:
        return setting
    cores = usable_cores()
    return max(1, min(cores, cores - busy_elsewhere()))
