"""The running solve's deadline, seen by long set-up work deep below the solver.

:meth:`mpsolve.core.solver.Solver.solve` sets it for the whole run; the Monte-Carlo lookup
table checks it between shapes, so that a time limit covers building the table as well.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["DeadlineReached", "check_deadline", "deadline", "deadline_passed"]

_DEADLINE: ContextVar[float] = ContextVar("mpsolve_deadline", default=math.inf)


class DeadlineReached(Exception):
    """The running solve's time limit passed during set-up work (caught by the solve, never an error)."""


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Within the block, :func:`check_deadline` raises once ``time.perf_counter()`` reaches ``at``."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def deadline_passed() -> bool:
    """Whether the running solve's deadline has passed (never outside a solve)."""
    return time.perf_counter() >= _DEADLINE.get()


def check_deadline() -> None:
    """Raise :class:`DeadlineReached` if the running solve's deadline has passed."""
    if deadline_passed():
        raise DeadlineReached
