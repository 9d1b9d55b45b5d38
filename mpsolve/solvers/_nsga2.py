"""pymoo NSGA-II backend: a Pareto front of entropy against the costs the user names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mpsolve.core.checkpoint import replay_point
from mpsolve.core.front import front_entries
from mpsolve.core.solver import SolveContext, Solver
from mpsolve.solvers._registry import register_solver
from mpsolve.spaces import SearchSpace
from mpsolve.utils.errors import SolverError
from mpsolve.utils.validation import check_integer, is_finite_number, is_fraction

__all__ = ["NSGA2Solver"]


try:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.mutation import Mutation
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.core.repair import Repair
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.problems.static import StaticProblem
except ImportError:  # pragma: no cover - depends on the installation
    raise SolverError("solver 'nsga2' needs pymoo: pip install 'mpsolve[solvers]' (or pymoo)") from None


class WidthOrderRepair(Repair):
    """Round and clip the indices to the grid, then sort each design's width indices."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space

    def _do(self, problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
        return self.space.repair(X)


class GridMutation(Mutation):
    """The EA's mutation (:meth:`SearchSpace.mutate`): one block variable moves on its grid."""

    def __init__(self, space: SearchSpace, p_neighbour: float) -> None:
        super().__init__(prob=1.0)
        self.space, self.p_neighbour = space, p_neighbour

    def _do(self, problem: Any, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        return self.space.mutate(self.space.repair(X), random_state, self.p_neighbour).astype(np.float64)


@register_solver
class NSGA2Solver(Solver):
    """NSGA-II (pymoo) on the integer encoding; returns the best design and the Pareto front.

    Objectives: maximise the problem's objective and minimise every cost in ``costs``
    (default: the budgeted costs, so a budgeted problem yields an entropy-vs-cost front).
    Budgets and other constraints are pymoo inequality constraints (relative to each budget);
    the width order is kept by a repair that sorts the width indices, not by constraints.
    SBX crossover works on the indices as reals (rounded by the repair); mutation is the EA's
    grid move (one block variable to a neighbouring or uniformly drawn grid value).

    Args:
        pop_size: population size.
        generations: generations (``pop_size * generations`` evaluations in all).
        costs: names of the costs minimised besides the objective (``()``: single objective).
        crossover_eta: distribution index of SBX crossover.
        p_neighbour: probability that a mutation moves to a neighbouring grid value.
    """

    name = "nsga2"
    resumable = True

    def __init__(
        self,
        pop_size: int = 100,
        generations: int = 100,
        costs: Sequence[str] | None = None,
        crossover_eta: float = 15.0,
        p_neighbour: float = 0.5,
    ) -> None:
        for label, v, least in (("pop_size", pop_size, 2), ("generations", generations, 1)):  # a pair to cross over
            check_integer(v, f"nsga2: {label}", least, error=SolverError)
        if isinstance(costs, str):  # commas inside a label's brackets (memory[seq_len=128,batch_size=8]) stay
            costs = [c.strip() for c in re.split(r",(?![^\[]*\])", costs) if c.strip()]
        self.pop_size = int(pop_size)
        self.generations = int(generations)
        if costs is not None:
            names = tuple(costs) if isinstance(costs, Iterable) and not isinstance(costs, Mapping) else None
            if names is None or not all(isinstance(c, str) for c in names):
                raise SolverError(f"nsga2: costs must be cost names (a list of strings or 'a,b'), got {costs!r}")
            costs = names
        self.costs = costs
        if not (is_finite_number(crossover_eta) and crossover_eta >= 0):
            raise SolverError(f"nsga2: crossover_eta must be a number >= 0, got {crossover_eta!r}")
        self.crossover_eta = float(crossover_eta)
        if not is_fraction(p_neighbour):
            raise SolverError(f"nsga2: p_neighbour must be in [0, 1], got {p_neighbour!r}")
        self.p_neighbour = float(p_neighbour)

    def _objective_costs(self, ctx: SolveContext) -> list[str]:
        problem = ctx.problem
        names = [problem.cost_key(b.cost) for b in problem.budgets] if self.costs is None else list(self.costs)
        unknown = [n for n in names if n not in problem.costs]
        if unknown:
            raise SolverError(
                f"nsga2: cost(s) {unknown} are not reported by the problem (it reports {sorted(problem.costs)}); "
                "add them to Problem(report_costs=...) (a problem file's report_costs = [...]) or budget them"
            )
        return list(dict.fromkeys(names))

    def _solve(self, ctx: SolveContext) -> None:
        problem, space = ctx.problem, ctx.problem.space
        names = self._objective_costs(ctx)
        # A checkpoint holds data only: a resumed run replays its seeded generations (cheap,
        # without re-counting them) from the run's first RNG state, then goes on.
        resumed = ctx.resume_state["solver_state"] if ctx.resume_state is not None else None
        if resumed is not None:
            replay, rng_start = replay_point(resumed, "generations", self.name, self.generations)
            ctx.rng.bit_generator.state = rng_start
        else:
            replay, rng_start = 0, ctx.rng.bit_generator.state
        n_seed = min(len(ctx.feasible_seeds), self.pop_size // 2)
        seeds = ctx.feasible_seeds[ctx.rng.permutation(len(ctx.feasible_seeds))[:n_seed]]
        X0 = np.concatenate([seeds, space.sample(self.pop_size - n_seed, ctx.rng)])
        pymoo_problem = PymooProblem(
            n_var=space.n_var,
            n_obj=1 + len(names),
            n_ieq_constr=max(1, len(problem.constraints)),
            xl=np.zeros(space.n_var),
            xu=space.upper.astype(np.float64),
            vtype=int,
        )
        algorithm = NSGA2(
            pop_size=self.pop_size,
            sampling=X0.astype(np.float64),
            crossover=SBX(prob=0.9, eta=self.crossover_eta, vtype=float),
            mutation=GridMutation(space, self.p_neighbour),
            repair=WidthOrderRepair(space),
            eliminate_duplicates=True,
        )
        seed = int(ctx.rng.integers(0, 2**31 - 1))
        algorithm.setup(pymoo_problem, termination=("n_gen", self.generations), seed=seed, verbose=False)
        done = {"generations": 0}
        ctx.set_state(lambda: {"generations": done["generations"], "rng_start": rng_start})
        ctx.progress(self.pop_size * self.generations)
        while algorithm.has_next() and not ctx.time_up():
            pop = algorithm.ask()
            if pop is None or len(pop) == 0:  # no new design left (a tiny space, all duplicates)
                break
            X = space.repair(pop.get("X"))
            ev = problem.evaluate(X) if done["generations"] < replay else ctx.evaluate(X)
            F = np.column_stack([-ev.objective] + [ev.costs[n] for n in names])
            G = problem.relative_violations(ev) if problem.constraints else np.zeros((len(X), 1))
            Evaluator().eval(StaticProblem(algorithm.problem, F=F, G=G), pop)
            algorithm.tell(infills=pop)
            done["generations"] += 1
            if done["generations"] >= replay:
                ctx.maybe_checkpoint()
        ctx.pareto = _front(ctx, algorithm.opt, names)


def _front(ctx: SolveContext, opt: Any, names: list[str]) -> list[dict[str, Any]]:
    if opt is None or len(opt) == 0:
        return []
    X = np.unique(ctx.problem.space.repair(opt.get("X")), axis=0)
    return front_entries(ctx.problem, X, names)
