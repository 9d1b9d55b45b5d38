"""The mathematical program: maximise an objective over a space subject to constraints."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement
from typing import Any

import numpy as np

from mpsolve.constraints import Budget, Constraint
from mpsolve.costs import CostModel, FlopsCost, LatencyCost, MemoryCost, ParamsCost, batch_of, checked_costs, get_cost
from mpsolve.objectives import Objective, get_objective
from mpsolve.spaces import Architecture, DecodedBatch, SearchSpace, get_space
from mpsolve.utils.clock import deadline_passed
from mpsolve.utils.errors import InfeasibleError, MpsolveError, MpsolveWarning, warn
from mpsolve.utils.jsonable import jsonable
from mpsolve.utils.quantities import format_quantity
from mpsolve.utils.validation import per_design

__all__ = ["Problem", "Evaluation", "corner_chunks"]

#: width orders enumerated by the feasibility check before it samples instead
MAX_CORNERS = 200_000
#: width orders it samples then (besides the uniform ones): starting points for solvers, not a proof
SAMPLED_CORNERS = 10_000
#: corner designs scored at a time, at most (the running solve's time limit checked between), and at first
CORNER_CHUNK = 8192
FIRST_CHUNK = 256


def corner_chunks(n: int, time_up: Callable[[], bool] = deadline_passed) -> Iterator[slice]:
    """``n`` rows as slices of growing size, :data:`FIRST_CHUNK` doubling up to :data:`CORNER_CHUNK` (a slow
    constraint, a plug-in :class:`Predicate` called per design, makes the first chunk end soon): the first
    always, the others until ``time_up()`` (default: the running solve's deadline has passed)."""
    start, size = 0, FIRST_CHUNK
    while start < n and not (start and time_up()):
        yield slice(start, min(n, start + size))
        start, size = start + size, min(2 * size, CORNER_CHUNK)


@dataclass(frozen=True)
class Evaluation:
    """Objective, costs and constraint violations of a batch of encodings.

    Attributes:
        objective: ``(n,)`` objective values (to maximise).
        costs: reported costs by name, each ``(n,)``.
        violations: ``(n, n_constraints + 1)`` violations (``<= 0`` satisfied), one column per
            constraint in the problem's order, then the width order.
        feasible: ``(n,)`` mask of designs satisfying every constraint and the width order.
    """

    objective: np.ndarray
    costs: dict[str, np.ndarray]
    violations: np.ndarray
    feasible: np.ndarray

    @staticmethod
    def concatenate(parts: Sequence[Evaluation]) -> Evaluation:
        """The evaluation of consecutive batches as one (at least one part)."""
        return Evaluation(
            np.concatenate([p.objective for p in parts]),
            {k: np.concatenate([p.costs[k] for p in parts]) for k in parts[0].costs},
            np.concatenate([p.violations for p in parts]),
            np.concatenate([p.feasible for p in parts]),
        )


class Problem:
    """``maximize objective(x) s.t. constraints(x) <= 0`` over a search space (spec Eq. 15).

    Args:
        space: a :class:`SearchSpace` or a preset name (default ``"default"``).
        objective: an :class:`Objective`, a name (``"entropy"``, ``"params"``,
            ``"decoder_params"``) or ``None`` for the MeRino entropy.
        constraints: budgets and other constraints; the width order is always enforced.
        report_costs: costs reported with every design besides the budgeted ones
            (default ``params``, ``flops`` and ``memory``). A budgeted cost is reported with its
            own options under its name; another cost of the same name with other options is
            reported under a label, e.g. ``flops[seq_len=128]`` (see :meth:`cost_key`).
    """

    def __init__(
        self,
        space: SearchSpace | str = "default",
        objective: Objective | str | None = None,
        constraints: Iterable[Constraint] = (),
        report_costs: Sequence[CostModel | str] | None = None,
    ) -> None:
        self.space = get_space(space) if isinstance(space, str) else space
        if not isinstance(self.space, SearchSpace):
            raise MpsolveError(f"space must be a SearchSpace or a preset name, got {space!r}")
        self.objective = get_objective(objective)
        self.objective.check_space(self.space)
        # a lone constraint or string is not a list of them (a string would be split into characters)
        if isinstance(constraints, (Constraint, str)) or not isinstance(constraints, Iterable):
            raise MpsolveError(
                f"constraints must be a list of Constraint objects, e.g. [Budget('flops', '160G')], got {constraints!r}"
            )
        self.constraints = list(constraints)
        for c in self.constraints:
            if not isinstance(c, Constraint):
                raise MpsolveError(f"constraints must be Constraint objects (e.g. Budget('flops', 160e9)), got {c!r}")
        reported: list[CostModel] = [ParamsCost(), FlopsCost(), MemoryCost()]
        if report_costs is not None:
            if isinstance(report_costs, (CostModel, str)) or not isinstance(report_costs, Iterable):
                raise MpsolveError(f"report_costs must be a list of costs, e.g. ['params'], got {report_costs!r}")
            reported = [get_cost(c) for c in report_costs]
        self.costs: dict[str, CostModel] = {}
        for c in reported:
            self._report(c)
        budgeted: set[str] = set()
        for b in self.budgets:  # a budgeted cost is reported with its own options, the first under its name
            if b.cost.name in budgeted:
                self._report(b.cost)
                continue
            budgeted.add(b.cost.name)
            displaced = self.costs.get(b.cost.name)
            # a labelled copy of the budget's cost goes: the budget reports it under its name
            self.costs = {k: c for k, c in self.costs.items() if c != b.cost or k == b.cost.name}
            self.costs[b.cost.name] = b.cost
            if report_costs is not None and displaced is not None:  # asked for: kept, labelled
                self._report(displaced)
        if report_costs is None:
            self._default_report = True
        else:  # the problem as built without them: a result records the reported costs only when they differ
            with warnings.catch_warnings():  # the budgets' warnings come below, once
                warnings.simplefilter("ignore", MpsolveWarning)
                self._default_report = self.costs == Problem(self.space, self.objective, self.constraints).costs
        for b in self.budgets:
            positions = b.cost.positions()
            if positions is not None and positions > self.space.max_positions:
                m = self.space.max_positions
                if isinstance(b.cost, LatencyCost):  # timings of a workload these models cannot run: no budget
                    most = m - (positions - int(b.cost.workload["seq_len"]))  # a decode profile's new token
                    raise MpsolveError(
                        f"the {self.cost_key(b.cost)} budget's profile was measured on a workload of {positions} "
                        f"token positions (seq_len {b.cost.workload['seq_len']}), beyond the space's max_positions "
                        f"{m}: its models cannot run it; profile again with --seq-len <= {most} (mpsolve "
                        f"profile-latency), or use a space with max_positions >= {positions}"
                    )
                warn(
                    f"the {self.cost_key(b.cost)} budget counts a workload of {positions} token positions, beyond "
                    f"the space's max_positions {m}: its models cannot run it; lower the cost's seq_len or raise "
                    "max_positions"
                )

    def _report(self, cost: CostModel) -> None:
        """Report ``cost`` under its name, or, when a cost of that name with other options
        is already reported, under its name labelled with the options that differ
        (``flops[seq_len=128]``), or numbered (``latency#2``) when they are not plain values."""
        if cost in self.costs.values():
            return
        key = cost.name
        if key in self.costs:
            base = self.costs[key].options()
            diff = {k: v for k, v in cost.options().items() if base.get(k) != v}
            plain = diff and all(isinstance(v, (bool, int, float, str)) for v in diff.values())
            key = f"{key}[{','.join(f'{k}={v}' for k, v in diff.items())}]" if plain else key
            n = sum(k == cost.name or k.startswith(f"{cost.name}#") for k in self.costs)
            key = f"{cost.name}#{n + 1}" if key in self.costs else key
        self.costs[key] = cost

    def cost_key(self, cost: CostModel) -> str:
        """The name ``cost`` is reported under in :attr:`costs` and every result's costs:
        its own name unless the problem reports another cost of that name (see ``Problem``)."""
        for key, reported in self.costs.items():  # a budget's own cost object first: no options compared
            if reported is cost:
                return key
        for key, reported in self.costs.items():
            if reported == cost:
                return key
        raise MpsolveError(f"{cost!r} is not reported by this problem (it reports {', '.join(self.costs)})")

    def budgeted_costs(self, name: str) -> list[CostModel]:
        """The distinct costs named ``name`` (``flops``, ...) the problem's budgets bound."""
        return list(dict.fromkeys(b.cost for b in self.budgets if b.cost.name == name))

    # -- description ---------------------------------------------------------------------
    @property
    def budgets(self) -> list[Budget]:
        return [c for c in self.constraints if isinstance(c, Budget)]

    @property
    def n_var(self) -> int:
        return self.space.n_var

    def to_dict(self) -> dict[str, Any]:
        """The resolved problem (echoed into every result so it can be rerun); ``report_costs``
        (every reported cost, by name and options) only when they are not the default ones."""
        out = {
            "space": self.space.to_dict(),
            "objective": {"name": self.objective.name, **self.objective.options()},
            "constraints": [c.to_dict() for c in self.constraints],
        }
        if not self._default_report:
            out["report_costs"] = [{"cost": c.name, "options": c.options()} for c in self.costs.values()]
        return out

    def fingerprint(self) -> str:
        """A short hash identifying the problem (for checkpoints); the order of the
        constraints does not matter (a problem file lists budgets first)."""
        data = jsonable(self.to_dict())  # a plug-in's numpy options too
        data["constraints"] = sorted(json.dumps(c, sort_keys=True) for c in data["constraints"])
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Problem(space={self.space.name!r}, objective={self.objective!r}, constraints={self.constraints!r})"

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, X: np.ndarray) -> Evaluation:
        """Objective, costs and violations of an ``(n, n_var)`` batch of encodings."""
        X = self.space.check_encoding(X)
        batch = self.space.decode_batch(X)
        n = len(X)
        costs = {name: per_design(cost.evaluate(batch, self.space), n, f"the cost {name!r}")
                 for name, cost in self.costs.items()}
        cols = [costs[self.cost_key(c.cost)] - c.limit if isinstance(c, Budget)
                else self.violation(c, batch, design=lambda i: self.space.decode(X[i])) for c in self.constraints]
        order = self.space.order_violation(X)
        violations = np.column_stack(cols + [order]) if cols else order[:, None]
        feasible = np.all(violations <= 0, axis=1)
        # a non-finite score or a NaN cost would pass for infeasible (or the best): refused
        scores = per_design(self.objective.evaluate(batch, self.space), n, f"the objective {self.objective.name!r}")
        objective = self.objective.finite_scores(scores, lambda i: self.space.decode(X[i]), counted=True)
        for name, values in costs.items():  # NaN would pass for over every budget, -inf for free
            checked_costs(values, f"the cost {name!r}", lambda i: self.space.decode(X[i]))
        return Evaluation(objective, costs, violations, feasible)

    def violation(self, constraint: Constraint, batch: DecodedBatch, constants: Any = None,
                  design: Callable[[int], Any] | None = None) -> np.ndarray:
        """The ``(n,)`` violations of one of the problem's constraints for ``batch`` (of the space, or of
        ``constants``: an architecture), or a one-line error naming ``design(i)`` when a plug-in's values
        are not one number per design, or NaN (which would pass for violated, silently excluding the design), or a
        cost of ``-inf`` (which would fit the budget, as if free)."""
        constants = self.space if constants is None else constants
        n = len(batch.embed_dims)
        shown = design if design is not None else lambda i: f"design {i} of the batch"
        if isinstance(constraint, Budget):
            what = f"the cost {self.cost_key(constraint.cost)!r}"
            costs = per_design(constraint.cost.evaluate(batch, constants), n, what)
            values = checked_costs(costs, what, shown) - constraint.limit
        else:
            what = f"the constraint {constraint.name or type(constraint).__name__!r}"
            values = per_design(constraint.violation(batch, constants), n, what)
        bad = np.flatnonzero(np.isnan(values))
        if len(bad):
            raise MpsolveError(f"{what} is NaN for {shown(int(bad[0]))}: a constraint's violation is a number, <= 0 "
                               "where the design is allowed")
        return values

    def relative_violations(self, ev: Evaluation) -> np.ndarray:
        """The ``(n, n_constraints)`` constraint violations of ``ev``, each budget's relative to
        its limit (other constraints as they are; the width order left out), as pymoo's ``G``
        and Optuna's constraints take them."""
        limits = np.array([c.limit if isinstance(c, Budget) else 1.0 for c in self.constraints])
        return ev.violations[:, : len(limits)] / limits if len(limits) else ev.violations[:, :0]

    def evaluate_architecture(self, arch: Architecture) -> dict[str, Any]:
        """Objective, its parts, costs and constraint satisfaction of one architecture."""
        batch = batch_of(arch)
        return {
            "objective": self.objective.of(arch),
            "details": self.objective.details(arch),
            "costs": {name: cost.of(arch) for name, cost in self.costs.items()},
            "feasible": bool(all(self.violation(c, batch, arch, lambda i: arch)[0] <= 0 for c in self.constraints)),
        }

    # -- feasibility --------------------------------------------------------------------------
    def corner_designs(self, limit: int = MAX_CORNERS, sample: int = SAMPLED_CORNERS) -> tuple[np.ndarray, bool]:
        """The cheapest design of every width order for each budget, and whether those are all the width orders.

        Each block takes the smallest depth and the FFN ratio that makes a block of its width
        cheapest: the smallest ratio for a cost that does not decrease with it (every analytic
        cost), possibly another for an additive cost that does (a measured latency profile, where
        a wider FFN layer can time faster). So, for any combination of budgets on monotone costs
        (:meth:`CostModel.is_monotone`), the cheapest design of the space is among them. When there
        are more than ``limit`` orders, the uniform-width orders plus a fixed random sample of ``sample``
        others are returned instead, with ``False``.
        """
        k, N = len(self.space.embed_dims), self.space.num_blocks
        if math.comb(k + N - 1, N) <= limit:
            widths = np.array(list(combinations_with_replacement(range(k), N)), dtype=np.int64).reshape(-1, N)
            complete = True
        else:
            uniform = np.repeat(np.arange(k, dtype=np.int64)[:, None], N, axis=1)
            drawn = self.space.widths(self.space.sample(sample, np.random.default_rng(0)))
            widths = np.unique(np.concatenate([uniform, drawn]), axis=0)
            complete = False
        corners = [self.space.compose(widths, ratios[widths]) for ratios in self._cheapest_ratios()]
        return np.concatenate(corners), complete

    def _cheapest_ratios(self) -> list[np.ndarray]:
        """For each budgeted cost, the ratio index that makes a block of each width at the smallest
        depth cheapest (first the smallest ratios; each distinct choice once).

        An additive cost is a sum of per-block terms, so a block's cheapest ratio is the one that
        makes the uniform design of its width cheapest. Other costs are taken not to decrease with
        the ratio (every built-in one)."""
        k, r = len(self.space.embed_dims), len(self.space.ffn_ratios)
        widths = np.repeat(np.arange(k), r)[:, None].repeat(self.space.num_blocks, axis=1)
        batch = self.space.decode_batch(self.space.compose(widths, np.tile(np.arange(r), k)[:, None]))
        choices = {(0,) * k}
        for cost in dict.fromkeys(b.cost for b in self.budgets):
            if cost.is_additive():
                choices.add(tuple(np.argmin(cost.evaluate(batch, self.space).reshape(k, r), axis=1).tolist()))
        return [np.array(c, dtype=np.int64) for c in sorted(choices)]

    def check_feasible(self) -> np.ndarray:
        """Raise :class:`InfeasibleError` when the budgets cannot be met; else return the
        feasible corner designs (a starting point for solvers, possibly empty when only
        non-budget constraints exclude them, or when a space with very many width orders
        could only be sampled). The proof reads the budgets' costs of every corner (no objective);
        the corners are then scored in growing chunks (:func:`corner_chunks`), and within a solve
        whose time limit passes only those scored so far come back."""
        X, complete = self.corner_designs()
        budgets = self.budgets
        # the corners are each width order's cheapest designs only for costs that say so
        if budgets and complete and all(b.cost.is_monotone() for b in budgets):
            self._refuse_infeasible(X, budgets)
        feasible = []
        for part in corner_chunks(len(X)):
            ev = self.evaluate(X[part])
            feasible.append(X[part][ev.feasible])
        return np.concatenate(feasible)

    def _refuse_infeasible(self, X: np.ndarray, budgets: list[Budget]) -> None:
        """Raise :class:`InfeasibleError` when no corner of ``X`` (every width order's) meets all ``budgets``."""
        batch = self.space.decode_batch(X)
        keys = [self.cost_key(b.cost) for b in budgets]  # two budgets on one cost share its key
        values = {}
        for k in dict.fromkeys(keys):
            what = f"the cost {k!r}"
            values[k] = checked_costs(per_design(self.costs[k].evaluate(batch, self.space), len(X), what), what,
                                      lambda i: self.space.decode(X[i]))
        if np.any(np.all([values[k] <= b.limit for k, b in zip(keys, budgets)], axis=0)):
            return
        cheapest = {k: float(np.min(v)) for k, v in values.items()}
        violated = [(k, b) for k, b in zip(keys, budgets) if cheapest[k] > b.limit]
        if violated:
            parts = []
            for k, b in violated:
                limit, least = format_quantity(b.limit), format_quantity(cheapest[k])
                if limit == least:  # 4 digits said "2.617G is below 2.617G", and 2.617G is too
                    limit, least = f"{b.limit:.15g}", f"{cheapest[k]:.15g}"
                parts.append(f"{k} budget {limit} is below the cheapest design's {least}")
            raise InfeasibleError(
                "infeasible problem: "
                + "; ".join(parts)
                + f" in space {self.space.name!r}: raise the budget or use a space with smaller widths",
                {k: cheapest[k] for k, _ in violated},
            )
        # one corner per width order is cheapest in every budget only when the costs agree on the ratios
        if len(self._cheapest_ratios()) == 1:
            raise InfeasibleError(
                "infeasible problem: each budget alone can be met (cheapest: "
                + ", ".join(f"{k}={format_quantity(v)}" for k, v in cheapest.items())
                + ") but no design meets all of them together: relax one of them",
                cheapest,
            )

