"""``python -m mpsolve``: the ``mpsolve`` command."""

import sys

from mpsolve.cli import main

sys.exit(main())
