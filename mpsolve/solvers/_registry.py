"""The solver registry: one table of backends by name, built-in ones imported on first use."""

from __future__ import annotations

from typing import Any

from mpsolve.core.solver import Solver
from mpsolve.utils.errors import SolverError
from mpsolve.utils.params import construct
from mpsolve.utils.registry import Registry

__all__ = ["SOLVERS", "get_solver", "list_solvers", "register_solver"]

#: every backend by name; the built-in ones load lazily (their optional dependencies too). ``SOLVERS.remove(name)``
#: undoes the latest registration: a plug-in registered with ``replace=True`` gives way to the built-in it stood in
#: for; a built-in removed outright is back with ``register_solver(mpsolve.solvers.EvolutionarySolver)`` (its class)
SOLVERS: Registry[type[Solver]] = Registry(
    "solver",
    SolverError,
    lazy={
        "ea": "mpsolve.solvers._ea:EvolutionarySolver",
        "exhaustive": "mpsolve.solvers._exhaustive:ExhaustiveSolver",
        "exact": "mpsolve.solvers._exact:ExactSolver",
        "cpsat": "mpsolve.solvers._cpsat:CPSATSolver",
        "nsga2": "mpsolve.solvers._nsga2:NSGA2Solver",
        "tpe": "mpsolve.solvers._tpe:TPESolver",
    },
    sort=True,
)


def register_solver(cls: type[Solver], *, replace: bool = False) -> type[Solver]:
    """Class decorator that makes a backend available by its ``name``; a taken name (a
    built-in's included) is refused unless ``replace``."""
    if not (isinstance(cls, type) and issubclass(cls, Solver)) or not cls.name:
        raise SolverError("register_solver expects a Solver subclass with a non-empty `name`")
    SOLVERS.add(cls.name, cls, replace)
    return cls


def list_solvers() -> list[str]:
    """Names of every known backend (built-in ones whose module exists, and registered ones)."""
    return sorted(SOLVERS)


def get_solver(solver: str | Solver | type[Solver], **options: Any) -> Solver:
    """A backend instance from a name, a class or an instance."""
    if isinstance(solver, Solver):
        if options:
            raise SolverError("solver options are only accepted with a solver given by name or class")
        return solver
    cls = solver if isinstance(solver, type) and issubclass(solver, Solver) else SOLVERS[solver]
    return construct(cls, options, f"solver {cls.name!r}", SolverError)
