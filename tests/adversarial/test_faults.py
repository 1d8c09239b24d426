"""Faults while a run works: kill -9 while loading and while writing, Ctrl-C, the operating system
refusing a write (disk full, permission, read-only, name too long), two runs into one folder.

Afterwards the previous output is intact byte for byte, the next run leaves no litter, and the
console shows one line, never a traceback.

One real run of the sample district makes the previous output (module fixture); the in-process
fault cases replay only its writing step (loading and analysis return what that run computed),
and the kill cases run ``lifecircle run`` as a subprocess.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import lifecircle
from lifecircle import cli, pipeline
from lifecircle.errors import InputError
from lifecircle.output import MARKER

from .sample_copy import copy_sample, digests, one_line

pytestmark = pytest.mark.slow

runner = CliRunner()
REPO = Path(lifecircle.__file__).resolve().parents[1]
STUDY = "示范区"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample district copied, run once into out/示范区; what it loaded and computed kept."""
    root = tmp_path_factory.mktemp("faults")
    plan = copy_sample(root)
    out = root / "out" / STUDY
    kept = {}
    real_load, real_analyse = pipeline.load_inputs, pipeline.analyse

    def load(*args, **kwargs):
        kept["inputs"] = real_load(*args, **kwargs)
        return kept["inputs"]

    def analyse(*args, **kwargs):
        kept["result"] = real_analyse(*args, **kwargs)
        return kept["result"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "load_inputs", load)
        patch.setattr(pipeline, "analyse", analyse)
        result = runner.invoke(cli.app, ["run", str(plan), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return SimpleNamespace(root=root, plan=plan, out=out, previous=digests(out), **kept)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(cli.console, "width", 1000)


@pytest.fixture
def replay(sample, monkeypatch):
    """Runs in this test skip loading and analysis: they return the module run's results."""
    monkeypatch.setattr(pipeline, "load_inputs", lambda *a, **k: sample.inputs)
    monkeypatch.setattr(pipeline, "analyse", lambda *a, **k: sample.result)


def _litter(sample) -> list[str]:
    """Everything beside the output folder (staging, old copies, locks)."""
    return sorted(p.name for p in sample.out.parent.iterdir() if p.name != STUDY)


def _next_run_cleans_up(sample, monkeypatch) -> None:
    """A next run claims the folder (clearing what killed runs left) and stops on an input
    error: the previous output is intact and nothing is left beside it."""

    def stop(*args, **kwargs):
        raise InputError("stopped by the test after the output folder was claimed")

    monkeypatch.setattr(pipeline, "load_inputs", stop)
    result = runner.invoke(cli.app, ["run", str(sample.plan), "--out", str(sample.out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert one_line(result.output) == (
        "error: stopped by the test after the output folder was claimed"
    )
    assert _litter(sample) == []
    assert digests(sample.out) == sample.previous


def _start_run(sample, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("w") as handle:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lifecircle.cli",
                "run",
                str(sample.plan),
                "--out",
                str(sample.out),
            ],
            cwd=sample.root,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def _wait_for(condition, process: subprocess.Popen, log: Path, timeout_s: float = 300) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early ({process.returncode}): {log.read_text()}")
        time.sleep(0.01)
    process.kill()
    raise AssertionError("timed out waiting for the run")


def _staging(sample) -> list[Path]:
    return sorted(sample.out.parent.glob(f".{STUDY}.partial-*"))


def test_kill_9_while_loading(sample, tmp_path, monkeypatch):
    log = tmp_path / "run.log"
    process = _start_run(sample, log)
    lock = sample.out.parent / f".{STUDY}.lock"
    _wait_for(lock.exists, process, log)
    time.sleep(1.0)  # well inside loading the inputs
    assert process.poll() is None and _staging(sample) == [], "still loading"
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert digests(sample.out) == sample.previous
    assert _litter(sample) == [f".{STUDY}.lock"], "a killed run cannot remove its lock file"
    _next_run_cleans_up(sample, monkeypatch)


def test_kill_9_while_writing(sample, tmp_path, monkeypatch):
    log = tmp_path / "run.log"
    process = _start_run(sample, log)
    _wait_for(lambda: any((s / "gaps.csv").exists() for s in _staging(sample)), process, log)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert digests(sample.out) == sample.previous
    (staging,) = _staging(sample)
    assert (staging / "gaps.csv").exists() and (staging / MARKER).exists()
    assert _litter(sample) == sorted([f".{STUDY}.lock", staging.name])
    _next_run_cleans_up(sample, monkeypatch)


def test_ctrl_c_while_loading(sample, tmp_path):
    log = tmp_path / "run.log"
    process = _start_run(sample, log)
    _wait_for((sample.out.parent / f".{STUDY}.lock").exists, process, log)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    output = log.read_text(encoding="utf-8")
    assert "Traceback" not in output
    expected = f"已中断（Ctrl-C）：没有写出任何结果，{sample.out} 中原有的结果保持不变"
    assert "".join(output.split()) == "".join(expected.split())
    assert digests(sample.out) == sample.previous
    assert _litter(sample) == []


def test_ctrl_c_while_writing(sample, replay, monkeypatch):
    real_write = pipeline.write_text_atomic

    def interrupted(path, *args, **kwargs):
        if Path(path).name == "overview.html":
            raise KeyboardInterrupt
        real_write(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "write_text_atomic", interrupted)
    result = runner.invoke(
        cli.app, ["run", str(sample.plan), "--out", str(sample.out), "--lang", "en"]
    )
    assert result.exit_code == 130 and isinstance(result.exception, SystemExit)
    assert one_line(result.output) == (
        f"interrupted (Ctrl-C): nothing was written; the previous output in {sample.out} is "
        "untouched"
    )
    assert digests(sample.out) == sample.previous
    assert _litter(sample) == []


ENOSPC = (
    errno.ENOSPC,
    ("the disk is full \\([\\d,]+ MB free\\) while writing {file}: free some space and run again"),
)
EACCES = (
    errno.EACCES,
    (
        "permission denied writing {file}: choose an output folder you can write "
        "to \\(--out\\), or get write permission for it"
    ),
)
EROFS = (
    errno.EROFS,
    ("{file} is on a read-only file system: choose another output folder \\(--out\\)"),
)
ENAMETOOLONG = (
    errno.ENAMETOOLONG,
    (
        "a name is too long for the file system: {file}: choose a "
        "shorter output folder \\(--out\\) or study name"
    ),
)


@pytest.mark.parametrize(
    ("writer", "file", "fault"),
    [
        ("write_text_atomic", "overview.html", ENOSPC),
        ("write_text_atomic", "briefing.html", EACCES),
        ("write_results_gpkg", "results.gpkg", ENOSPC),
        ("write_csv", "rejected.csv", EROFS),
        ("write_text_atomic", "overview.html", ENAMETOOLONG),
    ],
    ids=["ENOSPC-html", "EACCES-html", "ENOSPC-gpkg", "EROFS-csv", "ENAMETOOLONG-html"],
)
def test_os_refuses_a_write(sample, replay, monkeypatch, writer, file, fault):
    code, message = fault
    real = getattr(pipeline, writer)

    def failing(*args, **kwargs):
        paths = [a for a in args if isinstance(a, Path) and a.name == file]
        if paths:
            raise OSError(code, os.strerror(code), str(paths[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, writer, failing)
    result = runner.invoke(cli.app, ["run", str(sample.plan), "--out", str(sample.out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    staged = re.escape(str(sample.out.parent)) + f"/\\.{STUDY}\\.partial-\\w+/" + re.escape(file)
    expected = (
        f"error: {message.format(file=staged)} — the previous output in "
        f"{re.escape(str(sample.out))} is untouched"
    )
    assert re.fullmatch(expected, one_line(result.output)), result.output
    assert digests(sample.out) == sample.previous
    assert _litter(sample) == []


def test_two_runs_into_one_folder(sample, tmp_path):
    """While one run works, a second into the same folder stops at once; the first finishes and
    replaces the output, leaving nothing beside it. (Last: it replaces the previous output.)"""
    log = tmp_path / "run.log"
    process = _start_run(sample, log)
    _wait_for((sample.out.parent / f".{STUDY}.lock").exists, process, log)
    started = time.monotonic()
    second = runner.invoke(cli.app, ["run", str(sample.plan), "--out", str(sample.out)])
    assert time.monotonic() - started < 5, "the second run stops before any work"
    assert second.exit_code == 1 and isinstance(second.exception, SystemExit)
    assert one_line(second.output) == (
        f"error: another lifecircle run (process {process.pid}) is writing {sample.out}: wait "
        "for it to finish, or choose another output folder (--out)"
    )
    assert process.wait(timeout=600) == 0, log.read_text(encoding="utf-8")
    assert _litter(sample) == []
    now = digests(sample.out)
    assert now != sample.previous and sorted(now) == sorted(sample.previous)
