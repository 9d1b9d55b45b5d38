"""Non-dominated designs and the hypervolume of fronts (pymoo's sorting and indicator)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mpsolve.core.problem import Problem
from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.quantities import parse_quantity

__all__ = ["check_reference_point", "front_entries", "hypervolume", "non_dominated"]


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
    """Indices (ascending) of the rows of ``F`` (to minimise) that no other row dominates.

    Equal rows do not dominate each other; each is kept once, by its first index.
    """
    F = np.asarray(F, dtype=float)
    if len(F) == 0:
        return []
    if F.ndim != 2 or not np.isfinite(F).all():  # a NaN row would be silently dropped
        raise MpsolveError(f"non_dominated needs a 2-D array of finite numbers, got shape {F.shape} with "
                           f"{int(np.sum(~np.isfinite(F)))} non-finite values")
    _, first = np.unique(F, axis=0, return_index=True)
    first = np.sort(first)
    keep = _pymoo("util.nds.non_dominated_sorting").NonDominatedSorting().do(F[first], only_non_dominated_front=True)
    return sorted(int(first[i]) for i in keep)


def check_reference_point(reference: Any) -> tuple[float, float]:
    """The hypervolume reference point ``(objective, cost)`` as floats (the cost may carry a
    unit, ``"160G"``), or a one-line error."""
    try:
        if isinstance(reference, str):
            raise TypeError(reference)
        objective, cost = reference
        if isinstance(objective, (bool, np.bool_)):  # float(True) is 1.0: a flag is not an objective value
            raise TypeError(objective)
        ref = (float(objective), parse_quantity(cost))
    except (TypeError, ValueError):  # MpsolveError is a ValueError
        raise MpsolveError(
            f"reference point must be an objective and a cost (e.g. 0 and 160G), got {reference!r}"
        ) from None
    if not all(math.isfinite(v) for v in ref) or ref[1] <= 0:
        raise MpsolveError(f"reference point must have a finite objective and a positive finite cost, got {ref!r}")
    return ref


def hypervolume(objective: Sequence[float], cost: Sequence[float], reference: tuple[float, float]) -> float:
    """pymoo's hypervolume of points (objective maximised, cost minimised) against ``reference``.

    The points are ``(-objective, cost / reference_cost)``, to minimise, and the reference point
    is ``(-reference_objective, 1)``: the cost axis is measured in units of the reference cost.
    With reference ``(0, B)`` the value is the mean, over budgets ``b`` in ``[0, B]``, of the best
    objective among the points costing at most ``b`` (0 where none does), in objective units.
    Points no better than the reference in either coordinate add nothing.
    """
    ref_objective, ref_cost = check_reference_point(reference)
    objective, cost = np.asarray(objective, dtype=float).reshape(-1), np.asarray(cost, dtype=float).reshape(-1)
    if len(objective) != len(cost):
        raise MpsolveError(f"hypervolume needs one cost per objective, got {len(objective)} and {len(cost)}")
    if not (np.isfinite(objective).all() and np.isfinite(cost).all() and (cost >= 0).all()):
        raise MpsolveError("hypervolume needs finite objectives and finite, non-negative costs")
    inside = cost <= ref_cost  # a point beyond the reference cost adds nothing (and over a tiny one would overflow)
    F = np.column_stack([-objective[inside], cost[inside] / ref_cost])
    if len(F) == 0:
        return 0.0
    return float(_pymoo("indicators.hv").HV(ref_point=np.array([-ref_objective, 1.0])).do(F))


def _pymoo(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"pymoo.{module}")
    except ImportError:  # pragma: no cover - depends on the installation
        raise MpsolveError("Pareto fronts need pymoo: pip install 'mpsolve[solvers]' (or pymoo)") from None


def _entry(problem: Problem, x: np.ndarray) -> dict[str, Any]:
    arch = problem.space.decode(x)
    info = problem.evaluate_architecture(arch)
    return {
        "objective": info["objective"],
        "costs": info["costs"],
        "encoding": [int(v) for v in x],
        "architecture": arch.to_dict(),
    }
