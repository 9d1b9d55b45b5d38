"""How much memory this process can still allocate, to refuse work that cannot fit before it starts."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["allocation_failed", "allocation_failures_as", "available_memory", "check_memory"]

#: where Linux mounts the cgroup v2 hierarchy (a container's memory limit lives there)
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: the file naming this process's cgroup
PROC_CGROUP = Path("/proc/self/cgroup")


def available_memory() -> int | None:
    """Bytes a new allocation can get: the least of the machine's free memory (Linux
    ``MemAvailable``), the headroom under this process's address-space limit (``ulimit -v``) and
    the headroom under its cgroup's ``memory.max`` (a container's limit); ``None`` if none is known."""
    known = [m for m in (_machine_available(), _address_space_headroom(), _cgroup_headroom()) if m is not None]
    return min(known) if known else None


def _machine_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _address_space_headroom() -> int | None:
    """``RLIMIT_AS`` less this process's virtual size (``None``: unlimited or not POSIX)."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):
        return None
    if limit == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            used = next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:")), 0)
    except (OSError, ValueError, IndexError):
        pass
    return max(0, limit - used)


def _cgroup_headroom() -> int | None:
    """The least ``memory.max`` less the memory in use of this process's cgroup v2 and its parents (in
    use: ``memory.current`` less the reclaimable ``inactive_file`` page cache, as ``docker stats`` counts)."""
    try:
        line = next((ln for ln in PROC_CGROUP.read_text().splitlines() if ln.startswith("0::")), None)
    except (OSError, UnicodeDecodeError):
        return None
    if line is None:
        return None
    folder, headroom = CGROUP_ROOT / line[3:].strip("/"), None
    for group in (folder, *folder.parents):
        try:
            limit = (group / "memory.max").read_text().strip()
            if limit != "max":
                room = max(0, int(limit) - _cgroup_in_use(group))
                headroom = room if headroom is None else min(headroom, room)
        except (OSError, ValueError):
            pass
        if group == CGROUP_ROOT:
            break
    return headroom


def _cgroup_in_use(group: Path) -> int:
    stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines() if line.count(" ") == 1) \
        if (group / "memory.stat").is_file() else {}
    return int((group / "memory.current").read_text()) - int(stat.get("inactive_file", 0))


def check_memory(need: int, what: str, way_out: str, error: type[Exception]) -> None:
    """Raise ``error("<what> needs X GiB but only Y GiB ...; <way_out>")`` when ``need`` bytes exceed
    :func:`available_memory`."""
    free = available_memory()
    if free is not None and need > free:
        raise error(f"{what} needs {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB of memory is available; "
                    f"{way_out}")


def allocation_failed(exc: BaseException) -> str | None:
    """What failed to be allocated, where ``exc`` is a failed allocation (else ``None``): Python's or numpy's
    ``MemoryError``, torch's ``OutOfMemoryError`` (a GPU's), or its CPU allocator's ``RuntimeError``."""
    said = str(exc).strip()
    if isinstance(exc, RuntimeError) and "DefaultCPUAllocator" in said:
        tried = re.search(r"allocate (\d+) bytes", said)
        if not tried:
            return "torch's CPU allocator failed"
        size = int(tried[1])
        return f"torch could not allocate {size / 2**30:.1f} GiB" if size >= 2**30 else (
            f"torch could not allocate {size / 2**20:.1f} MiB")
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return said.splitlines()[0][:200] if said else type(exc).__name__
    return None


@contextlib.contextmanager
def allocation_failures_as(error: type[Exception], message: Callable[[str], str]) -> Iterator[None]:
    """Raise ``error(message(what failed))``, without the traceback, where an allocation fails inside the block (see
    :func:`allocation_failed`); other errors pass unchanged."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        failed = allocation_failed(exc)
        if failed is None:
            raise
        raise error(message(failed)) from None
