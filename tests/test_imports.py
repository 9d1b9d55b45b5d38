"""Every public module imports on its own, in a fresh interpreter (no hidden import cycle)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import mpsolve


def _public_modules() -> list[str]:
    names = ["mpsolve"]
    for info in pkgutil.walk_packages(mpsolve.__path__, "mpsolve."):
        parts = info.name.split(".")
        if not any(p.startswith("_") for p in parts):
            names.append(info.name)
    return sorted(names)


MODULES = _public_modules()


def test_the_layers_are_all_found() -> None:
    for package in ("cli", "core", "costs", "constraints", "objectives", "solvers", "spaces", "utils", "workflows"):
        assert f"mpsolve.{package}" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_test_worker_runs_one_blas_thread() -> None:
    """The suite's worker processes already fill the cores: numpy's OpenBLAS read ``OMP_NUM_THREADS`` when it
    loaded, before the conftest set it, and ran two threads a worker on two cores."""
    import os

    from threadpoolctl import threadpool_info

    if "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("a test worker's setting (pytest -n N); one process keeps the machine's")
    pools = {(pool["internal_api"], pool["filepath"]): pool["num_threads"] for pool in threadpool_info()}
    assert pools and set(pools.values()) == {1}, pools
