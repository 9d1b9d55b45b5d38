"""How much memory this machine has free, to refuse work that cannot fit before it starts."""

from __future__ import annotations

import os

__all__ = ["available_memory", "check_memory"]


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``; ``None`` if unknown)."""
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


def check_memory(need: int, what: str, way_out: str, error: type[Exception]) -> None:
    """Raise ``error("<what> needs X GiB but only Y GiB ...; <way_out>")`` when ``need`` bytes exceed free memory."""
    free = available_memory()
    if free is not None and need > free:
        raise error(f"{what} needs {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB of memory is available; "
                    f"{way_out}")
