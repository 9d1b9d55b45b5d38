"""The ``mpsolve`` command line: every argparse parser lives in this package.

One module per group of subcommands (``design``, ``info``: cost/score/presets/table,
``model``: build/train/evaluate/export/generate/profile-latency/latency/memory, ``pareto``,
``sweep``), each with ``add_subcommands``; ``parsing`` holds what they share. The library never imports this package.
"""

import sys as _sys
from collections.abc import Sequence as _Sequence
from typing import Any as _Any

__all__ = ["build_parser", "main"]


def main(argv: _Sequence[str] | None = None) -> int:
    """The ``mpsolve`` command (exit status): a Ctrl-C while the library loads ends it as one
    during a command does, ``mpsolve: interrupted`` and status 130, not a traceback."""
    try:
        from mpsolve.cli._command import main as run
    except KeyboardInterrupt:
        print("mpsolve: interrupted", file=_sys.stderr)
        return 130
    return run(argv)


def build_parser() -> _Any:
    """The ``argparse`` parser of every subcommand."""
    from mpsolve.cli._command import build_parser as build

    return build()
