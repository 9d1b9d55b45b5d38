"""Every built-in backend passes the conformance suite of :mod:`mpsolve.testing.pytest_solvers`."""

from __future__ import annotations

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
