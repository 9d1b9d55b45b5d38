"""Our evolutionary algorithm (spec section 4, the paper's Algorithms 1-2), batched."""

from __future__ import annotations

from typing import Any

import numpy as np

from mpsolve.core.checkpoint import CheckpointError
from mpsolve.core.solver import SolveContext, Solver
from mpsolve.solvers._registry import register_solver
from mpsolve.utils.errors import MpsolveError, SolverError, shown
from mpsolve.utils.validation import check_integer, is_fraction

__all__ = ["EvolutionarySolver"]


def _resumed_population(ctx: SolveContext) -> tuple[np.ndarray, np.ndarray, int]:
    """The population of a checkpoint, checked and re-scored (its stored scores are not trusted)."""
    st = ctx.resume_state["solver_state"]
    pop_X, done = st.get("pop_X"), st.get("done")
    if not (isinstance(pop_X, np.ndarray) and pop_X.ndim == 2 and pop_X.shape[1] == ctx.problem.n_var
            and isinstance(done, int) and not isinstance(done, bool) and done >= 0):
        raise CheckpointError("the ea checkpoint is malformed: it needs pop_X (designs x variables) and done")
    if not len(pop_X) or done > ctx.solver.iterations:  # neither in a run's own checkpoint: it would end at once
        raise CheckpointError(f"the ea checkpoint is malformed: its population is empty or its {shown(done)} children "
                              f"exceed the run's iterations ({ctx.solver.iterations})")
    try:
        pop_X = ctx.problem.space.check_encoding(pop_X)
        ctx.rng.bit_generator.state = st.get("rng")
    except (MpsolveError, TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"the ea checkpoint is malformed: {exc}") from None
    ev = ctx.problem.evaluate(pop_X)
    if not np.all(ev.feasible):
        raise CheckpointError("the ea checkpoint does not fit this problem: its population holds infeasible designs; "
                              "the file was edited, or a file the problem reads (a latency profile) changed")
    return pop_X, ev.objective, done


@register_solver
class EvolutionarySolver(Solver):
    """Steady-state evolution: mutate a random top parent, keep it if feasible, drop the worst.

    Each step draws ``batch_size`` parents uniformly among the ``parents`` best members,
    mutates each once (one block, one of E/r/L, a neighbouring or uniform grid value, width
    order restored), discards infeasible children and duplicates, inserts the rest and trims
    the population to ``population`` by objective. ``batch_size=1`` is the paper's strictly
    sequential loop; batches make the same search vectorised (numpy) and much faster.

    A child is mutated once more with probability ``p_repeat``, repeatedly. Under a tight
    budget, improving a design often needs two coordinated moves (narrow one block, widen
    another) that are infeasible one at a time, and the paper's single mutation
    (``p_repeat=0``) tends to stall below the optimum there; how far, and how the default
    ``p_repeat`` does, is measured by ``benchmarks/optimality.py`` (numbers in
    ``benchmarks/results/optimality.md``).

    Args:
        iterations: children generated in all (the paper: 100 000).
        population: population size (512).
        parents: how many of the best members can be parents, at most ``population``
            (default: 64, or ``population`` when smaller).
        batch_size: children generated per vectorised step.
        p_neighbour: probability that a mutation moves to a neighbouring grid value rather
            than a uniformly drawn one.
        init_samples: random designs drawn to fill the initial population.
        p_repeat: probability of each further mutation of a child (0: the paper's one).
    """

    name = "ea"
    resumable = True

    def __init__(
        self,
        iterations: int = 100_000,
        population: int = 512,
        parents: int | None = None,
        batch_size: int = 64,
        p_neighbour: float = 0.5,
        init_samples: int = 4096,
        p_repeat: float = 0.7,
    ) -> None:
        for label, v in (
            ("iterations", iterations),
            ("population", population),
            ("batch_size", batch_size),
            ("init_samples", init_samples),
        ):
            check_integer(v, f"ea: {label}", error=SolverError)
        if not is_fraction(p_neighbour):
            raise SolverError(f"ea: p_neighbour must be in [0, 1], got {p_neighbour!r}")
        if not is_fraction(p_repeat, one=False):
            raise SolverError(f"ea: p_repeat must be in [0, 1), got {p_repeat!r}")
        parents = check_integer(parents, "ea: parents", error=SolverError, optional=True)
        if parents is not None and parents > population:
            raise SolverError(f"ea: parents ({parents}) cannot exceed population ({population}): the parents are "
                              "drawn among the population's best; lower parents or raise population")
        self.iterations = int(iterations)
        self.population = int(population)
        self.parents = parents
        self.batch_size = int(batch_size)
        self.p_neighbour = float(p_neighbour)
        self.init_samples = int(init_samples)
        self.p_repeat = float(p_repeat)

    def _initial_population(self, ctx: SolveContext) -> tuple[np.ndarray, np.ndarray]:
        space = ctx.problem.space
        X = np.unique(np.concatenate([space.sample(self.init_samples, ctx.rng), ctx.feasible_seeds]), axis=0)
        X, ev = ctx.evaluate_while_time_left(X)
        X, f = X[ev.feasible], ev.objective[ev.feasible]
        order = np.argsort(-f, kind="stable")[: self.population]
        return X[order], f[order]

    def _solve(self, ctx: SolveContext) -> None:
        space = ctx.problem.space
        if ctx.resume_state is not None:
            pop_X, pop_f, done = _resumed_population(ctx)
        else:
            pop_X, pop_f = self._initial_population(ctx)
            done = 0
        seen = {row.tobytes() for row in pop_X}
        parents = min(64, self.population) if self.parents is None else self.parents
        state = {"done": done}

        def snapshot() -> dict[str, Any]:
            return {"pop_X": pop_X, "pop_f": pop_f, "done": state["done"], "rng": ctx.rng.bit_generator.state}

        ctx.set_state(snapshot)
        ctx.progress(self.iterations + self.init_samples)
        while state["done"] < self.iterations and len(pop_X) and not ctx.time_up():
            k = min(self.batch_size, self.iterations - state["done"])
            top = min(parents, len(pop_X))  # fewer members than parents while few designs are feasible
            children = space.mutate(pop_X[ctx.rng.integers(0, top, size=k)], ctx.rng, self.p_neighbour, self.p_repeat)
            ev = ctx.evaluate(children)
            keep = []
            for i in np.flatnonzero(ev.feasible):
                key = children[i].tobytes()
                if key not in seen:
                    seen.add(key)
                    keep.append(i)
            if keep:
                pop_X = np.concatenate([pop_X, children[keep]])
                pop_f = np.concatenate([pop_f, ev.objective[keep]])
                order = np.argsort(-pop_f, kind="stable")
                for row in pop_X[order[self.population :]]:
                    seen.discard(row.tobytes())
                order = order[: self.population]
                pop_X, pop_f = pop_X[order], pop_f[order]
            state["done"] += k
            ctx.maybe_checkpoint()
