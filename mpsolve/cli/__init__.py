"""The ``mpsolve`` command line: every argparse parser lives in this package.

One module per group of subcommands (``design``, ``info``: cost/score/presets/table,
``model``: build/train/evaluate/export/generate/profile-latency/latency/memory, ``pareto``,
``sweep``), each with ``add_subcommands``; ``parsing`` holds what they share. The library never imports this package.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``mpsolve`` command (exit status): a Ctrl-C while the library loads ends it as one
    during a command does, ``mpsolve: interrupted`` and status 130, not a traceback."""
    try:
        from mpsolve.cli._command import main as run
    except KeyboardInterrupt:
        print("mpsolve: interrupted", file=sys.stderr)
        return 130
    return run(argv)


def build_parser() -> Any:
    """The ``argparse`` parser of every subcommand."""
    from mpsolve.cli._command import build_parser as build

    return build()
