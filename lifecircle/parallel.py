"""Run a function over chunks of work in forked processes that inherit the caller's state.

Forked children share the parent's memory (the network, a run's frames) copy-on-write, so only
the chunks go out and the results come back pickled. Where fork is unavailable (Windows,
macOS's default), with one worker or one chunk, or inside a daemonic process (a dask or
multiprocessing worker, as in batch runs, may not fork) the chunks run here, in order.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing as mp
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["can_fork", "default_workers", "fork_map"]

T = TypeVar("T")
R = TypeVar("R")

_JOB: tuple[Callable[[Any, Any], Any], Any] | None = None


def default_workers(workers: int | None = None) -> int:
    """``workers`` if given, else the processes a run uses for its parallel steps: two where
    the machine has them (the steps are memory-bound; more rarely pays on a laptop)."""
    return workers if workers is not None else min(2, os.cpu_count() or 1)


def can_fork(workers: int) -> bool:
    """Whether :func:`fork_map` with ``workers`` would use child processes."""
    return workers > 1 and "fork" in mp.get_all_start_methods() and not mp.current_process().daemon


def fork_map(
    function: Callable[[Any, T], R],
    state: Any,
    chunks: Sequence[T],
    *,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> list[R]:
    """``[function(state, chunk) for chunk in chunks]``, over ``workers`` forked processes.

    ``state`` is inherited, never pickled; each result is pickled back. Results come in the
    order of ``chunks``; ``progress(done, total)`` is called first with 0, then as each chunk
    finishes (from a helper thread while ``meanwhile`` runs). ``meanwhile()`` runs in this
    process while the workers work (it must not fork): a single-threaded step that needs none
    of the results takes the time this process would spend waiting.
    """
    report = progress or (lambda done, total: None)
    report(0, len(chunks))
    if len(chunks) < 2 or not can_fork(workers):
        if meanwhile is not None:
            meanwhile()
        results = []
        for chunk in chunks:
            results.append(function(state, chunk))
            report(len(results), len(chunks))
        return results
    global _JOB
    _JOB = (function, state)
    finished = itertools.count(1)
    lock = threading.Lock()

    def one_done(_: Future) -> None:
        with lock:  # counts reach the callback in order
            report(next(finished), len(chunks))

    # Children would otherwise run the cyclic GC over the parent's whole heap, copying its
    # pages on write; frozen objects are never scanned.
    gc.freeze()
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("fork"),
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            futures = [pool.submit(_run_chunk, chunk) for chunk in chunks]  # forked, busy now
            for future in futures:
                future.add_done_callback(one_done)
            if meanwhile is not None:
                meanwhile()
            return [future.result() for future in futures]
    finally:
        gc.unfreeze()
        _JOB = None


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when its parent dies (Linux): a run killed with
    ``kill -9`` would otherwise leave its workers writing into the run's staging folder after
    the next run cleaned it up."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _run_chunk(chunk: Any) -> Any:
    assert _JOB is not None, "run only in a worker of fork_map"
    function, state = _JOB
    return function(state, chunk)
