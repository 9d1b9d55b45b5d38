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


@pytest.mark.parametrize("objective", ["params", "decoder_params", "entropy"])
@pytest.mark.parametrize("seed", range(4))
def test_equals_scoring_every_design(objective: str, seed: int) -> None:
    """The tabled enumeration left out the params objectives' width projections, so it missed an
    optimum with a width change (1736304 vs 1744624 in the first case, found by a probe)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    widths = sorted({int(w) * 32 for w in rng.choice(np.arange(2, 10), size=3, replace=False)})
    space = mpsolve.SearchSpace(3, widths, [3.0, 4.0], [2, 4], vocab_size=2, embed_proj_dim=16, max_positions=64,
                                head_dim=32, shared=bool(seed % 2))
    if seed == 0:
        space = mpsolve.SearchSpace(3, [192, 256], [3.0, 4.0], [2, 4], vocab_size=2, embed_proj_dim=16,
                                    max_positions=64, head_dim=32)
    flops = mpsolve.costs.FlopsCost(seq_len=64)
    X = np.concatenate(list(space.enumerate()))
    costs = [flops.of(space.decode(x)) for x in X]
    limits = [4.63816e8] if seed == 0 else np.quantile(costs, [0.2, 0.4, 0.6, 0.8])
    for limit in limits:
        problem = Problem(space, objective, [Budget(flops, float(limit))])
        ev = problem.evaluate(X)
        truth = float(np.where(ev.feasible, ev.objective, -np.inf).max())
        assert mpsolve.solve(problem, "exhaustive").objective == pytest.approx(truth, rel=1e-12)


class _WidestAsList(mpsolve.costs.CostModel):
    name = "test-widest-list"

    def evaluate(self, batch, constants):
        return [float(max(e)) for e in batch.embed_dims]  # a list, not an array


def test_a_plugin_cost_returning_a_list_is_enumerated():
    """Before: the enumeration subtracted the limit from the list itself: a raw TypeError from Budget.violation."""
    problem = Problem("small", constraints=[Budget(_WidestAsList(), 300)])
    r = mpsolve.solve(problem, "exhaustive")
    assert r.status == "optimal" and max(r.architecture.embed_dims) <= 300
