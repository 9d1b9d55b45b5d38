"""Solver backends, each registered by name: ``ea``, ``exhaustive``, ``exact``, ``cpsat``, ``nsga2``, ``tpe``.

One module per backend, and the one registry (:data:`SOLVERS`) beside them. Every backend
loads on first use (by name, or as an attribute of this package), so optional dependencies
(``ortools``, ``pymoo``, ``optuna``) are imported only when asked for. A third-party backend
registers the way the built-in ones do: ``@register_solver`` on a :class:`Solver` subclass.
"""

from typing import Any as _Any

from mpsolve.core.solver import SolveContext, Solver
from mpsolve.solvers._registry import SOLVERS, get_solver, list_solvers, register_solver
from mpsolve.solvers._solve import RUN_OPTIONS, solve

__all__ = [
    "CPSATSolver",
    "EvolutionarySolver",
    "ExactSolver",
    "ExhaustiveSolver",
    "NSGA2Solver",
    "RUN_OPTIONS",
    "SOLVERS",
    "SolveContext",
    "Solver",
    "TPESolver",
    "get_solver",
    "list_solvers",
    "register_solver",
    "solve",
]


def __getattr__(name: str) -> _Any:
    try:
        return SOLVERS.by_attribute(name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
