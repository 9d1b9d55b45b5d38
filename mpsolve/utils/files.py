"""Reading and writing files: the TOML reader of every Python version, atomic writes."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["atomic_write", "check_writable", "tomllib"]


def check_writable(path: str | Path, what: str = "output") -> Path:
    """``path`` if a file can be written there (checked before any work), else a one-line error.

    Raises:
        MpsolveError: naming the path and what is wrong with it.
    """
    from mpsolve.utils.errors import MpsolveError

    path = Path(path)
    if path.is_dir():
        raise MpsolveError(f"{what} {str(path)!r} is a folder; give a file path")
    folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("."))
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise MpsolveError(f"{what} {str(path)!r} cannot be written: {str(folder)!r} is not a writable folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise MpsolveError(f"{what} {str(path)!r} exists and is not writable")
    return path


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a crash mid-write
    leaves the previous file (or none), never half of the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
