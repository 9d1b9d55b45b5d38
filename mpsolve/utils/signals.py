"""Ctrl-C handled for the duration of a block (where Python's own handler is in place)."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "children_ignore_ctrl_c", "close_pool", "ctrl_c_held", "end_with_parent", "on_ctrl_c", "pool_worker", "stop_pool",
]


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


@contextlib.contextmanager
def children_ignore_ctrl_c() -> Iterator[None]:
    """Processes started inside ignore SIGINT, so a Ctrl-C stops this process only.

    (A terminal sends it to every process of the foreground group; child processes that got
    it too would print tracebacks.) An ignored signal stays ignored across ``exec``; while
    the children start, a Ctrl-C is ignored here as well. Outside the main thread, where no
    handler can be set, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C while the block runs and raise its ``KeyboardInterrupt`` after, for code one must not enter:
    raised inside torch's import, in a call of its C++ extension, it aborted the process (``std::terminate``).
    Where :func:`on_ctrl_c` installs no handler, nothing changes."""
    held: list[int] = []
    with on_ctrl_c(lambda signum, frame: held.append(signum)):
        yield
    if held:
        raise KeyboardInterrupt


def stop_pool(pool: Any, futures: Any = None) -> None:
    """Leave a ``concurrent.futures.ProcessPoolExecutor`` early (a Ctrl-C, an error): cancel its queued tasks, let
    its running ones (of ``futures``) finish where given (a further Ctrl-C ends them) or else end them now, and
    wait for its processes deaf to Ctrl-C. (A Ctrl-C in ``shutdown(wait=True)``'s join of the pool's thread left
    Python 3.11 taking that thread for ended: at exit, a traceback from it, or an abort.)"""
    import concurrent.futures

    if futures is not None:
        for future in futures:
            future.cancel()  # the queued ones
        try:
            concurrent.futures.wait(futures)  # a Ctrl-C here is safe, unlike one in a join
        except KeyboardInterrupt:  # the caller raises the first one
            futures = None
    if futures is None:
        for process in list((pool._processes or {}).values()):  # Python 3.14's terminate_workers()
            process.terminate()
    with children_ignore_ctrl_c():
        pool.shutdown(wait=True, cancel_futures=True)


def close_pool(pool: Any) -> None:
    """Shut down a ``concurrent.futures.ProcessPoolExecutor`` whose tasks are done, and wait for its processes and
    its thread, a Ctrl-C held until then (see :func:`stop_pool`). (Left to end on its own, ``wait=False``, the
    pool's thread closed its wake-up pipe while an exiting interpreter wrote to it: "Exception ignored ...
    OSError: [Errno 9] Bad file descriptor" after the program's last word, Python 3.11.)"""
    with ctrl_c_held():
        pool.shutdown(wait=True, cancel_futures=True)


def end_with_parent() -> None:
    """In a spawned helper process: ignore Ctrl-C (the parent's, which stops this process) and end with the parent,
    also one killed outright (whose ``finally`` could not end it; a pool's worker would wait for another task
    forever): no work goes on unasked."""
    import multiprocessing
    from multiprocessing.connection import wait

    from tqdm import tqdm

    # the parent, off its main thread, could not ignore Ctrl-C while this process started
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a progress bar here (torch.fx's interpreter makes one in an export) locks this process's threads only: tqdm's
    # own lock, a multiprocessing one, made a semaphore the resource tracker said was leaked when this process ended
    tqdm.set_lock(threading.RLock())
    parent = multiprocessing.parent_process()
    if parent is not None:  # its sentinel is ready once the parent has gone
        threading.Thread(target=lambda: (wait([parent.sentinel]), os._exit(1)), daemon=True).start()


def pool_worker() -> None:
    """The initializer of a pool's spawned worker: :func:`end_with_parent`, and at its exit no interpreter teardown,
    which :func:`close_pool` waits for (the more modules loaded, the longer: torch's take a while). By then
    multiprocessing has run its finalizers and flushed the standard streams; the status is 0, which no pool reads."""
    end_with_parent()
    atexit.register(os._exit, 0)
