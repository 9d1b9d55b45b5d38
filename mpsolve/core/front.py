"""Non-dominated designs: the filter behind Pareto fronts and multi-objective solvers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mpsolve.core.problem import Problem

__all__ = ["front_entries", "non_dominated"]


def front_entries(problem: Problem, X: np.ndarray, costs: Sequence[str]) -> list[dict[str, Any]]:
    """The feasible, non-dominated designs of ``X`` (objective up, ``costs`` down), by first cost."""
    if len(X) == 0:
        return []
    ev = problem.evaluate(X)
    X, f = X[ev.feasible], ev.objective[ev.feasible]
    C = np.column_stack([ev.costs[c][ev.feasible] for c in costs]) if costs else np.zeros((len(X), 0))
    keep = non_dominated(np.column_stack([-f, C]))
    order = sorted(keep, key=lambda i: (tuple(C[i]), -f[i]))
    return [_entry(problem, X[i]) for i in order]


def non_dominated(F: np.ndarray) -> list[int]:
    """Indices of the rows of ``F`` (to minimise) that no other row dominates; duplicates once."""
    _, first = np.unique(F, axis=0, return_index=True)
    keep = []
    for i in sorted(first):
        dominated = np.all(F <= F[i], axis=1) & np.any(F < F[i], axis=1)
        if not np.any(dominated):
            keep.append(int(i))
    return keep


def _entry(problem: Problem, x: np.ndarray) -> dict[str, Any]:
    arch = problem.space.decode(x)
    info = problem.evaluate_architecture(arch)
    return {
        "objective": info["objective"],
        "costs": info["costs"],
        "encoding": [int(v) for v in x],
        "architecture": arch.to_dict(),
    }
