"""Every built-in backend passes the conformance suite of :mod:`mpsolve.testing.pytest_solvers`."""

from __future__ import annotations

import numpy as np
import pytest

from mpsolve import SolveContext, Solver
from mpsolve.testing.pytest_solvers import SolverConformance


class TestEA(SolverConformance):
    solver = "ea"
    fast_options = {"iterations": 2000, "init_samples": 512}
    long_options = {"iterations": 10**9}


class TestExhaustive(SolverConformance):
    solver = "exhaustive"
    exact = True
    long_options = {"chunk_size": 1 << 14}


class TestCPSAT(SolverConformance):
    solver = "cpsat"
    exact = True
    fast_options = {"workers": 2}
    same_path = False  # two workers: the same answer (ties go to the smallest encoding), not the same path
    long_space = "large8"


class TestNSGA2(SolverConformance):
    solver = "nsga2"
    fast_options = {"pop_size": 40, "generations": 15}
    long_options = {"generations": 10**6}


class TestTPE(SolverConformance):
    solver = "tpe"
    fast_options = {"n_trials": 60, "n_startup_trials": 20}
    long_options = {"n_trials": 10**6}


class RandomSearch(Solver):
    """A third-party backend in a few lines: uniform samples, in batches, until done or out of time."""

    name = "random-search"

    def __init__(self, samples: int = 100_000) -> None:
        self.samples = samples

    def _solve(self, ctx: SolveContext) -> None:
        while ctx.n_evals < self.samples and not ctx.time_up():
            ctx.evaluate(ctx.problem.space.sample(1000, ctx.rng))


class TestThirdPartyBackend(SolverConformance):
    solver = RandomSearch
    fast_options = {"samples": 2000}
    long_options = {"samples": 10**12}


class TestExact(SolverConformance):
    solver = "exact"
    exact = True
    long_space = "large8"


class _ClaimsOptimal(Solver):
    """Scores every design but the best ones and says 'optimal' (proved): within 1 % of the optimum, not at it."""

    name = "claims-optimal"

    def _solve(self, ctx: SolveContext) -> None:
        X = np.concatenate(list(ctx.problem.space.enumerate()))
        ev = ctx.problem.evaluate(X)
        f = np.where(ev.feasible, ev.objective, -np.inf)
        ctx.evaluate(X[f < f.max()])
        ctx.status = "optimal"


class _ClaimsOptimalConformance(SolverConformance):  # not collected: its checks are called below
    solver = _ClaimsOptimal


def test_the_suite_checks_a_claimed_optimum_of_a_backend_not_marked_exact() -> None:
    """Before: a non-exact backend's 'optimal' was held to 99 % of the optimum only, so a wrong proof passed."""
    suite = _ClaimsOptimalConformance()
    with pytest.raises(AssertionError, match=r"status 'optimal' at \S+, not \S+"):
        suite.test_default_effort_reaches_the_exhaustive_optimum("40G")
    with pytest.raises(AssertionError, match=r"status 'optimal' at"):
        suite.test_prefill_and_decode_latency_budgets_are_met()


class _IgnoresItsSeed(RandomSearch):
    """Draws from its own generator of a fixed seed instead of ``ctx.rng``: every seed gives one run."""

    name = "ignores-its-seed"

    def _solve(self, ctx: SolveContext) -> None:
        rng = np.random.default_rng(0)
        while ctx.n_evals < self.samples and not ctx.time_up():
            ctx.evaluate(ctx.problem.space.sample(1000, rng))


class _IgnoresItsSeedConformance(SolverConformance):  # not collected: its check is called below
    solver = _IgnoresItsSeed
    fast_options = {"samples": 2000}


def test_the_suite_checks_that_the_seed_matters() -> None:
    """Before: a stochastic backend that ignored its seed passed every check (the same seed gave the same run)."""
    with pytest.raises(AssertionError, match="seeds 1, 2, 3 gave one run"):
        _IgnoresItsSeedConformance().test_the_seed_matters_as_declared()
