"""The exact backend (and the tabled exhaustive one): their optimum equals plain enumeration on
random spaces, option sets and budgets."""

from __future__ import annotations

import numpy as np
import pytest

import mpsolve
import mpsolve.costs
from mpsolve import Budget, Effectiveness, MeRinoEntropy, Predicate, Problem, SearchSpace

#: option sets of the soundness check: both penalty scales, no penalty, the exp penalty, the
#: spec's provisional log variant, and the params objectives
OPTION_SETS = {
    "linear-1/4": lambda: MeRinoEntropy(),
    "linear-1/16": lambda: MeRinoEntropy(beta=1 / 16),
    "linear-1/16-log": lambda: MeRinoEntropy(variant="log", eps=1e-6, alpha=(1, 1), beta=1 / 16),
    "none": lambda: MeRinoEntropy(penalty="none"),
    "exp": lambda: MeRinoEntropy(penalty="exp"),
    "exp-gamma1": lambda: MeRinoEntropy(penalty="exp", gamma=1.0),
    "params": lambda: "params",
    "decoder_params": lambda: "decoder_params",
}


def _random_space(rng: np.random.Generator) -> SearchSpace:
    """At most about 5e4 designs, with the shapes of the on-disk spectrum table."""
    while True:
        N = int(rng.integers(1, 5))
        widths = sorted(
            rng.choice([64, 128, 192, 256, 320, 384, 448, 512], size=int(rng.integers(2, 5)), replace=False)
        )
        ratios = sorted(rng.choice([1.0, 1.5, 2.0, 3.0, 4.0], size=int(rng.integers(1, 4)), replace=False))
        layers = sorted(rng.choice([1, 2, 3, 4, 6], size=int(rng.integers(1, 4)), replace=False))
        space = SearchSpace(num_blocks=N, embed_dims=widths, ffn_ratios=ratios, layers=layers)
        if space.size() <= 50_000:
            return space


def _random_constraints(rng: np.random.Generator, space: SearchSpace, X: np.ndarray) -> list:
    """Budgets drawn between the cheapest and the dearest design, so that they bind."""
    batch = space.decode_batch(X)
    names = ("flops", "params", "memory", "decode_flops")
    costs = {name: mpsolve.costs.get_cost(name).evaluate(batch, space) for name in names}

    def limit(name: str) -> float:
        return float(np.quantile(costs[name], rng.uniform(0.02, 0.7)))

    constraints = [Budget("flops", limit("flops"))]
    if rng.random() < 0.4:
        constraints.append(Budget("params", limit("params")))
    if rng.random() < 0.3:
        constraints.append(Budget("memory", limit("memory")))
    if rng.random() < 0.25:
        constraints.append(Effectiveness(float(rng.uniform(0.1, 0.4))))
    if rng.random() < 0.3:
        constraints.append(Budget("decode_flops", limit("decode_flops")))
    return constraints


def _cases(n_spaces: int = 36) -> list:
    cases = []
    for seed in range(n_spaces):
        names = list(OPTION_SETS)
        chosen = np.random.default_rng(1000 + seed).choice(names, size=3, replace=False)
        cases.append(pytest.param(seed, list(chosen), id=f"space{seed}"))
    return cases


@pytest.mark.parametrize(("seed", "option_sets"), _cases())
def test_proved_optimum_equals_enumeration(seed: int, option_sets: list[str]) -> None:
    rng = np.random.default_rng(seed)
    space = _random_space(rng)
    X = np.concatenate(list(space.enumerate()))
    constraints = _random_constraints(rng, space, X)
    for name in option_sets:
        problem = Problem(space, OPTION_SETS[name](), constraints)
        ev = problem.evaluate(X)
        if not ev.feasible.any():
            with pytest.raises(mpsolve.InfeasibleError):
                mpsolve.solve(problem, "exact")
            continue
        best = float(np.max(np.where(ev.feasible, ev.objective, -np.inf)))
        r = mpsolve.solve(problem, "exact")
        assert r.status == "optimal" and r.gap == 0.0, name
        # the backend's objective is the problem's own float evaluation of its design, so it equals
        # enumeration's up to the rounding of a tied design (a few ulps), far below 1e-12
        assert r.objective == pytest.approx(best, rel=1e-12, abs=1e-9), name
        assert problem.evaluate(r.x[None]).feasible[0], name
        # the exhaustive backend scores from the same per-block tables: it must agree too
        ex = mpsolve.solve(problem, "exhaustive", chunk_size=int(rng.choice([7, 100, 1 << 20])))
        assert ex.status == "optimal" and ex.n_evals == space.size(), name
        assert ex.objective == pytest.approx(best, rel=1e-12, abs=1e-9), name


@pytest.mark.parametrize("quantile", [0.1, 0.5])
def test_a_padded_memory_budget_is_solved_exactly(quantile: float) -> None:
    """A padded batch's working set (SDPA's float copy of the mask, 5 E + seq_len a token) is a per-block peak
    that exact, cpsat and exhaustive solve as enumeration does."""
    space = SearchSpace(num_blocks=3, embed_dims=(64, 256, 1024), ffn_ratios=(1.0, 4.0), layers=(1, 2, 4))
    cost = mpsolve.costs.MemoryCost(seq_len=2048, batch_size=2, padded=True)
    X = np.concatenate(list(space.enumerate()))
    values = cost.evaluate(space.decode_batch(X), space)
    assert np.any(values != mpsolve.costs.MemoryCost(seq_len=2048, batch_size=2).evaluate(space.decode_batch(X), space)
                  + 2 * 2048**2)  # the copy is the largest working set of some designs
    problem = Problem(space, constraints=[Budget(cost, float(np.quantile(values, quantile)))])
    ev = problem.evaluate(X)
    best = float(np.max(np.where(ev.feasible, ev.objective, -np.inf)))
    for solver in ("exact", "cpsat", "exhaustive"):
        r = mpsolve.solve(problem, solver)
        assert r.status == "optimal" and r.objective == pytest.approx(best, rel=1e-9), solver


@pytest.mark.parametrize("budget", ["40G", "80G"])
def test_four_block_paper_space_equals_exhaustive(budget: str) -> None:
    # 4 blocks, 9.1e4 designs: deeper trees than the random spaces (the default space's 2e8 are
    # checked by benchmarks/optimality.py)
    problem = Problem("paper", constraints=[Budget("flops", budget), Budget("params", "58M")])
    r = mpsolve.solve(problem, "exact")
    ex = mpsolve.solve(problem, "exhaustive")
    assert r.status == ex.status == "optimal"
    assert r.objective == pytest.approx(ex.objective, rel=1e-12)


def test_time_limit_returns_an_honest_bound() -> None:
    problem = Problem("default", constraints=[Budget("flops", "110G"), Budget("params", "60M")])
    # the run stops at the first scored batch, as at its time limit, after the bounds are built:
    # the search stops at the root with every subtree open
    r = mpsolve.solve(problem, "exact", time_limit=60, callback=lambda ctx: ctx.stop())
    assert r.status == "feasible" and r.bound is not None and r.bound >= r.objective
    full = mpsolve.solve(problem, "exact")
    assert full.status == "optimal" and full.objective >= r.objective
    assert r.bound >= full.objective * (1 - 1e-9)
    # a limit that strikes while the bounds are built (they took 0.2-0.5 s here): the best design
    # scored so far
    early = mpsolve.solve(problem, "exact", time_limit=0.01)
    assert early.status == "feasible" and early.objective <= full.objective
    assert early.bound is None or early.bound >= full.objective * (1 - 1e-9)


def test_a_stop_after_the_last_subtree_that_could_win_is_a_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a run stopped (time limit, ctx.stop) when no open subtree's bound could beat the incumbent
    any more reported ``feasible``, not proved, with a bound equal to its objective."""
    from mpsolve.solvers import _exact

    problem = Problem("paper", constraints=[Budget("flops", "60G"), Budget("params", "58M")])
    push, pushes = _exact._Search._push, []

    def counted(search, nodes):
        pushes.append(1)
        if stop_at is not None and len(pushes) >= stop_at:
            search.ctx.stop()
        return push(search, nodes)

    monkeypatch.setattr(_exact._Search, "_push", counted)
    stop_at = None
    full = mpsolve.solve(problem, "exact")
    last, pushes[:] = len(pushes), []
    stop_at = last  # stopped in the last expansion: the search ends with its frames, nothing left to beat
    r = mpsolve.solve(problem, "exact")
    assert full.status == "optimal" and len(pushes) == last
    assert (r.status, r.proved, r.objective, r.bound) == ("optimal", True, full.objective, full.objective)
    stop_at, pushes[:] = 2, []  # stopped early: subtrees that could win are left, no proof
    early = mpsolve.solve(problem, "exact")
    assert early.status == "feasible" and not early.proved and early.bound > early.objective


def test_time_limit_covers_building_the_bounds() -> None:
    import time

    # 32 blocks x 896 block choices: building the bound tables ran past 60 s (a CLI run with a 5 s
    # limit was killed there, before the deadline was checked while building them)
    space = SearchSpace(num_blocks=32, embed_dims=tuple(range(64, 1025, 64)),
                        ffn_ratios=(1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0), layers=tuple(range(1, 9)), head_dim=64,
                        name="wide")
    start = time.perf_counter()
    r = mpsolve.solve(Problem(space, constraints=[Budget("params", "100M")]), "exact", time_limit=0.5)
    assert time.perf_counter() - start < 60 and r.status == "feasible"  # the best design scored so far, no proof
    assert r.costs["params"] <= 100e6


def test_refuses_what_it_cannot_model_naming_cpsat() -> None:
    banned = Predicate(lambda a: a.layers[0] != 2, "no two-layer first block")
    with pytest.raises(mpsolve.SolverError, match="cpsat"):
        mpsolve.solve(Problem("small", constraints=[Budget("flops", "60G"), banned]), "exact")

    class Custom(mpsolve.objectives.Objective):
        name = "custom"

        def evaluate(self, batch, constants):
            return batch.layers.sum(axis=1).astype(float)

    # not cpsat, which refuses custom objectives too (the advice was wrong)
    with pytest.raises(mpsolve.SolverError, match=r"use a heuristic \(ea, nsga2, tpe\) or exhaustive"):
        mpsolve.solve(Problem("small", Custom(), [Budget("flops", "60G")]), "exact")
    with pytest.raises(mpsolve.SolverError, match="buckets"):
        mpsolve.get_solver("exact", buckets=1)
    # 10**12 buckets would need terabytes for the bound tables: refused before anything is allocated
    with pytest.raises(mpsolve.SolverError, match=r"exact: buckets=1000000000000 needs .* GiB .*use fewer buckets"):
        mpsolve.solve(Problem("small", constraints=[Budget("flops", "60G")]), "exact", buckets=10**12)


def test_proves_infeasibility_the_feasibility_check_cannot_see() -> None:
    """Each budget alone is met by some design, but no design meets the effectiveness bound too: the search
    prunes every subtree without a feasible completion (before: nothing was pruned while there was no
    incumbent, and the run went on until the time limit)."""
    problem = Problem("default", objective="params", constraints=[Budget("flops", "160G"), Effectiveness(1e-6)])
    assert len(problem.check_feasible()) == 0  # the corner designs cannot tell
    r = mpsolve.solve(problem, "exact", time_limit=120)
    assert r.status == "infeasible" and r.architecture is None
    assert mpsolve.solve(problem, "cpsat", time_limit=120).status == "infeasible"  # the independent proof agrees
