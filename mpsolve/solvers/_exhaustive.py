"""Exhaustive enumeration: the ground truth on spaces small enough to enumerate."""

from __future__ import annotations

import functools
import itertools

import numpy as np

from mpsolve.core.problem import Problem
from mpsolve.core.solver import SolveContext, Solver
from mpsolve.solvers._exact import SLACK, BlockTables
from mpsolve.solvers._registry import register_solver
from mpsolve.spaces import Architecture, SearchSpace
from mpsolve.utils.errors import SolverError
from mpsolve.utils.validation import check_integer

__all__ = ["ExhaustiveSolver"]


@register_solver
class ExhaustiveSolver(Solver):
    """Score every design of the space in bounded-memory chunks; optimal when it finishes.

    Ties are broken by the enumeration order (the first best design is kept), so the answer
    does not depend on the seed. When the objective and every constraint are sums over blocks
    (what the ``exact`` backend models), each width order is scored at once from per-block
    tables by broadcasting, width orders that no choice of ratios and depths fits in a budget
    are skipped, and every design within a relative ``1e-9`` of the best of a chunk (or on a
    budget's boundary) is re-scored by the problem itself, which alone decides the answer.
    Otherwise constraints are checked first and only feasible designs are scored.

    Args:
        max_designs: refuse spaces with more designs than this (the default space has about
            2e8; raise the limit to enumerate larger ones).
        chunk_size: designs scored per vectorised batch (memory grows linearly with it).
    """

    name = "exhaustive"
    stochastic = False

    def __init__(self, max_designs: int = 300_000_000, chunk_size: int = 1 << 20) -> None:
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
                f"{self.max_designs:.4g}; use a smaller space, raise max_designs, or use exact or cpsat for a "
                "proved optimum"
            )
        ctx.progress(size)
        try:
            tables = BlockTables(ctx.problem, self.name)
        except SolverError:
            tables = None
        done = self._tabled(ctx, tables) if tables is not None else self._generic(ctx)
        if done:
            ctx.status = "optimal"
            ctx.bound = ctx.best_f if ctx.best_x is not None else None

    def _generic(self, ctx: SolveContext) -> bool:
        space = ctx.problem.space
        # score only feasible designs, and only what the constraints need (the result re-reports
        # every cost of the returned design); skipped designs still count as evaluated
        lean = Problem(space, ctx.problem.objective, ctx.problem.constraints, report_costs=[])
        ctx.problem, full = lean, ctx.problem
        try:
            for X in space.enumerate(self.chunk_size):
                if ctx.time_up():
                    return False
                batch = space.decode_batch(X)
                ok = np.ones(len(X), dtype=bool)
                design = functools.partial(_decode_row, space, X)  # a plug-in's values are checked, naming it
                for c in lean.constraints:
                    ok &= lean.violation(c, batch, design=design) <= 0
                ctx.n_evals += int(len(X) - ok.sum())
                if ok.any():
                    ctx.evaluate(X[ok])
        finally:
            ctx.problem = full
        return True

    def _tabled(self, ctx: SolveContext, tab: BlockTables) -> bool:
        """Enumerate in the order of :meth:`SearchSpace.enumerate`, scoring from the tables."""
        N, k, m = tab.N, tab.k, len(tab.choices) // tab.k
        lead = 0  # leading blocks enumerated one by one, so that a chunk has at most chunk_size designs
        while lead < N and m ** (N - lead) > self.chunk_size:
            lead += 1
        per_chunk = m ** (N - lead)
        for w in itertools.combinations_with_replacement(range(k), N):
            if ctx.time_up():
                return False
            blocks = [w[i] * m + np.arange(m) for i in range(N)]  # the choices of each block
            pair = [sum(Q[w[i], w[i + 1]] for i in range(N - 1)) for _, Q, _, _ in tab.budgets]
            if any(
                pair[j] + sum(U[b].min() for b in blocks) + max(W[b].min() for b in blocks) > limit * (1 + SLACK)
                for j, (U, _, W, limit) in enumerate(tab.budgets)
            ):
                ctx.n_evals += m**N  # no choice of ratios and depths fits: the whole width order is out
                continue
            # the objective's own adjacent-width term (the params objectives' width projections)
            value = sum(tab.pair_value[w[i], w[i + 1]] for i in range(N - 1))
            for head in itertools.product(range(m), repeat=lead):
                self._chunk(ctx, tab, [int(b[h]) for b, h in zip(blocks, head)], blocks[lead:], pair, value,
                            per_chunk)
        return True

    def _chunk(
        self,
        ctx: SolveContext,
        tab: BlockTables,
        head: list[int],
        rest: list[np.ndarray],
        pair: list[float],
        value: float,
        size: int,
    ) -> None:
        """Score the designs with the leading blocks ``head`` and every choice of the ``rest``."""

        def total(values: np.ndarray, combine: np.ufunc = np.add) -> np.ndarray:
            """``values`` of the chosen blocks combined over every design of the chunk, in order."""
            out = values[rest[0]] if rest else np.zeros(1)
            for b in rest[1:]:
                out = combine.outer(out, values[b]).ravel()
            return combine(combine.reduce(values[head]), out) if head else out

        sums = [total(tab.parts[p]) for p in range(5)]
        T = total(tab.depth.astype(np.float64))
        loose = np.ones(size, dtype=bool)
        strict = np.ones(size, dtype=bool)
        for (U, _, W, limit), q in zip(tab.budgets, pair):
            cost = total(U) + q + (total(W, np.maximum) if W.any() else 0.0)
            loose &= cost <= limit + SLACK * abs(limit)
            strict &= cost <= limit - SLACK * abs(limit)
        for coef, part in tab.rho_min_s:
            need = coef * T * T
            loose &= sums[part] >= need * (1 - SLACK)
            strict &= sums[part] >= need * (1 + SLACK)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            f = tab.objective(sums[0] + value, sums[1], sums[3], sums[4], T)
        top = max(ctx.best_f, float(f[strict].max(initial=-np.inf)))
        keep = np.flatnonzero(loose & (f + SLACK * np.abs(f) >= top - SLACK * abs(top)))
        ctx.n_evals += size - len(keep)
        if len(keep):
            X = np.empty((len(keep), 3 * tab.N), dtype=np.int64)
            lead = len(head)
            X[:, : 3 * lead] = tab.choices[head].ravel() if lead else 0
            picks = np.unravel_index(keep, [len(b) for b in rest]) if rest else ()
            for i, (b, pick) in enumerate(zip(rest, picks)):
                X[:, 3 * (lead + i) : 3 * (lead + i + 1)] = tab.choices[b[pick]]
            ctx.evaluate(X)


def _decode_row(space: SearchSpace, X: np.ndarray, i: int) -> Architecture:
    return space.decode(X[i])
