"""lifecircle.parallel.fork_map: order, progress while ``meanwhile`` runs, the serial fallback."""

from __future__ import annotations

import os
import threading

import pytest

from lifecircle.parallel import can_fork, fork_map


def _scaled(factor: int, chunk: int) -> tuple[int, int]:
    return chunk * factor, os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_order_with_every_count_reported_once(workers):
    reported = []
    results = fork_map(
        _scaled,
        10,
        list(range(7)),
        workers=workers,
        progress=lambda done, total: reported.append((done, total)),
    )
    assert [value for value, _ in results] == [0, 10, 20, 30, 40, 50, 60]
    assert reported == [(k, 7) for k in range(8)]
    forked = {pid for _, pid in results} != {os.getpid()}
    assert forked == can_fork(workers)


@pytest.mark.skipif(not can_fork(2), reason="needs fork")
def test_progress_arrives_while_meanwhile_runs():
    all_done = threading.Event()
    seen_during_meanwhile = []

    def progress(done, total):
        if done == total:
            all_done.set()

    def meanwhile():
        # The workers finish while this process is still busy here: their progress must not
        # wait for it.
        seen_during_meanwhile.append(all_done.wait(timeout=60))

    results = fork_map(_scaled, 1, [1, 2, 3], workers=2, progress=progress, meanwhile=meanwhile)
    assert [value for value, _ in results] == [1, 2, 3]
    assert seen_during_meanwhile == [True]


def test_meanwhile_runs_once_in_the_serial_fallback():
    calls = []
    results = fork_map(_scaled, 2, [5], workers=2, meanwhile=lambda: calls.append(os.getpid()))
    assert results == [(10, os.getpid())]
    assert calls == [os.getpid()]
