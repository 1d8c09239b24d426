"""Output folders lifecircle owns: checked before the work, locked, and replaced atomically.

A run writes into a staging folder beside the output folder; only when everything succeeded does
the staging folder replace the output folder (two renames on the same file system, with Ctrl-C held
back for that instant). The rules:

* lifecircle replaces only a folder it wrote itself: each output folder holds a marker file
  (:data:`MARKER`) listing the files written. Anything else at the output path (a file, a folder
  with the user's own files, the plan's folder, the current folder) stops the run before any work,
  with one line naming the path and the fix. An empty folder may be used.
* :func:`claim_output` checks up front that the output can be written (name, parent, permission),
  takes a lock beside the output (two runs into one folder: the second stops at once), and removes
  staging folders that killed runs left behind (only those carrying lifecircle's marker).
* Disk full, permission denied or a name too long while writing end in one :class:`OutputError`
  line; the staging folder is removed and the previous output stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import platform
import re
import shutil
import signal
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecircle.errors import LifecircleError, OutputError
from lifecircle.hashing import file_sha256

if TYPE_CHECKING:
    import pandas as pd

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

MARKER = ".lifecircle-output.json"
"""Marker file written into every output and staging folder lifecircle creates."""

NAME_MAX_BYTES = 255
# Room kept for the staging and lock names beside the output: ".<name>.partial-xxxxxxxx".
_STAGING_ROOM = 24
_WINDOWS_FORBIDDEN = frozenset('<>:"/\\|?*')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))}
)
# Files a desktop drops into any folder it shows; they do not make a folder the user's.
_DESKTOP_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def folder_name(
    text: object, *, fallback: str = "unnamed", max_bytes: int = NAME_MAX_BYTES - _STAGING_ROOM
) -> str:
    """``text`` made safe as one file or folder name on any common file system.

    Separators, characters Windows forbids and control characters become ``_``; leading and
    trailing dots and spaces go (so ``.`` and ``..`` cannot name a parent); Windows device names
    get a ``_`` in front; the name is cut to ``max_bytes`` of UTF-8 at a character boundary.

    Examples
    --------
    >>> folder_name("..")
    'unnamed'
    >>> folder_name("a/b\\x00c")
    'a_b_c'
    """
    text = unicodedata.normalize("NFC", str(text)).strip()
    name = "".join(
        "_" if ch in _WINDOWS_FORBIDDEN or unicodedata.category(ch).startswith("C") else ch
        for ch in text
    )
    name = name.strip(". \t")
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = f"_{name}"
    name = name.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore").rstrip(". ")
    return name or fallback


def _name_max(folder: Path) -> int:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return NAME_MAX_BYTES


def _previous(out: Path) -> str:
    try:
        previous = out.is_dir() and any(out.iterdir())
    except OSError:  # the name itself is too long
        previous = False
    if previous:
        return f"the previous output in {out} is untouched"
    return f"nothing was written to {out}"


def describe_os_error(exc: OSError, out: Path) -> str:
    """One line for an operating-system error met while writing ``out``: what, where, the fix."""
    where = Path(exc.filename) if exc.filename else out
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        try:
            free = f" ({shutil.disk_usage(out.parent).free / 1e6:,.0f} MB free)"
        except OSError:
            free = ""
        what = f"the disk is full{free} while writing {where}: free some space and run again"
    elif code in (errno.EACCES, errno.EPERM):
        what = (
            f"permission denied writing {where}: choose an output folder you can write to "
            "(--out), or get write permission for it"
        )
    elif code == errno.EROFS:
        what = f"{where} is on a read-only file system: choose another output folder (--out)"
    elif code in (errno.ENOTDIR, errno.EEXIST):
        what = f"{where} is a file, not a folder: choose another output folder (--out)"
    elif code == errno.ENOENT:
        what = f"{where} cannot be created here: choose another output folder (--out)"
    elif code == errno.ENAMETOOLONG:
        what = (
            f"a name is too long for the file system: {where}: choose a shorter output "
            "folder (--out) or study name"
        )
    else:
        what = f"cannot write {where}: {exc.strerror or exc}"
    return f"{what} — {_previous(out)}"


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("lifecircle") else None


def _write_marker(folder: Path, state: str, target: str, **extra: Any) -> None:
    record = {"lifecircle": state, "target": target, **extra}
    (folder / MARKER).write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")


def _legacy_manifest(folder: Path) -> set[str] | None:
    """Files of an output folder written before markers existed (from its run.json)."""
    try:
        record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (
        isinstance(record, dict)
        and "lifecircle" in record.get("versions", {})
        and isinstance(record.get("outputs"), list)
    ):
        return None
    return {*map(str, record["outputs"]), "run.json"}


def _entries(folder: Path) -> list[str]:
    """Every file (and link) under ``folder``, as relative POSIX paths, links not followed."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root).relative_to(folder)
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        found += [(here / name).as_posix() for name in (*files, *links)]
    return sorted(found)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class _Lock:
    """An exclusive lock on ``.<name>.lock`` beside the output; the file goes when released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, out: Path) -> None:
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
            try:
                _lock_fd(fd)
            except OSError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputError(
                    f"another lifecircle run (process {holder}) is writing {out}: wait for it "
                    "to finish, or choose another output folder (--out)"
                ) from None
            # A run that just finished unlinks the lock file: lock the file that is at the path.
            try:
                current = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                current = False
            if current:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                _LOCK_FDS.add(fd)
                return
            os.close(fd)
        raise OutputError(f"cannot take the lock {self.path}: remove it and run again")

    def release(self) -> None:
        if self.fd is None:
            return
        _LOCK_FDS.discard(self.fd)
        if fcntl is None:  # pragma: no cover - Windows cannot remove an open file
            os.close(self.fd)
        with contextlib.suppress(OSError):
            self.path.unlink()
        if fcntl is not None:
            os.close(self.fd)
        self.fd = None


#: Descriptors of the output locks this process holds.
_LOCK_FDS: set[int] = set()


def _close_inherited_locks() -> None:
    """In a process forked during a run (service-area workers), let go of the run's locks, so
    they end with the run itself, also when it is killed."""
    for fd in list(_LOCK_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _LOCK_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _lock_fd(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM for the instant of the swap (POSIX main thread only)."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not (
        threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        except KeyboardInterrupt:
            log.warning("Ctrl-C came as the new output was put in place: the run had finished")


@dataclass
class OutputFolder:
    """An output folder claimed by :func:`claim_output`: checked, locked, free of old litter."""

    path: Path
    _lock: _Lock = field(repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """Yield a fresh staging folder; on success it replaces :attr:`path`, on error it goes.

        Raises
        ------
        OutputError
            When the operating system refuses a write (disk full, permission, name too long);
            the previous output is left as it was.
        """
        out = self.path
        staging = None
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{self.name}.partial-", dir=out.parent))
            # mkdtemp makes the folder private (0700); outputs are shared documents.
            staging.chmod(0o777 & ~_UMASK)
            _write_marker(staging, "staging", self.name, pid=os.getpid())
            yield staging
            files = [f for f in _entries(staging) if f != MARKER]
            _write_marker(staging, "output", self.name, files=files)
            self._swap(staging)
        except BaseException as exc:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError) and not isinstance(exc, LifecircleError):
                raise OutputError(describe_os_error(exc, out)) from exc
            raise

    def _swap(self, staging: Path) -> None:
        out = self.path
        old = None
        with _signals_held():
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # an empty folder the user made for the output
            elif out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{self.name}.old-", dir=out.parent))
                old.rmdir()
                out.rename(old)
            try:
                staging.rename(out)
            except OSError:
                if old is not None:
                    old.rename(out)
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)


def _refuse_path(out: Path, protect: Iterable[Path]) -> None:
    """Stop when ``out`` names a place lifecircle must never replace."""
    name = out.name
    if not name:
        raise OutputError(
            f"{out} is the root of a file system: choose an output folder such as "
            "out/<study> (--out)"
        )
    limit = _name_max(out.parent) - _STAGING_ROOM
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise OutputError(
            f"the output folder name {name!r} holds control characters: choose "
            f"another (--out), e.g. {folder_name(name)!r}"
        )
    if len(name.encode("utf-8")) > limit:
        raise OutputError(
            f"the output folder name is {len(name.encode('utf-8'))} bytes long and the file system "
            f"allows {limit} here: choose a shorter output folder (--out) — {_previous(out)}"
        )
    resolved = out.resolve()
    if out.is_symlink():
        raise OutputError(
            f"{out} is a symbolic link: give the real folder, or another output folder (--out)"
        )
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise OutputError(
            f"{out} is the folder you are working in (or holds it); lifecircle "
            f"would replace it: choose an output folder of its own, e.g. "
            f"--out {out / 'out'}"
        )
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no home folder known
        home = None
    if home is not None and (resolved == home or resolved in home.parents):
        raise OutputError(
            f"{out} is your home folder (or holds it): choose an output folder of "
            f"its own, e.g. --out {out / 'lifecircle-out'}"
        )
    for path in protect:
        path = Path(path).resolve()
        if resolved == path or resolved in path.parents:
            raise OutputError(
                f"{out} holds this run's input {path.name}; lifecircle would replace it: choose "
                f"an output folder of its own, e.g. --out {out / 'out'}"
            )


def _check_existing(out: Path) -> None:
    """Stop unless ``out`` is absent, empty, or an output folder lifecircle wrote."""
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(
            f"{out} is a file, not a folder: lifecircle never replaces a file — "
            "choose another output folder (--out)"
        )
    entries = [e for e in _entries(out) if Path(e).name not in _DESKTOP_LITTER]
    if not entries:
        return
    marker = _read_marker(out)
    if marker is not None and marker["lifecircle"] == "output":
        manifest = {*map(str, marker.get("files", [])), MARKER}
    else:
        manifest = _legacy_manifest(out)
    if manifest is None:
        raise OutputError(
            f"{out} already exists and was not written by lifecircle (it holds "
            f"{_listing(entries)}); lifecircle never deletes what it did not write: choose "
            "another output folder (--out), or empty this one"
        )
    extra = [e for e in entries if e not in manifest]
    if extra:
        raise OutputError(
            f"{out} holds files lifecircle did not write ({_listing(extra)}); the new output "
            "would delete them: move them elsewhere, or choose another output folder (--out)"
        )
    for root, _, _ in os.walk(out):
        if not _writable(root):
            raise OutputError(
                f"{root} is read-only, so the previous output cannot be replaced: "
                "make it writable, or choose another output folder (--out)"
            )


def _writable(folder: str | Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _remove_litter(out: Path) -> None:
    """Remove staging and old folders of ``out`` left by killed runs (only marked ones).

    A run killed between the two renames of the swap leaves the previous output as
    ``.<name>.old-*`` and nothing at ``out``: it is put back.
    """
    prefix = f".{out.name}."
    for entry in sorted(out.parent.iterdir()):
        if not entry.name.startswith(prefix) or entry.is_symlink() or not entry.is_dir():
            continue
        kind = entry.name[len(prefix) :].split("-", 1)[0]
        marker = _read_marker(entry)
        if marker is None or marker.get("target") != out.name:
            continue
        if kind == "partial" and marker["lifecircle"] in ("staging", "output"):
            log.info("removing %s, left by an interrupted run", entry)
            shutil.rmtree(entry, ignore_errors=True)
        elif kind == "old" and marker["lifecircle"] == "output":
            if not out.exists():
                log.warning("restoring %s from %s, left by an interrupted run", out, entry.name)
                entry.rename(out)
            else:
                shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def claim_output(out_dir: str | Path, *, protect: Iterable[Path] = ()) -> Iterator[OutputFolder]:
    """Check that ``out_dir`` may be written and replaced, lock it, and clear old litter.

    Call it before any work, so a wrong output folder is reported in a second. The lock is held
    until the block ends; write with :meth:`OutputFolder.staged` inside it.

    Parameters
    ----------
    out_dir
        The output folder.
    protect
        Files the output must never hold or replace (the plan and its inputs).

    Raises
    ------
    OutputError
        One line naming the path and the fix, when the output folder is not lifecircle's to
        replace, cannot be created or written, or another run is writing it.
    """
    out = Path(os.path.abspath(out_dir))
    _refuse_path(out, protect)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = _Lock(out.parent / f".{out.name}.lock")
        lock.acquire(out)
    except OSError as exc:
        if isinstance(exc, LifecircleError):
            raise
        raise OutputError(describe_os_error(exc, out)) from None
    try:
        _remove_litter(out)
        _check_existing(out)
        yield OutputFolder(out, lock)
    finally:
        lock.release()


@contextlib.contextmanager
def staged_folder(out_dir: str | Path, *, protect: Iterable[Path] = ()) -> Iterator[Path]:
    """Claim ``out_dir`` and yield a staging folder that replaces it on success.

    See :func:`claim_output` and :meth:`OutputFolder.staged`.
    """
    with claim_output(out_dir, protect=protect) as target, target.staged() as stage:
        yield stage


def _adopt(path: Path) -> None:
    """A file written into a finished output folder joins the files its marker lists, so the
    next run may replace it (the batch runner adds its tables to each county's folder)."""
    marker = _read_marker(path.parent)
    if marker is None or marker["lifecircle"] != "output" or path.name in marker.get("files", []):
        return
    files = sorted([*marker.get("files", []), path.name])
    _write_marker(path.parent, "output", str(marker.get("target", path.parent.name)), files=files)


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
    _adopt(path)


def write_text_atomic(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode(encoding))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as pretty UTF-8 JSON (Chinese kept readable)."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_text(value: Any) -> Any:
    """``value`` made inert for a spreadsheet: text a spreadsheet would run as a formula gets a
    leading apostrophe; numbers, and text that is just a number such as ``-5``, are kept.

    Examples
    --------
    >>> spreadsheet_text("=1+2")
    "'=1+2"
    >>> spreadsheet_text(-5), spreadsheet_text("-5")
    (-5, '-5')
    """
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def csv_text(frame: pd.DataFrame, *, lineterminator: str = "\n") -> str:
    """``frame`` as CSV text (no index) with every text cell and header made inert."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype.kind not in "biufcmM":  # text or mixed: numbers stay numbers
            frame[column] = frame[column].map(spreadsheet_text)
    frame.columns = [spreadsheet_text(c) for c in frame.columns]
    return frame.to_csv(index=False, lineterminator=lineterminator)


def write_csv(frame: pd.DataFrame, path: Path, *, lineterminator: str = "\n") -> None:
    """Write ``frame`` as UTF-8 CSV with a BOM (Excel reads Chinese), atomically, text inert."""
    write_text_atomic(path, csv_text(frame, lineterminator=lineterminator), encoding="utf-8-sig")


# ---------------------------------------------------------------- result files


def _gpkg_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """GeoPackage columns must be plain types: object columns become text."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if column != "geometry" and values.dtype == object:
            frame[column] = values.astype(str).where(values.notna(), "")
    return frame


def write_gpkg(
    path: Path,
    layers: Mapping[str, pd.DataFrame | None],
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """Write spatial layers (empty ones skipped) and plain tables into one GeoPackage."""
    import pyogrio

    for name, frame in layers.items():
        if frame is None or len(frame) == 0:
            continue
        _gpkg_ready(frame).to_file(
            path, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True
        )
    for name, frame in (tables or {}).items():
        pyogrio.write_dataframe(_gpkg_ready(frame), path, layer=name, driver="GPKG")


def file_record(path: Path) -> dict[str, Any]:
    """Path, size, SHA-256 and modification time (UTC) of an input file, for ``run.json``."""
    from datetime import UTC, datetime

    digest = file_sha256(path)
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC).isoformat(timespec="seconds")
    return {"path": str(path), "bytes": stat.st_size, "sha256": digest, "modified": modified}


_VERSIONED = (
    "lifecircle",
    "numpy",
    "scipy",
    "pandas",
    "geopandas",
    "shapely",
    "pyogrio",
    "pyproj",
    "osmnx",
    "networkx",
    "rasterio",
    "folium",
    "highspy",
)


def package_versions() -> dict[str, str]:
    """Python's and the main dependencies' versions, for ``run.json``."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
