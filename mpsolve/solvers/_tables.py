"""Per-block tables of the additive costs, shared by the exact backends (exact, cpsat, exhaustive)."""

from __future__ import annotations

import numpy as np

from mpsolve.costs import CostModel, MemoryCost
from mpsolve.objectives import DecoderParamsObjective, MeRinoEntropy, Objective, ParamsObjective
from mpsolve.spaces import DecodedBatch, SearchSpace
from mpsolve.utils.errors import SolverError

__all__ = ["_choice_index", "_cost_tables", "_memory_peak"]


def _cost_tables(
    cost: CostModel, space: SearchSpace, choices: np.ndarray, peak: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Chain decomposition ``cost(x) = sum_i U[b_i] + sum_i Q[e_i, e_{i+1}] (+ max_i peak[b_i])``.

    Extracted from one- and two-block designs and verified on sample designs; a cost that does
    not decompose raises :class:`SolverError`.
    """
    E, F, L = np.asarray(space.embed_dims), space.ffn_table, np.asarray(space.layers)
    w = np.zeros(len(choices)) if peak is None else peak
    e, r, l = choices.T
    U = cost.evaluate(DecodedBatch(E[e][:, None], F[e, r][:, None], L[l][:, None]), space) - w
    k, kr, kl = len(E), len(space.ffn_ratios), len(space.layers)
    base = np.arange(k) * kr * kl  # the choice (e, 0, 0) of each width
    pe = np.array([(i, j) for i in range(k) for j in range(i, k)])  # ordered widths only
    C2 = cost.evaluate(DecodedBatch(E[pe], F[pe, 0], np.full(pe.shape, L[0])), space)
    C2 = C2 - np.maximum(w[base[pe[:, 0]]], w[base[pe[:, 1]]])
    Q = np.zeros((k, k))
    Q[pe[:, 0], pe[:, 1]] = C2 - U[base[pe[:, 0]]] - U[base[pe[:, 1]]]
    X = space.sample(256, np.random.default_rng(0))
    idx = _choice_index(X, space)
    e = space.widths(X)
    approx = U[idx].sum(axis=1) + Q[e[:, :-1], e[:, 1:]].sum(axis=1) + w[idx].max(axis=1)
    exact = cost.evaluate(space.decode_batch(X), space)
    if not np.allclose(approx, exact, rtol=1e-9, atol=1e-6):
        raise SolverError(
            f"cost {cost.name!r} is not a sum of per-block and adjacent-width terms"
            + (" plus a per-block peak" if peak is not None else "")
            + "; fix its is_additive() or use another solver"
        )
    return U, Q


def _memory_peak(cost: MemoryCost, space: SearchSpace, choices: np.ndarray) -> np.ndarray:
    """The working-set term of :class:`MemoryCost` per choice (the cost adds the largest one)."""
    return cost.working_set(np.asarray(space.embed_dims)[choices[:, 0]], space.ffn_table[choices[:, 0], choices[:, 1]],
                            space)


def _choice_index(X: np.ndarray, space: SearchSpace) -> np.ndarray:
    kr, kl = len(space.ffn_ratios), len(space.layers)
    return (space.widths(X) * kr + space.ratios(X)) * kl + space.depths(X)


def _tabled_objective(objective: Objective) -> type[Objective] | None:
    """The built-in objective whose block tables score ``objective``: its class, or that of a
    subclass that keeps its ``evaluate``; ``None`` for any other (a plug-in that overrides
    ``evaluate`` is scored by its ``evaluate`` alone)."""
    for cls in (MeRinoEntropy, ParamsObjective, DecoderParamsObjective):
        if isinstance(objective, cls):
            return cls if type(objective).evaluate is cls.evaluate else None
    return None
