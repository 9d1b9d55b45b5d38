"""``python -m mpsolve.cli``."""

import sys

from mpsolve.cli import main

sys.exit(main())
