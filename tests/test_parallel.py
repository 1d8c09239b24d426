"""lifecircle.parallel.fork_map: order, progress while ``meanwhile`` runs, the serial fallback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

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


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal")
def test_workers_die_with_a_killed_parent(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, time
            from pathlib import Path
            from lifecircle.parallel import fork_map

            def work(folder, chunk):
                Path(folder, str(os.getpid())).write_text("")
                time.sleep(120)

            fork_map(work, {str(tmp_path)!r}, [1, 2], workers=2)
            """
        )
    )
    parent = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("[0-9]*"))) < 2:
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.05)
    workers = [int(p.name) for p in tmp_path.glob("[0-9]*")]
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # a zombie left for init to reap counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)
