"""The one set of checks for numeric arguments (each error says what was given and what is expected)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from mpsolve.utils.errors import MpsolveError, shown

__all__ = [
    "available_cpus",
    "first_repeat",
    "check_bool",
    "check_integer",
    "check_time_limit",
    "check_positive_number",
    "check_run_time",
    "check_threads",
    "is_finite_number",
    "is_fraction",
    "is_integer",
    "is_positive_number",
    "per_design",
]


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (Python or numpy), not a bool; an integer
    too large for a float (``10**400``) is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def is_positive_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number above zero, not a bool."""
    return is_finite_number(value) and value > 0


def is_fraction(value: Any, *, zero: bool = True, one: bool = True) -> bool:
    """Whether ``value`` is a finite number in [0, 1]; ``zero`` / ``one`` say whether the ends count."""
    return is_finite_number(value) and (0 < value < 1 or (value == 0 and zero) or (value == 1 and one))


def check_bool(value: Any, name: str, error: type[MpsolveError] = MpsolveError) -> bool:
    """``value`` as a ``bool`` when it is one (Python or numpy), else ``error`` naming ``name``
    (a truthy string such as ``"no"`` must not silently mean ``True``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{name} must be True or False, got {shown(value)}")
    return bool(value)


def check_integer(
    value: Any, name: str, minimum: int = 1, error: type[MpsolveError] = MpsolveError, optional: bool = False
) -> int | None:
    """``value`` as an ``int`` when it is an integer ``>= minimum`` (or ``None`` with ``optional``);
    else ``error`` naming ``name``, e.g. ``"seq_len must be a positive integer, got 0"``."""
    if optional and value is None:
        return None
    if not is_integer(value) or value < minimum:
        kind = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        raise error(f"{name} must be {kind}{' or None' if optional else ''}, got {shown(value)}")
    return int(value)


def check_time_limit(value: Any, error: type[MpsolveError] = MpsolveError) -> float | None:
    """``value`` when it is a positive number of seconds (``inf`` included) or ``None``."""
    unlimited = isinstance(value, (float, np.floating)) and value == math.inf
    if value is not None and not (unlimited or is_positive_number(value)):
        raise error(f"time_limit must be a positive number of seconds or None, got {shown(value)}")
    return value


#: longest timing run accepted per measurement, in seconds (a typo such as 1e9 would never return)
MAX_RUN_TIME = 60.0


def check_run_time(value: Any, name: str = "min_run_time", error: type[MpsolveError] = MpsolveError) -> float:
    """``value`` as a ``float`` when it is a number of seconds in ``(0, MAX_RUN_TIME]``."""
    if not (is_positive_number(value) and value <= MAX_RUN_TIME):
        raise error(f"{name} must be a number of seconds in (0, {MAX_RUN_TIME:g}], got {shown(value)}")
    return float(value)


def available_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_threads(threads: Any, error: type[MpsolveError] = MpsolveError) -> int:
    """``threads`` as an ``int`` when it is a positive integer no larger than the CPUs this process may
    run on (more threads than CPUs time the scheduler, not the model)."""
    check_integer(threads, "threads", error=error)
    cpus = available_cpus()
    if threads > cpus:
        raise error(f"threads {threads} exceeds the {cpus} CPUs this process may run on: with more threads "
                    f"than CPUs the timings measure the scheduler; use at most {cpus}")
    return int(threads)


def check_positive_number(
    value: Any, name: str, error: type[MpsolveError] = MpsolveError, optional: bool = False
) -> float | None:
    """``value`` as a ``float`` when it is a finite positive number (or ``None`` with ``optional``)."""
    if optional and value is None:
        return None
    if not is_positive_number(value):
        raise error(f"{name} must be a positive number{' or None' if optional else ''}, got {shown(value)}")
    return float(value)


def per_design(values: Any, n: int, what: str) -> np.ndarray:
    """``values`` as one float per design of a batch of ``n``, or a one-line error naming ``what`` returned
    them (a plug-in's ``evaluate`` of another shape would broadcast, or fail deep in numpy)."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise MpsolveError(f"{what} returned {type(values).__name__} values that are not numbers: evaluate must "
                           f"return one number per design, an array of shape ({n},)") from None
    if array.shape != (n,):
        designs = "1 design" if n == 1 else f"{n} designs"
        raise MpsolveError(f"{what} returned an array of shape {array.shape} for {designs}: evaluate must return "
                           f"one number per design, an array of shape ({n},)")
    return array


def first_repeat(items: Sequence[Any]) -> Any:
    """The first item of ``items`` that an earlier one equals (``None``: each is given once)."""
    return next((item for i, item in enumerate(items) if item in items[:i]), None)
