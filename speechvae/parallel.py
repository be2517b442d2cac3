"""Where per-utterance work runs: in this process, a local process pool, or a Dask cluster.

Every backend returns results in input order, so what is written afterwards does not depend
on the backend or the number of workers.

Dask (``pip install 'speechvae[dask]'``): ``scheduler="local"`` starts a ``LocalCluster`` with
``jobs`` single-threaded worker processes; ``scheduler="tcp://HOST:PORT"`` uses an existing
cluster, whose workers must import speechvae and see the same paths (a shared file system).
A task whose worker dies is re-run on another worker by the scheduler (``retries`` covers
errors raised inside a task as well).

>>> with task_runner() as run:
...     run(abs, [-1, 2, -3])
[1, 2, 3]
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, Sequence

from speechvae.console import progress_bar

log = logging.getLogger(__name__)

Runner = Callable[..., list]  # run(fn, items, desc="", progress=True) -> [fn(x) for x in items]


@contextmanager
def task_runner(jobs: int = 1, scheduler: str | None = None) -> Iterator[Runner]:
    """Open a backend once (pool or cluster) and yield ``run(fn, items, desc, progress)``."""
    with ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(_dask_client(scheduler, jobs))
            submit = lambda fn, items, bar: _dask_map(client, fn, items, bar)
        elif jobs > 1:
            pool = stack.enter_context(_process_pool(jobs))
            submit = lambda fn, items, bar: [_tick(r, bar) for r in pool.map(fn, items, chunksize=1)]
        else:
            submit = lambda fn, items, bar: [_tick(fn(x), bar) for x in items]

        def run(fn: Callable, items: Sequence, desc: str = "", progress: bool = True) -> list:
            with progress_bar(total=len(items), desc=desc, unit="task", enabled=progress and bool(desc)) as bar:
                return submit(fn, list(items), bar)

        yield run


def end_with_parent(owner_pid: int) -> None:
    """Make this worker process end when ``owner_pid`` (the command that started it) dies, however it dies
    (SIGKILL by an out-of-memory killer or a batch scheduler included): a pool worker blocks on a queue
    whose other end it holds itself, so it would never notice. Linux: the kernel's parent-death signal;
    everywhere (and for a parent that died before the signal was armed, or a fork server between the two)
    a daemon thread that checks twice a second that its parent and the owner are still there."""
    parent = os.getppid()  # the owner, or a fork server started by it
    die_with_parent()

    def alive() -> bool:
        if os.getppid() != parent:  # re-parented: whoever started us is gone
            return False
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, another user's: cannot be ours, but do not guess
            pass
        return True

    if not alive():
        os._exit(1)

    def watch() -> None:
        while alive():
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="speechvae-parent-watch", daemon=True).start()


def die_with_parent() -> None:
    """Linux: ask the kernel to SIGKILL this process when its parent dies (elsewhere: nothing). Safe between fork
    and exec, so a child process that is not Python can be made to end with its parent
    (``subprocess.run(..., preexec_fn=die_with_parent)``)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _worker_init(parent_pid: int) -> None:
    # Ctrl-C reaches every process of the terminal's group: workers leave it to the parent, which
    # stops the pool and reports once (no traceback per worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end_with_parent(parent_pid)


@contextmanager
def _process_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:  # interrupted or failed: drop the queued tasks instead of running them all
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _tick(r, bar):
    bar.update(1)
    return r


@contextmanager
def _dask_client(scheduler: str, jobs: int):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise RuntimeError("--scheduler needs Dask: pip install 'speechvae[dask]'") from None
    with ExitStack() as stack:
        if scheduler == "local":
            cluster = stack.enter_context(LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            address = cluster.scheduler_address
            log.info("started a Dask LocalCluster with %d workers at %s", max(jobs, 1), address)
        else:
            address = scheduler
        yield stack.enter_context(Client(address))


def _dask_map(client, fn, items, bar) -> list:
    from distributed import as_completed

    futures = client.map(fn, items, pure=False, retries=3)
    for _ in as_completed(futures):
        bar.update(1)
    return client.gather(futures)
