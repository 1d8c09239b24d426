"""Atomic output: a run writes into a staging folder that replaces the output folder on success.

A failed run leaves the previous output (if any) untouched and no half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def staged_folder(out_dir: Path) -> Iterator[Path]:
    """Yield a fresh staging folder beside ``out_dir``; on success swap it in, on error remove it.

    The swap is two renames on the same file system, so readers see either the old folder or the
    new one, never a mixture.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    # mkdtemp makes the folder private (0700); outputs are shared documents.
    staging.chmod(0o777 & ~_UMASK)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        old.rmdir()
        out_dir.rename(old)
    staging.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode(encoding))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as pretty UTF-8 JSON (Chinese kept readable)."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# ---------------------------------------------------------------- result files


def safe_filename(text: str) -> str:
    """``text`` without the characters Windows forbids in file names (``"unnamed"`` if empty)."""
    return "".join(ch for ch in str(text) if ch not in '\\/:*?"<>|').strip() or "unnamed"


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a table as UTF-8 CSV with a BOM (Excel opens it with the Chinese intact)."""
    write_text_atomic(path, frame.to_csv(index=False), encoding="utf-8-sig")


def _gpkg_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """GeoPackage columns must be plain types: object columns become text."""
    frame = frame.copy()
    for column in frame.columns:
        if column != "geometry" and frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: "" if v is None else str(v))
    return frame


def write_gpkg(path: Path, layers: Mapping[str, pd.DataFrame | None],
               tables: Mapping[str, pd.DataFrame] | None = None) -> None:
    """Write spatial layers (empty ones skipped) and plain tables into one GeoPackage."""
    for name, frame in layers.items():
        if frame is None or len(frame) == 0:
            continue
        _gpkg_ready(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    for name, frame in (tables or {}).items():
        pyogrio.write_dataframe(_gpkg_ready(frame), path, layer=name, driver="GPKG")


def file_record(path: Path) -> dict[str, Any]:
    """Path, size and SHA-256 of an input file, for ``run.json``."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest}


_VERSIONED = ("lifecircle", "numpy", "scipy", "pandas", "geopandas", "shapely", "pyogrio",
              "pyproj", "osmnx", "networkx", "rasterio", "folium", "highspy")


def package_versions() -> dict[str, str]:
    """Python's and the main dependencies' versions, for ``run.json``."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
