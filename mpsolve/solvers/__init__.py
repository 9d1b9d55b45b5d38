"""Solver backends, each registered by name: ``ea``, ``exhaustive``, ``exact``, ``cpsat``, ``nsga2``, ``tpe``.

Backends with optional dependencies are imported only when asked for by name (or attribute).
"""

import importlib
from typing import Any

from mpsolve._solver import SolveContext, Solver, get_solver, list_solvers, register_solver
from mpsolve.solvers._ea import EvolutionarySolver
from mpsolve.solvers._exact import ExactSolver
from mpsolve.solvers._exhaustive import ExhaustiveSolver

_OPTIONAL = {
    "CPSATSolver": "mpsolve.solvers._cpsat",
    "NSGA2Solver": "mpsolve.solvers._nsga2",
    "TPESolver": "mpsolve.solvers._tpe",
}

__all__ = [
    "CPSATSolver",
    "EvolutionarySolver",
    "ExactSolver",
    "ExhaustiveSolver",
    "NSGA2Solver",
    "SolveContext",
    "Solver",
    "TPESolver",
    "get_solver",
    "list_solvers",
    "register_solver",
]


def __getattr__(name: str) -> Any:
    if name in _OPTIONAL:
        return getattr(importlib.import_module(_OPTIONAL[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
