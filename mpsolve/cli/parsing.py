"""Parsing shared by the subcommands: budgets, ``KEY=VALUE`` options, comma lists, JSON output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mpsolve.constraints import Budget
from mpsolve.spaces import ARCHITECTURES, read_architecture_json
from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.files import check_not_input

__all__ = [
    "PROFILED_COSTS", "CLIError", "budgeted_options", "check_outputs", "check_time_limit_flag", "design_file",
    "parse_budget", "path_arg", "profile_for", "parse_options", "print_json", "split_list",
]


class CLIError(MpsolveError):
    """Bad command-line input."""


#: the costs that need a device profile: name -> (the flag giving it, the profile-latency phase)
PROFILED_COSTS = {
    "latency": ("--latency-profile", "prefill"),
    "latency_ms": ("--latency-profile", "prefill"),
    "decode": ("--decode-profile", "decode"),
    "decode_ms": ("--decode-profile", "decode"),
}


def parse_budget(text: str, latency_profile: str | None, decode_profile: str | None = None) -> Budget:
    """A ``NAME=VALUE`` budget (a prefill or decode latency budget needs its device profile)."""
    if "=" not in text:
        raise CLIError(f"bad budget {text!r}: write NAME=VALUE, e.g. flops=160G or params=64M")
    name, value = (s.strip() for s in text.split("=", 1))
    if name in PROFILED_COSTS:
        return Budget(name, value, profile=profile_for(name, latency_profile, decode_profile))
    return Budget(name, value)


def profile_for(cost: str, latency_profile: str | None, decode_profile: str | None) -> str:
    """The device profile a latency cost needs, from ``--latency-profile`` / ``--decode-profile``."""
    flag, phase = PROFILED_COSTS[cost]
    profile = latency_profile if flag == "--latency-profile" else decode_profile
    if profile is None:
        raise CLIError(
            f"a {cost} budget needs a device profile: add {flag} device.json "
            f"(make one with `mpsolve profile-latency --phase {phase} --out device.json`)"
        )
    return profile


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict; a value is JSON when it parses as JSON, else a string."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise CLIError(f"bad option {pair!r}: write KEY=VALUE, e.g. iterations=20000")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if key in out:  # a dict would keep the last value only
            raise CLIError(f"--option {key} is given twice: give each option once, e.g. --option {key}=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def path_arg(text: str) -> Path:
    """``type=`` of a path argument: an empty name is refused (``Path("")`` is the current folder, where a
    checkpoint was written, or read, unasked)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty name: give a path")
    return Path(text)


def split_list(text: str, flag: str) -> list[str]:
    """The items of a comma-separated flag value; one left empty (``10G,,20G``: a value lost to a typo, dropped
    before) is refused."""
    items = [s.strip() for s in text.split(",")]
    if not any(items):
        raise CLIError(f"{flag} needs at least one comma-separated value")
    if not all(items):
        raise CLIError(f"{flag} {text!r} has an empty item: give a value between every two commas, and none after "
                       "the last")
    return items


def check_time_limit_flag(value: float | None) -> float | None:
    """``--time-limit``: positive seconds (``inf`` for none), or absent."""
    if value is not None and not (value > 0):  # NaN fails too
        raise CLIError(f"--time-limit must be a positive number of seconds, got {value:g}: e.g. --time-limit 60")
    return value


def print_json(obj: Any) -> None:
    print(json.dumps(obj))  # print, not sys.stdout.write: a stdout the shell closed is None


def check_not_profiles(outputs: dict[str, Any], problem: Any) -> None:
    """Refuse, before any work, an output flag's file that is a device profile the problem's
    costs read (named inside a problem file, so no flag of its own shows it)."""
    profiles = {f"the {cost.name} profile of the problem": cost.profile for cost in problem.costs.values()
                if isinstance(getattr(cost, "profile", None), str)}
    for flag, out in outputs.items():
        if out is not None:
            check_not_input(out, flag, profiles, CLIError)


def check_outputs(outputs: dict[str, Any], inputs: dict[str, Any]) -> None:
    """Refuse, before any work, an output flag's file that is an input flag's file (a preset
    name given where a file could be is not a file)."""
    files = {f"the {flag} file": path for flag, path in inputs.items() if path is not None and Path(path).is_file()}
    for flag, out in outputs.items():
        if out is not None:
            check_not_input(out, flag, files, CLIError)


def design_file(spec: str) -> Any:
    """The JSON of a design file, read once as :func:`resolve_architecture` would read it; ``None`` for a preset."""
    if spec in ARCHITECTURES or not Path(spec).is_file():
        return None
    return read_architecture_json(spec)


def budgeted_options(data: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(cost, options)`` of each budget a design result (``data``, a :func:`design_file`) was solved under."""
    problem = data.get("problem") if isinstance(data, dict) and "status" in data else None
    constraints = problem.get("constraints") if isinstance(problem, dict) else None
    return [(c["cost"], c["options"]) for c in (constraints if isinstance(constraints, list) else [])
            if isinstance(c, dict) and isinstance(c.get("cost"), str) and isinstance(c.get("options"), dict)]
