"""Quantities with unit suffixes (``"160G"``): the one parser and the formatters."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from mpsolve.utils.errors import MpsolveError

__all__ = ["exact_quantity", "format_quantity", "parse_quantity"]

UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_quantity(text: str | float | int) -> float:
    """``"160G"`` -> 1.6e11 (units K, M, G, T); plain numbers pass through."""
    if isinstance(text, Real) and not isinstance(text, bool):  # numpy numbers too
        try:
            return float(text)
        except OverflowError:  # an int beyond any float
            raise MpsolveError(f"quantity of {len(str(text))} digits is too large: give a finite number") from None
    if not isinstance(text, str):
        raise MpsolveError(f"not a quantity: {text!r}; write e.g. 160G, 64M or 50")
    s = text.strip()
    if s.lower().lstrip("+-") in ("inf", "infinity", "nan"):  # float() reads these: say so, not "bad unit"
        raise MpsolveError(f"{text!r} is not a finite quantity: give a number with an optional unit K, M, G or T "
                           "(e.g. 160G)")
    unit = s[-1:].upper() if s[-1:].isalpha() else ""
    if unit not in UNITS:
        raise MpsolveError(f"bad unit in {text!r}: use a number with an optional unit K, M, G or T (e.g. 160G)")
    try:
        return float(s[: len(s) - len(unit)]) * UNITS[unit]
    except ValueError:
        raise MpsolveError(f"not a quantity: {text!r}; write e.g. 160G, 64M or 50") from None


def format_quantity(value: float) -> str:
    """``1.6e11`` -> ``"160G"``: the inverse of :func:`parse_quantity`, to 4 significant digits."""
    for unit in ("T", "G", "M", "K"):
        if abs(value) >= UNITS[unit] * 0.99995:  # what rounds to 1 of this unit is one (1G, not 1000M)
            return f"{value / UNITS[unit]:.4g}{unit}"
    return f"{value:.4g}"


def exact_quantity(value: Any) -> Any:
    """A number as a short string (``"160G"``) when that parses back to exactly the same
    number, else the value as it is (for files people read and rerun)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return value
    for unit in ("T", "G", "M", "K"):
        if abs(value) >= UNITS[unit]:
            text = f"{value / UNITS[unit]:.12g}{unit}"
            return text if parse_quantity(text) == value else value
    return value
