"""Pareto fronts of the objective against one cost, across budgets (``mpsolve.pareto``).

For each budget on the cost ``over``, the best design a solver finds is one point of the
front, with its proof (status, bound, gap); a front whose every point is proved is
*certified*. A multi-objective solver (``nsga2``) also contributes its native front. A front
reports its hypervolume against a stated reference point (by default objective 0 and the
largest budget), so fronts of different solvers over the same budgets compare by one number.
Fronts are exported as JSON or CSV and plotted with the published MeRino models marked.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mpsolve.constraints import Budget, Constraint
from mpsolve.constraints._constraints import check_budget_unit
from mpsolve.core.front import check_reference_point, hypervolume, non_dominated
from mpsolve.core.problem import Problem, corner_chunks
from mpsolve.core.solver import Solver, check_run
from mpsolve.costs import COSTS, CostModel, get_cost
from mpsolve.objectives import Objective
from mpsolve.solvers import RUN_OPTIONS, get_solver, solve
from mpsolve.spaces import get_architecture
from mpsolve.utils.errors import InfeasibleError, MpsolveError, warn
from mpsolve.utils.files import atomic_write, check_writable
from mpsolve.utils.jsonable import jsonable
from mpsolve.utils.quantities import format_quantity, parse_quantity
from mpsolve.workflows.sweep import FailedRunsWarning, failed_runs

__all__ = ["ParetoFront", "budget_point", "check_figure_path", "pareto", "plot_fronts", "write_csv"]

PUBLISHED = ("merino-52m", "merino-61m", "merino-64m")


@dataclass
class ParetoFront:
    """Objective against the cost ``over``: the best design per budget with its proof and, for
    multi-objective solvers, the solver's native front.

    Attributes:
        over: the cost the budgets bound.
        solver: the backend's name.
        points: per budget (ascending), ``budget``, ``solver``, ``seed`` (the solve's, also one drawn for
            ``seed=None``), ``status``, ``proved``, ``objective``, ``cost``, ``bound``, ``gap``, ``wall_time_s``,
            ``encoding`` and ``architecture`` (``None`` when infeasible); a budget whose solve failed has status
            ``error`` and the message as ``error``. ``proved`` is true for an optimum
            proved with gap 0, for a budget below the cheapest design of the space, and for a
            budget a complete search (``exhaustive``, ``exact``, ``cpsat``) found no design within.
        native: the solver's own non-dominated designs, merged over budgets (may be empty).
        reference_point: ``(objective, cost)`` of the hypervolume (see :attr:`hypervolume`);
            ``None`` means objective 0 and the largest budget.
        cost: the cost model ``over`` names, with its options (set by :func:`pareto`; it scores
            the published models in :meth:`plot`).
        objective: the objective the front maximises (set by :func:`pareto`; it scores the
            published models in :meth:`plot` when no problem is given).
    """

    over: str
    solver: str
    points: list[dict[str, Any]]
    native: list[dict[str, Any]] = field(default_factory=list)
    reference_point: tuple[float, float] | None = None
    cost: CostModel | None = field(default=None, repr=False, compare=False)
    objective: Objective | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.reference_point is None:
            budgets = [p["budget"] for p in self.points]
            if not budgets:
                raise MpsolveError("a Pareto front without budgets needs an explicit reference_point")
            self.reference_point = (0.0, max(budgets))
        self.reference_point = check_reference_point(self.reference_point)

    def front(self) -> list[dict[str, Any]]:
        """The non-dominated points over budgets (a larger budget must buy more objective)."""
        feasible = [p for p in self.points if p["architecture"] is not None]
        if not feasible:
            return []
        F = np.array([[-p["objective"], p["cost"]] for p in feasible])
        return [feasible[i] for i in sorted(non_dominated(F), key=lambda i: F[i, 1])]

    @property
    def certified(self) -> bool:
        """Whether every budget's point is proved (optimal with gap 0, or provably infeasible)."""
        return bool(self.points) and all(p["proved"] for p in self.points)

    @property
    def hypervolume(self) -> float:
        """pymoo's hypervolume of :meth:`front` against :attr:`reference_point`, the cost axis
        in units of the reference cost (see :func:`mpsolve.core.front.hypervolume`): with the
        default reference, the mean over budgets up to the largest of the best objective."""
        pts = self.front()
        return hypervolume([p["objective"] for p in pts], [p["cost"] for p in pts], self.reference_point)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "over": self.over,
                # the swept cost's options: a front over 128-token FLOPs is labelled plain 'flops' when the
                # problem budgets no other FLOPs
                **({} if self.cost is None else {"cost": {"name": self.cost.name, "options": self.cost.options()}}),
                "solver": self.solver,
                "certified": self.certified,
                "hypervolume": self.hypervolume,
                "reference_point": {"objective": self.reference_point[0], self.over: self.reference_point[1]},
                "points": self.points,
                "native": self.native,
            }
        )

    def to_json(self, path: str | Path | None = None, **kwargs: Any) -> str:
        """The front as JSON (written to ``path`` when given)."""
        if path is not None:
            check_writable(path, "JSON file")
        text = json.dumps(self.to_dict(), **kwargs)
        if path is not None:
            atomic_write(path, text + "\n")
        return text

    def to_csv(self, path: str | Path) -> None:
        """One row per budget point and per native point (see :func:`write_csv`)."""
        write_csv([self], path)

    def csv_rows(self) -> list[list[Any]]:
        """The rows :func:`write_csv` writes for this front."""
        front = [self.reference_point[0], self.reference_point[1], self.hypervolume, self.certified]
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
                    p["proved"],
                    p["objective"],
                    p["cost"],
                    p["bound"],
                    p["gap"],
                    *front,
                    encoding,
                    json.dumps(arch) if arch is not None else "",
                    p.get("error", ""),
                ]
            )
        for p in self.native:
            rows.append(
                [
                    self.solver,
                    "native",
                    "",
                    "feasible",
                    False,
                    p["objective"],
                    p["costs"][self.over],
                    "",
                    "",
                    *front,
                    " ".join(map(str, p["encoding"])),
                    json.dumps(p["architecture"]),
                    "",
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
    solver: str | Solver | type[Solver] = "cpsat",
    seed: int | None = None,
    time_limit: float | None = None,
    reference_point: tuple[float, float | str] | None = None,
    **solver_options: Any,
) -> ParetoFront:
    """Solve ``problem`` once per budget on the cost ``over`` and collect the front.

    Budgets on ``over`` already in ``problem`` are replaced (their cost options, e.g. a
    latency profile, are kept); other constraints stay. A cost model given as ``over``
    replaces only the budgets on that very model: a budget on the same cost with other
    options (``flops`` at another ``seq_len``) stays. When the problem budgets the cost with
    several sets of options, ``over`` must be the cost model to vary.

    Args:
        problem: the program (its space, objective and other constraints are kept).
        over: the budgeted cost, a name (``flops``, ``params``, ...) or a cost model (a
            :class:`~mpsolve.costs.LatencyCost` or :class:`~mpsolve.costs.DecodeLatencyCost` with its profile).
        budgets: the budgets, numbers or strings with units (``"60G"``).
        solver: a backend name (or a :class:`~mpsolve.Solver` class or instance, as :func:`mpsolve.solve` takes).
        seed, time_limit: per solve.
        reference_point: ``(objective, cost)`` of the hypervolume, the cost a number or a string
            with units; default objective 0 and the largest budget.
        **solver_options: options of the backend, and the run options ``callback`` and
            ``progress`` of each solve (see :meth:`~mpsolve.core.solver.Solver.solve`).

    Returns:
        A :class:`ParetoFront`; budgets no design meets are points with status ``infeasible``. A budget whose
        solve raised one of mpsolve's errors is a point with status ``error`` and the message as ``error``; the
        other budgets go on, and :class:`~mpsolve.workflows.sweep.FailedRunsWarning` says how many failed. An error
        of the costs that no budget changes (a latency profile lacking a layer the space needs) is raised before any
        solve, as the corner designs that one solve's time limit lets be scored show it.
        Ctrl-C ends the front at the budget being solved: its best design so far is the last
        point (status ``interrupted``) and the larger budgets are left out.
    """
    if not isinstance(problem, Problem):
        raise MpsolveError(f"pareto needs a Problem, e.g. Problem('small'), got {problem!r}")
    if isinstance(budgets, (str, Mapping)) or not isinstance(budgets, Iterable):  # a str would split into characters
        raise MpsolveError(f"budgets must be a list, e.g. budgets=['60G', '110G'], got {budgets!r}")
    given: dict[float, Any] = {}  # each budget by its value, as the caller spelled it
    for b in budgets:  # before the default reference point (the largest budget) is checked, in its own words
        limit = parse_quantity(b)
        if not (math.isfinite(limit) and limit > 0):
            raise MpsolveError(f"each budget must be a positive finite number, got {b!r}: e.g. budgets=['60G', '110G']")
        if limit in given:  # one solve per budget: the same budget twice is the same point twice
            raise MpsolveError(f"budget {b!r} is given twice ({given[limit]!r} is the same {limit:g}): give each "
                               "budget once")
        given[limit] = b
    limits = sorted(given)
    if not limits:
        raise MpsolveError("pareto needs at least one budget, e.g. budgets=['60G', '110G', '160G']")
    # before any solve; the default is the largest budget asked for, also for a front Ctrl-C cut short
    defaulted = reference_point is None
    reference_point = check_reference_point(reference_point if reference_point is not None else (0.0, limits[-1]))
    run = {k: solver_options.pop(k) for k in ("callback", "progress") if k in solver_options}  # of each solve
    check_run(seed, time_limit, **run)  # before any solve: a failed solve is a point, not an error
    held = sorted(RUN_OPTIONS.intersection(solver_options))  # the checkpoint options: each belongs to one solve
    if held:
        raise MpsolveError(f"pareto solves once per budget, and {held[0]}= belongs to one solve: checkpoint a "
                           "single solve(...), or run the budgets as a sweep (mpsolve sweep --out rows.json, "
                           "--resume)")
    label = get_solver(solver, **solver_options).name  # a bad name or option, before any solve; an instance's name
    name = over.name if isinstance(over, CostModel) else COSTS[over].name
    budgeted = problem.budgeted_costs(name)
    if len(budgeted) > 1 and not isinstance(over, CostModel):
        raise MpsolveError(
            f"the problem budgets {name} with {len(budgeted)} sets of options "
            f"({', '.join(problem.cost_key(c) for c in budgeted)}): pass the one to vary as over=, e.g. "
            f"over={budgeted[-1]!r}"
        )
    if isinstance(over, CostModel):
        cost = over
        existing = [b for b in problem.budgets if b.cost == over]  # a budget with other options is kept
    else:
        existing = [b for b in problem.budgets if b.cost.name == name]
        cost = existing[0].cost if existing else get_cost(over)  # keeps the options of a budgeted cost
    for b in given.values():  # before any solve: the budgets are built one solve at a time
        check_budget_unit(cost, b)
    kept = [c for c in problem.constraints if not any(c is b for b in existing)]
    # the replaced budgets' cost is no longer reported, unless a kept budget bounds it
    bounded = [c.cost for c in kept if isinstance(c, Budget)]
    reported = [c for c in problem.costs.values() if c.name != name or c in bounded]

    def constraints(limit: float) -> list[Constraint]:  # the new budget where the first replaced one was
        if not existing:
            return [*kept, Budget(cost, limit)]
        return [Budget(cost, limit) if c is existing[0] else c for c in problem.constraints
                if not any(c is b for b in existing[1:])]

    subs = [(limit, Problem(problem.space, problem.objective, constraints(limit), reported)) for limit in limits]
    key = subs[0][1].cost_key(cost)
    # an error of the costs that no budget changes (a profile lacking a layer the space needs) is the input's: one
    # error before any solve, not an error point per budget; each solve first scores these corner designs, in
    # chunks while its time limit lasts, and so does this check (a slow plug-in cost scored them all, unbounded)
    first = subs[0][1]
    corners = first.corner_designs()[0]
    until = time.perf_counter() + (math.inf if time_limit is None else time_limit)
    for part in corner_chunks(len(corners), lambda: time.perf_counter() >= until):
        batch = first.space.decode_batch(corners[part])
        for reported in first.costs.values():
            reported.evaluate(batch, first.space)
    points, native = [], []
    for limit, sub in subs:
        try:
            r = solve(sub, solver, seed=seed, time_limit=time_limit, **run, **solver_options)
        except InfeasibleError:  # the space's cheapest design exceeds the budget: a proof
            points.append(budget_point(limit, None, key, label))
            continue
        except MpsolveError as exc:  # the solver failed on this budget (e.g. out of time before a design)
            points.append({**budget_point(limit, None, key, label), "status": "error", "proved": False,
                           "error": str(exc)})
            continue
        except KeyboardInterrupt:  # before the solver took Ctrl-C over (its checks): the points so far stand
            points.append(budget_point(limit, {"status": "interrupted", "architecture": None, "wall_time_s": None},
                                       key, label))
            break
        points.append(budget_point(limit, r.to_dict(), key, label))
        native.extend(r.pareto or [])
        if r.status == "interrupted":  # Ctrl-C stops the front, not only this budget's solve
            break
    if native:
        F = np.array([[-p["objective"], p["costs"][key]] for p in native])
        native = [native[i] for i in sorted(non_dominated(F), key=lambda i: F[i, 1])]
    failed = failed_runs(points, "budgets", "points",
                         lambda p: f"budget {format_quantity(p['budget'])} with {p['solver']}")
    if failed:
        warn(failed, FailedRunsWarning)
    found = [p["objective"] for p in points if p["architecture"] is not None]
    if defaulted and found and max(found) <= reference_point[0]:  # e.g. a log entropy of a small init_std
        warn(f"every point of the front has an objective <= 0 (the best {max(found):.6g}), the default hypervolume "
             f"reference's: its hypervolume is 0 and tells no fronts apart; give reference_point=(an objective below "
             f"every point's, e.g. {min(found) - abs(min(found)) * 0.1:.6g}, a cost)")
    return ParetoFront(
        over=key, solver=label, points=points, native=native, reference_point=reference_point, cost=cost,
        objective=problem.objective,
    )


def budget_point(budget: float, result: dict[str, Any] | None, over: str, solver: str) -> dict[str, Any]:
    """One budget's point of a front (see :class:`ParetoFront`) from a ``Result.to_dict()``;
    ``result`` is ``None`` when the budget was proved infeasible before solving
    (:class:`InfeasibleError`: the space's cheapest design exceeds it)."""
    # the solve's seed, also one it drew (seed=None): the point's run can be repeated
    point: dict[str, Any] = {"budget": budget, "solver": solver, "seed": None if result is None else result.get("seed"),
                             "status": "infeasible",
                             "proved": result is None or bool(result.get("proved"))}  # a complete search proves it
    if result is None or result["architecture"] is None:
        if result is not None and result["status"] == "interrupted":  # Ctrl-C before a design: not infeasible
            point = {**point, "status": "interrupted", "proved": False}
        return {
            **point,
            "objective": None,
            "cost": None,
            "bound": None,
            "gap": None,
            "wall_time_s": None if result is None else result["wall_time_s"],
            "encoding": None,
            "architecture": None,
        }
    return {
        **point,
        "status": result["status"],
        "proved": bool(result.get("proved")) and result["gap"] == 0,
        "objective": result["objective"],
        "cost": result["costs"][over],
        "bound": result["bound"],
        "gap": result["gap"],
        "wall_time_s": result["wall_time_s"],
        "encoding": result["encoding"],
        "architecture": result["architecture"],
    }


def _check_alike(fronts: Sequence[ParetoFront], what: str, way_out: str) -> None:
    """A one-line error unless the fronts are over one cost and of one objective: their names, and their options
    where a front keeps its model (``flops`` at 128 tokens and at 1024 share a name); one column, one axis holds
    each. Before, the first front's labelled them all. ``way_out`` has a ``{}`` for the cost or objective."""
    kinds = (("cost", "over one cost", [(fr.over, _options(fr.cost)) for fr in fronts]),
             ("objective", "of one objective", [(fr.objective.name, _options(fr.objective)) for fr in fronts
                                                if fr.objective is not None]))
    for kind, said, keys in kinds:
        names = list(dict.fromkeys(name for name, _ in keys))
        options = list(dict.fromkeys(o for _, o in keys if o is not None))
        if len(names) > 1 or len(options) > 1:
            got = ", ".join(names) if len(names) > 1 else f"{names[0]} with options {' and '.join(options)}"
            raise MpsolveError(f"{what} needs fronts {said}, got {got}: {way_out.format(kind)}")


def _options(model: CostModel | Objective | None) -> str | None:
    """A cost model's or objective's options as JSON (two score alike when their names and these agree)."""
    return None if model is None else json.dumps(jsonable(model.options()), sort_keys=True)


def write_csv(fronts: Sequence[ParetoFront], path: str | Path) -> None:
    """Write fronts as CSV: solver, kind (``budget`` or ``native``), budget, status, proved,
    objective, cost, bound, gap, the front's hypervolume reference point (objective, cost), its
    hypervolume and whether it is certified, encoding, architecture (JSON), and an ``error`` point's message (else
    empty). The fronts are over one cost (one column holds it)."""
    _check_alike(fronts, "write_csv", "write each {}'s fronts to a file of its own")
    check_writable(path, "CSV file")
    buffer = io.StringIO(newline="")
    w = csv.writer(buffer)
    over = fronts[0].over if fronts else "cost"
    w.writerow(
        [
            "solver",
            "kind",
            "budget",
            "status",
            "proved",
            "objective",
            over,
            "bound",
            "gap",
            "reference_objective",
            f"reference_{over}",
            "hypervolume",
            "certified",
            "encoding",
            "architecture",
            "error",
        ]
    )
    for fr in fronts:
        w.writerows(fr.csv_rows())
    atomic_write(path, buffer.getvalue())


def plot_fronts(fronts: Sequence[ParetoFront], path: str | Path, problem: Problem | None = None) -> None:
    """Plot objective against cost, one front per solver, with the published MeRino models (those
    the cost can score: a profile of a byte-level space cannot).

    Args:
        fronts: fronts over the same cost, of the same objective.
        path: image file to write (format from the suffix).
        problem: its objective scores the published models (default: the fronts' own objective,
            :attr:`ParetoFront.objective`, which a problem's must then be, else the MeRino entropy); their
            cost is the fronts' own cost
            model (:attr:`ParetoFront.cost`), else the cost the problem reports as ``over``, else
            ``over`` with default options.
    """
    check_writable(path, "figure")
    fmt = check_figure_path(path)
    import matplotlib.pyplot as plt

    if not fronts:
        raise MpsolveError("plot_fronts needs at least one front")
    _check_alike(fronts, "plot_fronts", "plot each {}'s fronts in a figure of its own")
    own = next((fr.objective for fr in fronts if fr.objective is not None), None)
    mine = None if problem is None else problem.objective
    if mine is not None and own is not None and (mine.name, _options(mine)) != (own.name, _options(own)):
        # the published models would be scored on another scale than the fronts, under the problem's label
        theirs, ours = (mine.name, own.name) if mine.name != own.name else (repr(mine), repr(own))
        raise MpsolveError(f"plot_fronts scores the published models with the problem's objective {theirs}, but the "
                           f"fronts maximise {ours}: pass the fronts' problem, or none (the fronts' own objective "
                           "scores them)")
    over = fronts[0].over
    objective = mine if mine is not None else own  # the fronts' own, not entropy
    problem = problem if problem is not None else Problem("default")
    objective = objective if objective is not None else problem.objective
    cost = next((fr.cost for fr in fronts if fr.cost is not None), None) or problem.costs.get(over)  # any front's
    if cost is None:
        try:
            cost = get_cost(over)
        except MpsolveError:  # a labelled cost (flops[seq_len=128]) or one that needs a profile, of a front read back
            raise MpsolveError(f"the fronts are over {over!r}, which the problem does not report: pass a problem "
                               f"that reports it, Problem(space, report_costs=[..., the {over!r} cost model])"
                               ) from None
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
        try:
            c, f = cost.of(arch), objective.of(arch)
        except MpsolveError:  # a profile measured for other model constants (a byte-level space) cannot score it
            continue
        ax.plot([c], [f], "k*", markersize=11)
        ax.annotate(name, (c, f), textcoords="offset points", xytext=(5, -12), fontsize=8)
    # the workload a FLOPs / memory / latency cost counts: a front over 128-token FLOPs is not one over 1024
    workload = cost.options().get("seq_len")
    said = [x for x in (cost.unit, None if workload is None else f"seq_len {workload}") if x]
    ax.set_xlabel(f"{over} ({', '.join(said)})" if said else over)
    ax.set_ylabel(objective.name)
    ax.grid(alpha=0.3)
    # the dominated corner (dear and low), where no front runs; "best" searched for a place and, past a second,
    # warned that it 'can be slow': a warning that came and went with the machine's load
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=120)
    plt.close(fig)
    atomic_write(path, buffer.getvalue())


def check_figure_path(path: str | Path, what: str = "figure") -> str:
    """The image format of ``path``: its suffix, which must name a format matplotlib writes.

    Raises:
        MpsolveError: matplotlib is missing, or the suffix is absent or not an image format.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise MpsolveError("plotting needs matplotlib: pip install 'mpsolve[plot]'") from None
    formats = FigureCanvasAgg.get_supported_filetypes()
    fmt = Path(path).suffix[1:].lower()
    if fmt not in formats:
        found = f"suffix {Path(path).suffix!r}" if fmt else "no suffix"
        raise MpsolveError(
            f"{what} {str(path)!r} has {found}: end it with an image format, one of {', '.join(sorted(formats))}"
        )
    if fmt == "pgf":  # matplotlib runs a TeX system to write it, after all the work
        import shutil

        tex = matplotlib.rcParams["pgf.texsystem"]
        if shutil.which(tex) is None:
            raise MpsolveError(f"{what} {str(path)!r}: matplotlib writes .pgf with {tex}, which is not installed: "
                               "install it, or end the name in .pdf or .svg")
    return fmt
