"""The ``mpsolve`` command line: every argparse parser lives in this package.

One module per group of subcommands (``design``, ``info``: cost/score/presets/table,
``model``: build/profile-latency, ``pareto``, ``sweep``), each with ``add_subcommands``;
``parsing`` holds what they share. The library never imports this package.
"""

from mpsolve.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
