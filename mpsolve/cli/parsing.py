"""Parsing shared by the subcommands: budgets, ``KEY=VALUE`` options, comma lists, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from mpsolve.constraints import Budget
from mpsolve.utils.errors import MpsolveError

__all__ = ["CLIError", "parse_budget", "parse_options", "print_json", "split_list"]


class CLIError(MpsolveError):
    """Bad command-line input."""


def parse_budget(text: str, latency_profile: str | None) -> Budget:
    """A ``NAME=VALUE`` budget (a latency budget needs the device profile)."""
    if "=" not in text:
        raise CLIError(f"bad budget {text!r}: write NAME=VALUE, e.g. flops=160G or params=64M")
    name, value = (s.strip() for s in text.split("=", 1))
    if name in ("latency", "latency_ms"):
        if latency_profile is None:
            raise CLIError(
                "a latency budget needs a device profile: add --latency-profile device.json "
                "(make one with `mpsolve profile-latency --out device.json`)"
            )
        return Budget(name, value, profile=latency_profile)
    return Budget(name, value)


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict; a value is JSON when it parses as JSON, else a string."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise CLIError(f"bad option {pair!r}: write KEY=VALUE, e.g. iterations=20000")
        key, raw = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def split_list(text: str, flag: str) -> list[str]:
    """The non-empty items of a comma-separated flag value."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise CLIError(f"{flag} needs at least one comma-separated value")
    return items


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
