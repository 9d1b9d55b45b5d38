"""Exhaustive enumeration: the ground truth on spaces small enough to enumerate."""

from __future__ import annotations

import numpy as np

from mpsolve.core.problem import Problem
from mpsolve.core.solver import SolveContext, Solver
from mpsolve.solvers._registry import register_solver
from mpsolve.utils.errors import SolverError
from mpsolve.utils.validation import check_integer

__all__ = ["ExhaustiveSolver"]


@register_solver
class ExhaustiveSolver(Solver):
    """Score every design of the space in bounded-memory chunks; optimal when it finishes.

    Ties are broken by the enumeration order (the first best design is kept), so the answer
    does not depend on the seed. Constraints are checked first and only feasible designs are
    scored.

    Args:
        max_designs: refuse spaces with more designs than this (the default space has about
            2e8 and takes minutes; raise the limit to enumerate larger ones).
        chunk_size: designs scored per vectorised batch (memory grows linearly with it).
    """

    name = "exhaustive"
    stochastic = False

    def __init__(self, max_designs: int = 300_000_000, chunk_size: int = 1 << 18) -> None:
        for label, v in (("max_designs", max_designs), ("chunk_size", chunk_size)):
            check_integer(v, f"exhaustive: {label}", error=SolverError)
        self.max_designs = int(max_designs)
        self.chunk_size = int(chunk_size)

    def _solve(self, ctx: SolveContext) -> None:
        space = ctx.problem.space
        size = space.size()
        if size > self.max_designs:
            raise SolverError(
                f"exhaustive: space {space.name!r} has {size:.4g} designs, more than max_designs="
                f"{self.max_designs:.4g}; use a smaller space, raise max_designs, or use cpsat for a proved optimum"
            )
        # score only feasible designs, and only what the constraints need (the result re-reports
        # every cost of the returned design); skipped designs still count as evaluated
        lean = Problem(space, ctx.problem.objective, ctx.problem.constraints, report_costs=[])
        ctx.problem, full = lean, ctx.problem
        ctx.progress(size)
        try:
            for X in space.enumerate(self.chunk_size):
                if ctx.time_up():
                    return
                batch = space.decode_batch(X)
                ok = np.ones(len(X), dtype=bool)
                for c in lean.constraints:
                    ok &= c.violation(batch, space) <= 0
                ctx.n_evals += int(len(X) - ok.sum())
                if ok.any():
                    ctx.evaluate(X[ok])
        finally:
            ctx.problem = full
        ctx.status = "optimal"
        ctx.bound = ctx.best_f if ctx.best_x is not None else None
