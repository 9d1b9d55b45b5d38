"""Reading and writing files: bounded reads, JSON/TOML parsing with one-line errors, atomic writes."""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "MAX_FILE_BYTES", "atomic_write", "check_not_input", "check_suffix", "check_writable", "missing_reason",
    "nesting_depth", "parse_data", "read_bytes_bounded", "read_text_bounded",
]


#: problem, result and profile files larger than this are refused unread
MAX_FILE_BYTES = 16 * 2**20


def missing_reason(path: Path) -> str | None:
    """Why ``path`` is not a regular file, for a one-line error (``None``: it is one)."""
    try:
        if path.is_file():
            return None
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return "is a symbolic link to a missing file" if path.is_symlink() else "does not exist"
        return f"cannot be opened: {exc.strerror or exc}"  # a symbolic link loop, a forbidden folder
    return "is not a regular file"


def read_bytes_bounded(path: Path, what: str, error: type[Exception] | None = None,
                       limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``, refusing folders, devices and files over ``limit`` bytes."""
    from mpsolve.utils.errors import MpsolveError

    error = error or MpsolveError
    try:
        why = missing_reason(path)
        if why:
            raise error(f"{what} {str(path)!r} {why}")
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise error(f"{what} {str(path)!r} is larger than {limit / 2**20:g} MiB: refused")
    return raw


def read_text_bounded(path: Path, what: str, error: type[Exception] | None = None,
                      limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of ``path``, refusing folders, devices and files over ``limit`` bytes."""
    from mpsolve.utils.errors import MpsolveError

    try:
        return read_bytes_bounded(path, what, error, limit).decode("utf-8-sig")  # a BOM (Windows editors) dropped
    except UnicodeDecodeError as exc:
        raise (error or MpsolveError)(f"cannot read {what} {str(path)!r}: not UTF-8 text ({exc.reason})") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key repeats (json keeps the last silently; TOML refuses it)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def parse_data(text: str, fmt: str, error: type[Exception], where: str) -> Any:
    """JSON or TOML (``fmt``) ``text`` parsed; bad syntax or too deep nesting raise ``error(f"{where}: why")``."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys) if fmt == "json" else tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        if "int_max_str_digits" in reason:  # Python's guard against huge integer literals
            reason = "an integer with too many digits (more than 4300): give a number of reasonable size"
        raise error(f"{where}: {reason}") from None


def nesting_depth(value: Any, limit: int) -> int:
    """How many levels of lists and dicts ``value`` (parsed JSON) nests, counted up to ``limit + 1``; no recursion:
    a value that parsed may nest deeper than a library's recursive copy of it can go."""
    depth, level = 0, [value]
    while depth <= limit:
        containers = [v for v in level if isinstance(v, (dict, list))]
        if not containers:
            break
        depth += 1
        level = [item for v in containers for item in (v.values() if isinstance(v, dict) else v)]
    return depth


def check_not_input(out: str | Path, what: str, inputs: dict[str, str | Path | None],
                    error: type[Exception] | None = None) -> None:
    """Refuse to write ``out`` over one of ``inputs`` (by their description; the same file through
    any spelling or link), before any work."""
    from mpsolve.utils.errors import MpsolveError

    for name, path in inputs.items():
        if path is not None and Path(out).resolve() == Path(path).resolve():
            raise (error or MpsolveError)(f"{what} {str(out)!r} is {name}: give {what} its own file name")


def check_writable(path: str | Path, what: str = "output") -> Path:
    """``path`` if a file can be written there (checked before any work), else a one-line error.

    Raises:
        MpsolveError: naming the path and what is wrong with it.
    """
    from mpsolve.utils.errors import MpsolveError

    if not isinstance(path, (str, os.PathLike)):
        raise MpsolveError(f"{what} must be a file path, got {path!r}")
    if not str(path):  # Path("") is the current folder
        raise MpsolveError(f"{what} is an empty name; give a file path")
    if str(path).endswith(("/", os.sep)):  # Path() would drop the slash and write a file of that name
        raise MpsolveError(f"{what} {str(path)!r} names a folder (it ends in '/'); give a file path")
    path = Path(path)
    if _special(path):
        if not os.access(path, os.W_OK):
            raise MpsolveError(f"{what} {str(path)!r} exists and is not writable")
        return path
    target = _written(path)
    try:
        if target.is_dir():
            raise MpsolveError(f"{what} {str(path)!r} is a folder; give a file path")
        folder = next((p for p in (target.parent, *target.parent.parents) if p.exists()), Path("."))
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise MpsolveError(f"{what} {str(path)!r} cannot be written: {str(folder)!r} is not a writable folder")
        if target.exists() and not os.access(target, os.W_OK):
            raise MpsolveError(f"{what} {str(path)!r} exists and is not writable")
        # os.access trusts permissions alone (root may "write" /proc): create and remove a file as atomic_write would
        fd, probe = tempfile.mkstemp(dir=folder, prefix=target.name, suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise MpsolveError(f"{what} {str(path)!r} cannot be written: {exc.strerror or exc}") from None
    return path


def check_suffix(path: Any, suffix: str, what: str, error: type[Exception] | None = None) -> Path:
    """``path`` as a :class:`Path` when it is a file name ending in ``suffix`` (any case), else a
    one-line ``error`` (default :class:`MpsolveError`): writers such as ``onnx.save`` pick the
    format by the suffix, so another suffix would write another format."""
    from mpsolve.utils.errors import MpsolveError

    if not isinstance(path, (str, os.PathLike)) or Path(path).suffix.lower() != suffix:
        raise (error or MpsolveError)(f"{what} {str(path)!r} must end in {suffix}; e.g. model{suffix}")
    return Path(path)


def _special(path: str | Path) -> bool:
    """Whether ``path`` is an existing file that is neither a regular file nor a folder
    (``/dev/stdout``, a FIFO): it is written in place, as there is nothing to replace."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _written(path: str | Path) -> Path:
    """The file a write to ``path`` replaces: a symbolic link's target (the link is kept)."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def _name_the_file(exc: BaseException, path: str | Path) -> None:
    """Give a system's ``OSError`` that names no file (a write's: ``No space left on device``) the name of ``path``
    (one raised without an errno keeps its message as it is)."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
        exc.filename = str(path)


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a crash mid-write
    leaves the previous file (or none), never half of the new one. A symbolic link is written
    through, as ``open()`` would: its target is replaced and the link kept. A device or FIFO
    (``/dev/stdout``) is written in place."""
    payload = data.encode() if isinstance(data, str) else data
    if _special(path):
        try:
            with open(path, "wb") as fh:
                fh.write(payload)
        except OSError as exc:
            _name_the_file(exc, path)
            raise
        return
    path = _written(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # created 0o666 less the umask, as open() would (mkstemp's 0o600 would hide results from a group)
    tmp = path.parent / f"{path.name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if path.is_file():  # a replaced file keeps its permissions
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        _name_the_file(exc, path)
        raise
