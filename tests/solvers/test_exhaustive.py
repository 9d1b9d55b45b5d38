"""Exhaustive enumeration: refuses spaces too large for it, with the size."""

from __future__ import annotations

import pytest

import mpsolve
from mpsolve import Budget, Problem


def test_refuses_a_space_too_large_with_its_size() -> None:
    with pytest.raises(mpsolve.SolverError, match=r"2\.4\d*e\+15 designs.*max_designs"):
        mpsolve.solve(Problem("large8", constraints=[Budget("flops", "60G")]), "exhaustive")


def test_small_chunks_give_the_same_answer() -> None:
    problem = Problem("small", constraints=[Budget("flops", "40G")])
    a = mpsolve.solve(problem, "exhaustive")
    b = mpsolve.solve(problem, "exhaustive", chunk_size=100)
    assert a.x.tolist() == b.x.tolist() and a.n_evals == b.n_evals == problem.space.size()
