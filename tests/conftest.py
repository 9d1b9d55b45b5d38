"""Shared fixtures."""

from __future__ import annotations

import os

if "PYTEST_XDIST_WORKER" in os.environ:
    # one intra-op thread per test process (and the CLIs they start): the workers already fill the cores, and
    # threads spinning on a busy core slow small models many times over; set before numpy loads OpenBLAS, which
    # reads it then (after, numpy's BLAS ran two threads a worker)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mpsolve
from mpsolve.spaces import SearchSpace, get_space

# Modules whose module-scoped fixtures take seconds each (a prefill and a decode latency profile, exported graphs,
# trained checkpoints, a folder of kept component graphs): each runs whole in one worker, so they are built once per
# run rather than once in each worker that draws one of the module's tests; every other test is dealt out one by one,
# as --dist load does
_SHARED_FIXTURE_MODULES = frozenset({"tests/costs/test_latency.py", "tests/merino_model/test_onnx.py",
                                     "tests/merino_model/test_generate.py", "tests/merino_model/test_merino_cli.py"})


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "load":  # another --dist given: xdist's own
        return None
    from xdist.scheduler import LoadScopeScheduling

    class _ModuleFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in _SHARED_FIXTURE_MODULES else nodeid

    return _ModuleFixtureScheduling(config, log)


@pytest.fixture
def small_space() -> SearchSpace:
    return get_space("small")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def small_problem(small_space: SearchSpace) -> mpsolve.Problem:
    """The small test space under a FLOPs budget that binds (about half the designs fit)."""
    return mpsolve.Problem(small_space, constraints=[mpsolve.Budget("flops", "12G")])


# Opens each FIFO given for writing whenever a reader waits on it, and closes it at once: the reader sees
# end of file. Its own process, as a reader blocked in compiled code (safetensors) may hold the GIL.
_FIFO_UNBLOCKER = """
import errno, os, sys, time
while True:
    for path in sys.argv[1:]:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno not in (errno.ENXIO, errno.ENOENT):
                raise
    time.sleep(0.01)
"""


@pytest.fixture
def make_fifo() -> Iterator[Callable[[Path], Path]]:
    """Make FIFOs that never block a reader: code that opens one by mistake (a regression of a check
    for regular files) reads an empty file and fails its test, where it would hang."""
    procs: list[subprocess.Popen] = []

    def make(path: Path) -> Path:
        os.mkfifo(path)
        procs.append(subprocess.Popen([sys.executable, "-c", _FIFO_UNBLOCKER, str(path)]))
        return path

    yield make
    for proc in procs:
        proc.kill()
        proc.wait()
