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
