import signal

import numpy as np
import pytest

import mpsolve
from mpsolve import Budget, Problem
from mpsolve.solvers import EvolutionarySolver


def test_ea_designs_are_feasible_on_random_problems(rng):
    space = mpsolve.get_space("default")
    flops = Problem(space).evaluate(space.sample(500, rng)).costs["flops"]
    for i, q in enumerate((0.05, 0.3, 0.7)):
        budget = float(np.quantile(flops, q))
        problem = Problem(space, constraints=[Budget("flops", budget), Budget("params", 120e6)])
        result = mpsolve.solve(problem, "ea", seed=i, iterations=3000)
        assert result.status == "feasible"
        assert result.costs["flops"] <= budget and result.costs["params"] <= 120e6
        assert problem.evaluate(result.x).feasible[0]
        assert result.objective == pytest.approx(problem.evaluate(result.x).objective[0])


def test_ea_is_deterministic_per_seed(small_problem):
    a = mpsolve.solve(small_problem, "ea", seed=3, iterations=3000)
    b = mpsolve.solve(small_problem, "ea", seed=3, iterations=3000)
    assert (
        a.architecture == b.architecture
        and a.history == [tuple(h) for h in b.history]
        or ([h[1:] for h in a.history] == [h[1:] for h in b.history])
    )
    assert a.objective == b.objective and a.n_evals == b.n_evals


def test_ea_finds_the_optimum_of_the_small_space(small_problem):
    ev = [small_problem.evaluate(X) for X in small_problem.space.enumerate()]
    best = max(float(np.max(np.where(e.feasible, e.objective, -np.inf))) for e in ev)
    result = mpsolve.solve(small_problem, "ea", seed=0, iterations=5000)
    assert result.objective >= 0.99 * best


def test_ea_beats_published_merino_64m_at_165g():
    problem = Problem("default", constraints=[Budget("flops", "165G")])
    result = mpsolve.solve(problem, "ea", seed=0)
    published = problem.objective.of(mpsolve.get_architecture("merino-64m"))
    assert result.costs["flops"] <= 165e9
    assert result.objective >= published


def test_time_limit_and_interrupt_return_best_so_far(small_problem):
    result = mpsolve.solve(small_problem, "ea", seed=0, time_limit=0.3, iterations=10**9, batch_size=1)
    # 10**9 iterations take hours, so stopping at all shows the limit works; 0.29 allows float rounding of the
    # deadline, 10 s a loaded machine (the overshoot is one batch of one design, milliseconds when idle).
    assert 0.29 < result.wall_time < 10 and result.architecture is not None

    def interrupt(ctx):
        if ctx.n_evals > 5000:
            raise KeyboardInterrupt

    result = mpsolve.solve(small_problem, "ea", seed=0, callback=interrupt)
    assert result.status == "interrupted" and result.architecture is not None
    assert small_problem.evaluate(result.x).feasible[0]


def test_history_is_monotone(small_problem):
    result = mpsolve.solve(small_problem, "ea", seed=0, iterations=2000)
    best = [h[2] for h in result.history]
    assert best == sorted(best) and best[-1] == result.objective


def test_bad_options_and_unknown_solver(small_problem):
    with pytest.raises(mpsolve.SolverError, match="population"):
        EvolutionarySolver(population=0)
    with pytest.raises(mpsolve.SolverError, match="known solvers: .*ea"):
        mpsolve.solve(small_problem, "simulated-annealing")
    with pytest.raises(mpsolve.SolverError, match="time_limit"):
        mpsolve.solve(small_problem, "ea", time_limit=-1)


def test_a_ctrl_c_that_numpy_reports_as_another_error_still_returns_best_so_far(small_problem):
    """numpy turns a KeyboardInterrupt raised inside np.unique's structured comparison into a TypeError."""

    def interrupt_seen_as_type_error(ctx):
        if ctx.n_evals > 5000:
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                raise TypeError("Cannot compare structured arrays unless they have a common dtype.") from None

    def plain_error(ctx):
        raise TypeError("a real bug")

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        result = mpsolve.solve(small_problem, "ea", seed=0, callback=interrupt_seen_as_type_error)
        with pytest.raises(TypeError, match="a real bug"):
            mpsolve.solve(small_problem, "ea", seed=0, callback=plain_error)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.status == "interrupted" and small_problem.evaluate(result.x).feasible[0]
