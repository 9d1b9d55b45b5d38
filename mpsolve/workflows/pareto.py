"""Pareto fronts of the objective against one cost, across budgets (``mpsolve.pareto``).

For each budget on the cost ``over``, the best design a solver finds is one point of the
front; a multi-objective solver (``nsga2``) also contributes its native front. Fronts are
exported as JSON or CSV and plotted with the published MeRino models marked.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mpsolve.constraints import Budget
from mpsolve.core.front import non_dominated
from mpsolve.core.problem import Problem
from mpsolve.core.result import _jsonable
from mpsolve.costs import COSTS, CostModel, get_cost
from mpsolve.solvers import solve
from mpsolve.spaces import get_architecture
from mpsolve.utils.errors import InfeasibleError, MpsolveError
from mpsolve.utils.quantities import parse_quantity

__all__ = ["ParetoFront", "pareto", "plot_fronts", "write_csv"]

PUBLISHED = ("merino-52m", "merino-61m", "merino-64m")


@dataclass
class ParetoFront:
    """Objective against the cost ``over``: the best design per budget and, for multi-objective
    solvers, the solver's native front.

    Attributes:
        over: the cost the budgets bound.
        solver: the backend's name.
        points: per budget (ascending), ``budget``, ``status``, ``objective``, ``cost``, ``gap``,
            ``wall_time_s``, ``encoding`` and ``architecture`` (``None`` when infeasible).
        native: the solver's own non-dominated designs, merged over budgets (may be empty).
    """

    over: str
    solver: str
    points: list[dict[str, Any]]
    native: list[dict[str, Any]] = field(default_factory=list)

    def front(self) -> list[dict[str, Any]]:
        """The non-dominated points over budgets (a larger budget must buy more objective)."""
        feasible = [p for p in self.points if p["architecture"] is not None]
        if not feasible:
            return []
        F = np.array([[-p["objective"], p["cost"]] for p in feasible])
        return [feasible[i] for i in sorted(non_dominated(F), key=lambda i: F[i, 1])]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"over": self.over, "solver": self.solver, "points": self.points, "native": self.native})

    def to_json(self, path: str | Path | None = None, **kwargs: Any) -> str:
        """The front as JSON (written to ``path`` when given)."""
        text = json.dumps(self.to_dict(), **kwargs)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def to_csv(self, path: str | Path) -> None:
        """One row per budget point and per native point (see :func:`write_csv`)."""
        write_csv([self], path)

    def csv_rows(self) -> list[list[Any]]:
        rows: list[list[Any]] = []
        for p in self.points:
            arch = p["architecture"]
            encoding = " ".join(map(str, p["encoding"] or []))
            rows.append(
                [
                    self.solver,
                    "budget",
                    p["budget"],
                    p["status"],
                    p["objective"],
                    p["cost"],
                    p["gap"],
                    encoding,
                    json.dumps(arch) if arch is not None else "",
                ]
            )
        for p in self.native:
            rows.append(
                [
                    self.solver,
                    "native",
                    "",
                    "feasible",
                    p["objective"],
                    p["costs"][self.over],
                    "",
                    " ".join(map(str, p["encoding"])),
                    json.dumps(p["architecture"]),
                ]
            )
        return rows

    def plot(self, path: str | Path, problem: Problem | None = None) -> None:
        """Write a figure of this front (see :func:`plot_fronts`)."""
        plot_fronts([self], path, problem)


def pareto(
    problem: Problem,
    over: str | CostModel = "flops",
    budgets: Sequence[float | str] = (),
    solver: str = "cpsat",
    seed: int | None = None,
    time_limit: float | None = None,
    **solver_options: Any,
) -> ParetoFront:
    """Solve ``problem`` once per budget on the cost ``over`` and collect the front.

    Budgets on ``over`` already in ``problem`` are replaced (their cost options, e.g. a
    latency profile, are kept); other constraints stay.

    Args:
        problem: the program (its space, objective and other constraints are kept).
        over: the budgeted cost, a name (``flops``, ``params``, ...) or a cost model (a
            :class:`~mpsolve.costs.LatencyCost` or :class:`~mpsolve.costs.DecodeLatencyCost` with its profile).
        budgets: the budgets, numbers or strings with units (``"60G"``).
        solver: a backend name.
        seed, time_limit: per solve.
        **solver_options: options of the backend.

    Returns:
        A :class:`ParetoFront`; budgets no design meets are points with status ``infeasible``.
    """
    limits = sorted(parse_quantity(b) for b in budgets)
    if not limits:
        raise MpsolveError("pareto needs at least one budget, e.g. budgets=['60G', '110G', '160G']")
    name = over.name if isinstance(over, CostModel) else COSTS[over].name
    existing = [b for b in problem.budgets if b.cost.name == name]
    if isinstance(over, CostModel):
        cost = over
    else:
        cost = existing[0].cost if existing else get_cost(over)  # keeps the options of a budgeted cost
    others = [c for c in problem.constraints if c not in existing]
    points, native = [], []
    for limit in limits:
        sub = Problem(problem.space, problem.objective, [*others, Budget(cost, limit)], list(problem.costs.values()))
        try:
            r = solve(sub, solver, seed=seed, time_limit=time_limit, **solver_options)
        except InfeasibleError:
            points.append(_point(limit, None, cost.name))
            continue
        points.append(_point(limit, r, cost.name))
        native.extend(r.pareto or [])
    if native:
        F = np.array([[-p["objective"], p["costs"][cost.name]] for p in native])
        native = [native[i] for i in sorted(non_dominated(F), key=lambda i: F[i, 1])]
    return ParetoFront(
        over=cost.name, solver=solver if isinstance(solver, str) else str(solver), points=points, native=native
    )


def _point(limit: float, r: Any, over: str) -> dict[str, Any]:
    if r is None or r.architecture is None:
        return {
            "budget": limit,
            "status": "infeasible",
            "objective": None,
            "cost": None,
            "gap": None,
            "wall_time_s": None if r is None else r.wall_time,
            "encoding": None,
            "architecture": None,
        }
    return {
        "budget": limit,
        "status": r.status,
        "objective": r.objective,
        "cost": r.costs[over],
        "gap": r.gap,
        "wall_time_s": r.wall_time,
        "encoding": [int(v) for v in r.x],
        "architecture": r.architecture.to_dict(),
    }


def write_csv(fronts: Sequence[ParetoFront], path: str | Path) -> None:
    """Write fronts as CSV: solver, kind (``budget`` or ``native``), budget, status, objective,
    cost, gap, encoding, architecture (JSON)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        over = fronts[0].over if fronts else "cost"
        w.writerow(["solver", "kind", "budget", "status", "objective", over, "gap", "encoding", "architecture"])
        for fr in fronts:
            w.writerows(fr.csv_rows())


def plot_fronts(fronts: Sequence[ParetoFront], path: str | Path, problem: Problem | None = None) -> None:
    """Plot objective against cost, one front per solver, with the published MeRino models.

    Args:
        fronts: fronts over the same cost.
        path: image file to write (format from the suffix).
        problem: scores the published models (default: the MeRino entropy and the cost
            ``over`` with default options).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MpsolveError("plotting needs matplotlib: pip install 'mpsolve[plot]'") from None
    if not fronts:
        raise MpsolveError("plot_fronts needs at least one front")
    over = fronts[0].over
    problem = problem if problem is not None else Problem("default")
    cost = problem.costs.get(over) or get_cost(over)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, fr in enumerate(fronts):
        pts = fr.front()
        line = ax.plot(
            [p["cost"] for p in pts],
            [p["objective"] for p in pts],
            marker="osD^v"[i % 5],
            markersize=max(4, 10 - 2 * i),  # later fronts drawn smaller: equal points stay visible
            fillstyle="none" if i else "full",
            label=f"{fr.solver} (per budget)",
        )
        if fr.native:
            ax.plot(
                [p["costs"][over] for p in fr.native],
                [p["objective"] for p in fr.native],
                ".",
                color=line[0].get_color(),
                alpha=0.5,
                label=f"{fr.solver} (native front)",
            )
    for name in PUBLISHED:
        arch = get_architecture(name)
        c, f = cost.of(arch), problem.objective.of(arch)
        ax.plot([c], [f], "k*", markersize=11)
        ax.annotate(name, (c, f), textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax.set_xlabel(f"{over} ({cost.unit})" if cost.unit else over)
    ax.set_ylabel(problem.objective.name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
