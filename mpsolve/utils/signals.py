"""Ctrl-C handled for the duration of a block (where Python's own handler is in place)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["on_ctrl_c"]


@contextlib.contextmanager
def on_ctrl_c(handler: Callable[[int, Any], None]) -> Iterator[bool]:
    """Call ``handler(signum, frame)`` on SIGINT inside the block, and restore Python's handler after;
    only where that handler is installed, in the main thread (a signal handler can be set nowhere
    else, and one the caller installed is left alone). Yields whether ``handler`` was installed."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield False
        return
    signal.signal(signal.SIGINT, handler)
    try:
        yield True
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
