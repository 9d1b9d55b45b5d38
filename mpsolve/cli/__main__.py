"""``python -m mpsolve.cli`` (as ``python -m mpsolve``)."""

import sys

from mpsolve.cli import main

sys.exit(main())
