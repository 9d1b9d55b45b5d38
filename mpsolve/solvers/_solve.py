"""The one verb users need: ``mpsolve.solve``."""

from __future__ import annotations

import inspect
from typing import Any

from mpsolve.core.problem import Problem
from mpsolve.core.result import Result
from mpsolve.core.solver import Solver, run_clock
from mpsolve.solvers._registry import get_solver

__all__ = ["RUN_OPTIONS", "solve"]

#: the per-run keywords of :meth:`Solver.solve` (read from its signature, never listed by hand)
RUN_OPTIONS = frozenset(
    p.name for p in inspect.signature(Solver.solve).parameters.values() if p.kind is p.KEYWORD_ONLY
)


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
        seed: seed of the run (same seed, same answer); ``None`` draws one from fresh entropy, which the result
            records.
        time_limit: wall-clock seconds, loading the backend included (OR-Tools takes ~0.6 s on first use); the
            best design so far is returned when it expires.
        **kwargs: the keyword-only run options of :meth:`Solver.solve` (``progress``,
            ``callback``, ``checkpoint``, ...) go to the run; anything else is a solver option.
    """
    run = {k: kwargs.pop(k) for k in list(kwargs) if k in RUN_OPTIONS}
    with run_clock():  # a backend's first use imports it (CP-SAT: OR-Tools), within the time limit
        return get_solver(solver, **kwargs).solve(problem, seed=seed, time_limit=time_limit, **run)
