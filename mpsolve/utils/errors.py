"""Error types raised by mpsolve.

Every error the library raises on bad input derives from :class:`MpsolveError`, so callers
(and the CLI) can catch the library's own errors without hiding real bugs.
"""

from __future__ import annotations

import inspect
import math
import os
import sysconfig
import warnings

__all__ = ["MpsolveError", "SpaceError", "ArchitectureError", "InfeasibleError", "SolverError", "MpsolveWarning",
           "first_line", "shown", "shown_name", "warn"]


class MpsolveError(ValueError):
    """Base class of every error mpsolve raises on bad input."""


class SpaceError(MpsolveError):
    """A search space is malformed (empty grid, bad widths, zero blocks, ...)."""


class ArchitectureError(MpsolveError):
    """An architecture is malformed or does not belong to a space."""


class InfeasibleError(MpsolveError):
    """No architecture of the space satisfies the constraints.

    Attributes:
        cheapest: by cost, the cheapest value any architecture achieves: of each violated
            budget's cost, or, when each budget alone can be met but not all together, of every
            budgeted cost.
    """

    def __init__(self, message: str, cheapest: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.cheapest = dict(cheapest or {})


class SolverError(MpsolveError):
    """A solver was misconfigured or cannot handle the problem."""


class MpsolveWarning(UserWarning):
    """Input mpsolve accepts but that is probably not what was meant (the CLI prints it as one line)."""


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
#: where installed code lives: a caller there (a process pool, Dask) is not the user's line
_INSTALLED = tuple(os.path.abspath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "purelib", "platlib"))


def warn(message: str, category: type[MpsolveWarning] = MpsolveWarning) -> None:
    """An :class:`MpsolveWarning` (or a subclass) shown at the user's line: the first caller that is neither
    mpsolve nor installed code (transformers, a process pool, Dask), however deep in the library
    it arose; at mpsolve's outermost line when there is none (a worker running the library)."""
    frame, level, outermost = inspect.currentframe(), 1, 1
    while frame is not None:
        name = frame.f_code.co_filename
        path = os.path.abspath(name)
        if path.startswith(_PACKAGE):
            outermost = level
        elif not (name.startswith("<frozen") or path.startswith(_INSTALLED)):
            break
        frame, level = frame.f_back, level + 1
    stacklevel = level if frame is not None else outermost
    del frame
    warnings.warn(message, category, stacklevel=stacklevel)


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (its type's name when it has none), cut to ``limit`` characters: a
    library's error for a one-line one of ours."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:limit]


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)`` for a one-line error: on one line (an array's repr spans lines), cut to ``limit`` characters (a
    hostile file's value does not make a megabyte-long line); an integer of more digits in scientific notation
    (``10**400``: ``1e+400``; its repr would be cut to its leading digits, or refused past 4300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return _scientific(value)
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shown_name(name: object) -> str:
    """A key or name read from a file, for a one-line error: as written when it is printable text of at most 40
    characters (``budgets.flops``), else as :func:`shown` writes it (quoted, a newline escaped, cut)."""
    return name if isinstance(name, str) and name.isprintable() and len(name) <= 40 else shown(name)


def _scientific(value: int) -> str:
    """A huge integer as ``1.234e+400`` (four significant digits, cut), without writing out its digits."""
    size = abs(value)
    exponent = int(math.log10(size))  # a float's log may be off by one at a power of ten
    exponent += (10 ** (exponent + 1) <= size) - (10**exponent > size)
    return f"{'-' if value < 0 else ''}{size // 10 ** (exponent - 3) / 1000:g}e+{exponent}"
