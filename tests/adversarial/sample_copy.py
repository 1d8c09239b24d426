"""Shared helpers of the output, plan and fault cases: a private copy of the sample district,
file digests to prove files are intact byte for byte, and the CLI's one-line output."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from lifecircle.data import data_path


def copy_sample(dest: Path) -> Path:
    """Copy the sample district (plan, registers, network, boundaries) under ``dest``; return the
    copied plan file (its relative paths still resolve)."""
    shutil.copytree(data_path("sample"), dest / "sample")
    (dest / "boundaries").mkdir()
    shutil.copy2(data_path("boundaries", "sample_townships.geojson"), dest / "boundaries")
    return dest / "sample" / "plan.toml"


def edit_plan(plan: Path, old: str, new: str) -> Path:
    """Replace the first ``old`` in the plan text by ``new`` (``old`` must be there)."""
    text = plan.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {plan}"
    plan.write_text(text.replace(old, new, 1), encoding="utf-8")
    return plan


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (hidden ones too), by relative path."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def one_line(output: str) -> str:
    """The CLI output with whitespace runs folded (rich may wrap a long line)."""
    return " ".join(output.split())
