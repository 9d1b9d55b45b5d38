"""``python -m mpsolve.cli``."""

import sys

from mpsolve.cli.main import main

sys.exit(main())
