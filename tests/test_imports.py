"""Every public module imports on its own, in a fresh interpreter (no hidden import cycle)."""

from __future__ import annotations

import importlib
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


@pytest.mark.parametrize("package", [name for name in MODULES if hasattr(importlib.import_module(name), "__path__")])
def test_a_package_shows_its_public_names_not_its_own_imports(package: str) -> None:
    """A package's ``dir()`` and tab completion list its ``__all__`` and submodules; before, its own imports showed
    beside them (``mpsolve.solvers.Any``, ``mpsolve.objectives.Registry``, ``mpsolve.cli.sys``). (A plain module
    shows its imports, as Python's own do.)"""
    imported = importlib.import_module(package)
    public = getattr(imported, "__all__", ())
    shown = [name for name in dir(imported) if not name.startswith("_") and name not in public]
    assert [name for name in shown if f"{package}.{name}" not in sys.modules] == []


def test_a_test_worker_runs_one_blas_thread() -> None:
    """The suite's worker processes already fill the cores: numpy's OpenBLAS read ``OMP_NUM_THREADS`` when it
    loaded, before the conftest set it, and ran two threads a worker on two cores."""
    import os

    from threadpoolctl import threadpool_info

    if "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("a test worker's setting (pytest -n N); one process keeps the machine's")
    pools = {(pool["internal_api"], pool["filepath"]): pool["num_threads"] for pool in threadpool_info()}
    assert pools and set(pools.values()) == {1}, pools
