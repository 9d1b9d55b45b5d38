"""Solver backends, each registered by name: ``ea``, ``exhaustive``, ``cpsat``, ``nsga2``, ``tpe``.

Backends with optional dependencies are imported only when asked for by name.
"""

from mpsolve._solver import SolveContext, Solver, get_solver, list_solvers, register_solver
from mpsolve.solvers._ea import EvolutionarySolver

__all__ = ["EvolutionarySolver", "SolveContext", "Solver", "get_solver", "list_solvers", "register_solver"]
