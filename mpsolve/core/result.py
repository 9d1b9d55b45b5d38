"""The result of a solve: best design, its scores, status, timing and history."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mpsolve.spaces import Architecture
from mpsolve.utils.errors import MpsolveError, shown
from mpsolve.utils.jsonable import jsonable

__all__ = ["Result", "STATUSES"]

STATUSES = ("optimal", "feasible", "infeasible", "interrupted")


@dataclass
class Result:
    """What a solver returns (pymoo-style: the answer plus how it was reached).

    Attributes:
        architecture: the best design found (``None`` when none is feasible).
        x: its integer encoding.
        objective: its objective value.
        costs: its costs by name (``params``, ``flops``, ...).
        status: ``optimal`` (proved), ``feasible``, ``infeasible`` (no design found; a proof only with
            ``proved``: a heuristic that finds none proves nothing) or ``interrupted``.
        solver: the backend's name.
        wall_time: seconds spent.
        n_evals: designs evaluated.
        history: best-so-far trajectory, ``(seconds, evaluations, objective)`` rows.
        bound: a proven upper bound on the optimum, if the solver has one.
        details: the objective's parts for the best design (entropy parts, ``rho``).
        pareto: for multi-objective solvers, the non-dominated designs as dicts.
        problem: the resolved problem (see :meth:`Problem.to_dict`).
        seed: the seed the run used.
        options: the solver's options.
        proved: the status is proved: the optimum (``optimal``), or that no design meets the
            constraints (``infeasible`` after a complete search, or a budget below the cheapest design).
    """

    architecture: Architecture | None
    x: np.ndarray | None
    objective: float
    costs: dict[str, float]
    status: str
    solver: str
    wall_time: float
    n_evals: int = 0
    history: list[tuple[float, int, float]] = field(default_factory=list)
    bound: float | None = None
    details: dict[str, float] = field(default_factory=dict)
    pareto: list[dict[str, Any]] | None = None
    problem: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    proved: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise MpsolveError(f"status must be one of {', '.join(STATUSES)}, got {shown(self.status)}")

    @classmethod
    def infeasible(
        cls, problem: Any, solver: str, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> Result:
        """The result of a ``problem`` (a :class:`Problem`) proved infeasible before solving
        (:class:`InfeasibleError`: a budget below the cheapest design)."""
        return cls(
            architecture=None,
            x=None,
            objective=math.nan,
            costs={},
            status="infeasible",
            solver=solver,
            wall_time=0.0,
            problem=problem.to_dict(),
            seed=seed,
            options=dict(options or {}),
            proved=True,
        )

    @property
    def gap(self) -> float | None:
        """Relative optimality gap ``(bound - objective) / |bound|`` when a bound is known."""
        if self.bound is None or self.architecture is None:
            return None
        return max(0.0, (self.bound - self.objective) / max(abs(self.bound), 1e-12))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the CLI's ``--json`` object)."""
        return jsonable(
            {
                "status": self.status,
                "objective": self.objective if self.architecture is not None else None,
                "solver": self.solver,
                "wall_time_s": self.wall_time,
                "costs": self.costs,
                "architecture": self.architecture.to_dict() if self.architecture is not None else None,
                "details": self.details,
                "bound": self.bound,
                "gap": self.gap,
                "n_evals": self.n_evals,
                "seed": self.seed,
                "options": self.options,
                "history": [list(h) for h in self.history],
                "pareto": self.pareto,
                "problem": self.problem,
                "encoding": None if self.x is None else [int(v) for v in self.x],
                "proved": self.proved,
            }
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __repr__(self) -> str:
        return (
            f"Result(status={self.status!r}, solver={self.solver!r}, objective={self.objective:.6g}, "
            f"architecture={self.architecture}, wall_time={self.wall_time:.3g}s)"
        )
