"""The one verb users need: ``mpsolve.solve``."""

from __future__ import annotations

from typing import Any

from mpsolve._problem import Problem
from mpsolve._result import Result
from mpsolve._solver import Solver, get_solver

__all__ = ["solve"]


def solve(
    problem: Problem,
    solver: str | Solver | type[Solver] = "ea",
    seed: int | None = None,
    time_limit: float | None = None,
    **kwargs: Any,
) -> Result:
    """Solve ``problem`` with a backend chosen by name (pymoo's ``minimize``).

    Args:
        problem: the mathematical program.
        solver: a backend name (see :func:`mpsolve.list_solvers`), class or instance.
        seed: seed of the run (same seed, same answer).
        time_limit: wall-clock seconds; the best design so far is returned when it expires.
        **kwargs: ``progress``, ``callback``, ``checkpoint``, ``checkpoint_every`` and
            ``resume`` go to :meth:`Solver.solve`; anything else is a solver option.
    """
    run_keys = {"progress", "callback", "checkpoint", "checkpoint_every", "resume"}
    run = {k: kwargs.pop(k) for k in list(kwargs) if k in run_keys}
    return get_solver(solver, **kwargs).solve(problem, seed=seed, time_limit=time_limit, **run)
