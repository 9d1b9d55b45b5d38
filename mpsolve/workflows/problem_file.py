"""Problem files: a whole run (space, objective, budgets, constraints, solver) as TOML.

Every field is optional; an empty file maximises the MeRino entropy over the ``default``
space with the ``ea`` solver::

    report_costs = ["params", { cost = "decode_flops", seq_len = 128 }]   # reported with every
                               # design besides the budgeted costs (default: params, flops, memory)

    [space]                    # or: space = "paper"
    preset = "default"         # a named space; the fields below override it
    num_blocks = 4             # also: embed_dims, ffn_ratios, layers, vocab_size,
    embed_dims = [128, 256, 512, 1024]   # embed_proj_dim, max_positions, head_dim,
                                          # shared, activation, name

    [objective]                # or: objective = "params"
    name = "entropy"           # entropy | params | decoder_params
    variant = "log"            # any option of the objective (MeRinoEntropy: variant, eps,
    penalty = "linear"         # init_std, alpha, beta, effectiveness, penalty, gamma, draws,
                               # table_seed)

    [[budget]]                 # one table per budget, in order ...
    cost = "flops"             # params | flops | memory | latency | decode (both with profile = FILE)
    limit = "160G"             # a positive number or a string with a unit K, M, G or T
    seq_len = 1024             # any option of the cost model

    [budgets]                  # ... or a table by cost (not both)
    params = "60M"
    flops = { limit = "160G", seq_len = 1024 }

    [constraints]
    effectiveness = 0.5        # rho_max, or { rho_max = 0.5, beta = 0.0625, parts = "both" }
    non_decreasing_widths = true   # explicit width order (always enforced anyway)

    [solver]                   # or: solver = "cpsat"
    name = "ea"
    seed = 0                   # a non-negative integer
    time_limit = 60            # seconds
    iterations = 20000         # any option of the solver

Errors are :class:`ProblemFileError` naming the file and the field path (list indices
count from 0), e.g. ``run.toml: budget[1].limit: expected a positive number or a string
like '160G', got -3``. JSON files with the same structure are read too. The resolved problem
of every result (``Result.problem``, ``Result.to_dict()``) turns back into a runnable file
with :func:`result_to_problem_toml`, and a result's JSON file can be loaded as it is.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpsolve.constraints import Budget, Constraint, Effectiveness, NonDecreasingWidths
from mpsolve.core.problem import Problem
from mpsolve.core.result import Result
from mpsolve.costs import get_cost
from mpsolve.objectives import OBJECTIVES, get_objective
from mpsolve.solvers import RUN_OPTIONS, get_solver, solve
from mpsolve.spaces import SPACES, SearchSpace, get_space
from mpsolve.utils.errors import MpsolveError, shown_name, warn
from mpsolve.utils.files import parse_data, read_text_bounded
from mpsolve.utils.quantities import exact_quantity, parse_quantity
from mpsolve.utils.random import DEFAULT_SEED
from mpsolve.utils.validation import check_bool, is_integer, is_positive_number

__all__ = [
    "ProblemFileError",
    "ProblemSpec",
    "load_problem_file",
    "loads_problem",
    "problem_from_dict",
    "problem_to_dict",
    "problem_to_toml",
    "result_to_problem_toml",
]

_TOP = ("space", "objective", "budget", "budgets", "constraints", "report_costs", "solver")
_SPACE_INTS = ("num_blocks", "vocab_size", "embed_proj_dim", "max_positions", "head_dim")
_SPACE_GRIDS = {"embed_dims": int, "ffn_ratios": float, "layers": int}
_RUN_KEYS = ("name", "seed", "time_limit")


class ProblemFileError(MpsolveError):
    """A problem file (or dict) does not follow the schema; the message names the field."""


@dataclass
class ProblemSpec:
    """A problem with the solver, options, seed and time limit to run it with."""

    problem: Problem
    solver: str = "ea"
    solver_options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    time_limit: float | None = None

    def solve(self, **run: Any) -> Result:
        """Run it with :func:`mpsolve.solve` (``run``: ``progress``, ``callback``,
        ``checkpoint``, ... of :meth:`Solver.solve`)."""
        other = sorted(set(run) - RUN_OPTIONS)  # a raw TypeError (seed=, time_limit=), or a solver option, silently
        if other:
            raise ProblemFileError(f"ProblemSpec.solve takes the run options ({', '.join(sorted(RUN_OPTIONS))}), not "
                                   f"{', '.join(other)}: set the spec's seed, time_limit, solver or solver_options "
                                   "instead (dataclasses.replace(spec, seed=1))")
        return solve(self.problem, self.solver, self.seed, self.time_limit, **self.solver_options, **run)

    def to_toml(self) -> str:
        return problem_to_toml(self.problem, self.solver, self.solver_options, self.seed, self.time_limit)


# -- reading ------------------------------------------------------------------------------------
def load_problem_file(path: str | Path, *, allow_storage: bool = False) -> ProblemSpec:
    """Read a problem file (TOML, or JSON when the name ends in ``.json``; the JSON of a
    result, ``Result.to_dict()``, reruns that result).

    Relative paths in the file (a latency ``profile``) are resolved against the file's folder.
    A TPE ``storage`` URL (a database Optuna creates or opens) is refused unless
    ``allow_storage``: a file handed to you must not choose where data is written.
    """
    path = Path(path)
    text = read_text_bounded(path, "problem file", ProblemFileError)
    if path.suffix.lower() == ".json":
        data = parse_data(text, "json", ProblemFileError, f"{path}: invalid JSON")
        if isinstance(data, dict) and "problem" in data and "status" in data:  # a result: rerun it
            text = result_to_problem_toml(data, str(path), allow_storage=allow_storage)
        else:
            return problem_from_dict(data, str(path), folder=path.parent, allow_storage=allow_storage)
    return loads_problem(text, str(path), folder=path.parent, allow_storage=allow_storage)


def loads_problem(text: str, source: str = "<string>", *, folder: str | Path | None = None,
                  allow_storage: bool = False) -> ProblemSpec:
    """Parse a problem from TOML text; ``source`` names it in error messages."""
    data = parse_data(text, "toml", ProblemFileError, f"{source}: invalid TOML")
    return problem_from_dict(data, source, folder=folder, allow_storage=allow_storage)


def problem_from_dict(data: Any, source: str = "<dict>", *, folder: str | Path | None = None,
                      allow_storage: bool = False) -> ProblemSpec:
    """Validate a parsed problem file and build the :class:`ProblemSpec` it describes.

    Args:
        folder: relative paths in the file are resolved against it (the file's own folder).
        allow_storage: let the file set a TPE ``storage`` URL.
    """
    return _Reader(source, folder, allow_storage).spec(data)


class _Reader:
    """Validates a parsed file; every error carries the source and the field path."""

    def __init__(self, source: str, folder: str | Path | None = None, allow_storage: bool = False) -> None:
        self.source = source
        self.folder = None if folder is None else Path(folder)
        # a truthy string ("no") let a file choose where a study database is written
        self.allow_storage = check_bool(allow_storage, "allow_storage", ProblemFileError)

    def error(self, path: str, message: str) -> ProblemFileError:
        if len(message) > 400:  # a value shown whole (a sweep's rows given as a problem) would fill the screen
            message = f"{message[:250]} ... {message[-120:]}"
        return ProblemFileError(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    def build(self, path: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a constructor with values from the file; its ``ValueError`` (every
        :class:`MpsolveError` is one) becomes an error at ``path``."""
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:
            raise self.error(path, str(exc)) from None

    def table(
        self, path: str, value: Any, known: tuple[str, ...] | None = None, kind: str = "a table"
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"expected {kind}, got {value!r}")
        for key in value:
            if not isinstance(key, str):
                raise self.error(path, f"keys must be strings, got {key!r}")
            if known is not None and key not in known:
                raise self.error(_join(path, key), f"unknown field; known: {', '.join(known)}")
        return dict(value)

    # -- top level --------------------------------------------------------------------------------
    def spec(self, data: Any) -> ProblemSpec:
        if isinstance(data, Mapping) and ({"over", "points"} <= data.keys() or "fronts" in data):
            raise self.error("", "this is a Pareto front (mpsolve pareto --json), not a problem: give the problem "
                                 "file the front was solved from, or a design's result JSON (mpsolve design --json)")
        if isinstance(data, Mapping) and "blocks" in data:  # else "blocks: unknown field", which says not what it is
            raise self.error("", "this is an architecture (mpsolve cost, build and train take it), not a problem: "
                                 "give a problem file or a design's result JSON (mpsolve design --json)")
        if isinstance(data, list) and data and all(isinstance(r, Mapping) and {"index", "problem", "status"} <= r.keys()
                                                   for r in data):
            raise self.error("", "these are a sweep's rows (mpsolve sweep --out), not a problem: give the problem "
                                 "file the sweep ran")
        data = self.table("", data, _TOP)
        if "budget" in data and "budgets" in data:
            raise self.error("budgets", "use either [[budget]] tables or one [budgets] table, not both")
        space = self.space(data.get("space", "default"))
        objective = self.objective(data.get("objective", "entropy"))
        constraints: list[Constraint] = []
        if "budget" in data:
            constraints += self.budget_list(data["budget"])
        if "budgets" in data:
            constraints += self.budget_table(data["budgets"])
        constraints += self.constraints(data.get("constraints", {}))
        reported = self.report_costs(data["report_costs"]) if "report_costs" in data else None
        problem = self.build("", Problem, space, objective, constraints, reported)
        name, options, seed, time_limit = self.solver(data.get("solver", "ea"))
        return ProblemSpec(problem, name, options, seed, time_limit)

    def space(self, value: Any) -> SearchSpace:
        if isinstance(value, str):
            value = {"preset": value}
        known = ("preset", "name", *_SPACE_INTS, *_SPACE_GRIDS, "shared", "activation")
        data = self.table("space", value, known, "a preset name or a table")
        preset = self.choice("space.preset", data.pop("preset", "default"), SPACES, "space")
        base = get_space(preset).to_dict()
        if data and "name" not in data:
            base["name"] = "custom"
        for key, v in data.items():
            path = _join("space", key)
            if key in _SPACE_INTS:
                data[key] = self.integer(path, v, minimum=1)
            elif key in _SPACE_GRIDS:
                data[key] = self.grid(path, v, _SPACE_GRIDS[key])
            elif key == "shared" and not isinstance(v, bool):
                raise self.error(path, f"expected true or false, got {v!r}")
            elif key in ("activation", "name") and not isinstance(v, str):
                raise self.error(path, f"expected a string, got {v!r}")
        return self.build("space", SearchSpace.from_dict, {**base, **data})

    def objective(self, value: Any) -> Any:
        if isinstance(value, str):
            value = {"name": value}
        data = self.table("objective", value, kind="an objective name or a table")
        name = self.choice("objective.name", data.pop("name", "entropy"), OBJECTIVES, "objective")
        default = get_objective(name)
        self.options("objective", data, default.options(), type(default))
        return self.build("objective", get_objective, name, **data)

    def budget_list(self, value: Any) -> list[Budget]:
        if not isinstance(value, list):
            raise self.error("budget", f"expected an array of tables ([[budget]]), got {value!r}")
        out = []
        for i, item in enumerate(value):
            path = f"budget[{i}]"
            data = self.table(path, item)
            if "cost" not in data:
                raise self.error(path, "missing field 'cost' (e.g. cost = \"flops\")")
            if "limit" not in data:
                raise self.error(path, "missing field 'limit' (e.g. limit = \"160G\")")
            out.append(self.budget(path, data.pop("cost"), data.pop("limit"), data))
        return out

    def budget_table(self, value: Any) -> list[Budget]:
        out = []
        for cost, item in self.table("budgets", value).items():
            path = _join("budgets", cost)
            if isinstance(item, Mapping):
                data = self.table(path, item)
                if "limit" not in data:
                    raise self.error(path, "missing field 'limit' (e.g. { limit = \"160G\" })")
                out.append(self.budget(path, cost, data.pop("limit"), data))
            else:
                out.append(self.budget(path, cost, item, {}))
        return out

    def report_costs(self, value: Any) -> list[Any]:
        """Costs reported with every design: names, or tables of ``cost`` and its options."""
        if not isinstance(value, list):
            raise self.error("report_costs", f"expected an array of cost names or tables, got {value!r}")
        out = []
        for i, item in enumerate(value):
            path = f"report_costs[{i}]"
            data = {"cost": item} if isinstance(item, str) else dict(self.table(path, item))
            name = data.pop("cost", None)
            if not isinstance(name, str):
                raise self.error(path, f"expected a cost name such as 'params', got {name!r}")
            out.append(self.build(path, get_cost, name, **self.located(data)))
        return out

    def budget(self, path: str, cost: Any, limit: Any, options: dict[str, Any]) -> Budget:
        cost_path = f"{path}.cost" if path.startswith("budget[") else path
        if not isinstance(cost, str):
            raise self.error(cost_path, f"expected a cost name such as 'flops', got {cost!r}")
        try:
            default = get_cost(cost)
            self.options(path, options, default.options(), type(default))
        except ProblemFileError:
            raise
        except ValueError as exc:
            if str(exc).startswith("unknown cost"):
                raise self.error(cost_path, str(exc)) from None
            # a cost with required options (latency's profile): its constructor checks them below
        limit_path = f"{path}.limit" if path.startswith("budget[") or options else path
        expected = "expected a positive number or a string like '160G'"
        if isinstance(limit, bool) or not isinstance(limit, (int, float, str)):
            raise self.error(limit_path, f"{expected}, got {limit!r}")
        try:
            amount = parse_quantity(limit)
        except MpsolveError:
            raise self.error(limit_path, f"{expected}, got {limit!r}") from None
        if not is_positive_number(amount):
            raise self.error(limit_path, f"{expected}, got {limit!r}")
        return self.build(path, Budget, cost, limit, **self.located(options))

    def located(self, options: dict[str, Any]) -> dict[str, Any]:
        """Cost options with a relative ``profile`` path resolved against the file's folder."""
        if isinstance(options.get("profile"), str) and self.folder is not None:
            return {**options, "profile": str(self.folder / Path(options["profile"]).expanduser())}
        return options

    def constraints(self, value: Any) -> list[Constraint]:
        data = self.table("constraints", value, ("effectiveness", "non_decreasing_widths"))
        out: list[Constraint] = []
        if "effectiveness" in data:
            path, v = "constraints.effectiveness", data["effectiveness"]
            if isinstance(v, Mapping):
                options = self.table(path, v)
                defaults = {k: v for k, v in Effectiveness().to_dict().items() if k != "type"}
                self.options(path, options, defaults)
                out.append(self.build(path, Effectiveness, **options))
            else:
                out.append(self.build(path, Effectiveness, self.number(path, v)))
        if "non_decreasing_widths" in data:
            v = data["non_decreasing_widths"]
            if v is not True:  # false was accepted, and the order enforced all the same
                raise self.error("constraints.non_decreasing_widths", f"expected true (the width order holds in every "
                                 f"problem; drop the key, it is the default), got {v!r}")
            out.append(NonDecreasingWidths())
        return out

    def solver(self, value: Any) -> tuple[str, dict[str, Any], int | None, float | None]:
        if isinstance(value, str):
            value = {"name": value}
        data = self.table("solver", value, kind="a solver name or a table")
        name = data.pop("name", "ea")
        if not isinstance(name, str):
            raise self.error("solver.name", f"expected a solver name such as 'ea', got {name!r}")
        seed = self.integer("solver.seed", data.pop("seed", DEFAULT_SEED), minimum=0)
        if "storage" in data and data["storage"] is not None and not self.allow_storage:
            raise self.error("solver.storage", "a file may not choose where a study database is written; "
                             "pass --allow-storage (allow_storage=True) to let it")
        time_limit = data.pop("time_limit", None)
        if time_limit is not None:
            time_limit = self.number("solver.time_limit", time_limit)
        default = self.build("solver.name", get_solver, name)
        self.options("solver", data, default.get_options(), type(default))
        self.build("solver", get_solver, name, **data)
        return name, data, seed, time_limit

    # -- values -------------------------------------------------------------------------------------
    def options(self, path: str, options: dict[str, Any], defaults: dict[str, Any], owner: type | None = None) -> None:
        """Check option names and types against an instance's default options (and, where ``owner``'s
        constructor annotates an option ``int | str`` such as ``draws``, an integer for a string default)."""
        for key, v in options.items():
            if key not in defaults:
                known = ", ".join(defaults) or "none"
                raise self.error(_join(path, key), f"unknown option; known options: {known}")
            if not (isinstance(defaults[key], str) and is_integer(v) and _annotated_int(owner, key)):
                self.like(_join(path, key), v, defaults[key])

    def like(self, path: str, value: Any, default: Any) -> None:
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), "a string"
        elif isinstance(default, (list, tuple)):
            ok, kind = isinstance(value, list), "an array"
            if ok and default:
                for i, item in enumerate(value):
                    self.like(f"{path}[{i}]", item, default[0])
        else:
            return
        if not ok:
            raise self.error(path, f"expected {kind}, got {value!r}")

    def choice(self, path: str, value: Any, known: Mapping[str, Any], what: str) -> str:
        if not isinstance(value, str) or value not in known:
            raise self.error(path, f"unknown {what} {value!r}; known: {', '.join(known)}")
        return value

    def integer(self, path: str, value: Any, minimum: int) -> int:
        if not is_integer(value) or value < minimum:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise self.error(path, f"expected {kind}, got {value!r}")
        return value

    def number(self, path: str, value: Any) -> float:
        if not is_positive_number(value):
            raise self.error(path, f"expected a positive number, got {value!r}")
        return float(value)

    def grid(self, path: str, value: Any, kind: type) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.error(path, f"expected a non-empty array of positive numbers, got {value!r}")
        for i, v in enumerate(value):
            if kind is int:
                self.integer(f"{path}[{i}]", v, minimum=1)
            else:
                self.number(f"{path}[{i}]", v)
        return value


def _join(path: str, key: str) -> str:
    """The path of ``key`` in the table at ``path``, the key shown on one line (a quoted key may hold a newline)."""
    return f"{path}.{shown_name(key)}" if path else shown_name(key)


# -- writing ------------------------------------------------------------------------------------
def problem_to_dict(
    problem: Problem | Mapping[str, Any],
    solver: str = "ea",
    solver_options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    time_limit: float | None = None,
) -> dict[str, Any]:
    """The problem-file structure of a problem (or of its :meth:`Problem.to_dict`).

    Raises:
        ProblemFileError: for constraints a file cannot express (e.g. a :class:`Predicate`).
    """
    return _structure(_Reader("<problem>"), problem, solver, solver_options, seed, time_limit)


def _structure(
    reader: _Reader,
    problem: Problem | Mapping[str, Any],
    solver: str,
    solver_options: Mapping[str, Any] | None,
    seed: int | None,
    time_limit: float | None,
) -> dict[str, Any]:
    resolved = problem.to_dict() if isinstance(problem, Problem) else reader.table("problem", problem)
    known = ("space", "objective", "constraints", "report_costs")
    resolved = reader.table("problem", resolved, known)
    out: dict[str, Any] = {
        "space": reader.table("problem.space", resolved.get("space", {})),
        "objective": reader.table("problem.objective", resolved.get("objective", {})),
    }
    budgets: list[dict[str, Any]] = []
    constraints: dict[str, Any] = {}
    items = resolved.get("constraints", [])
    if not isinstance(items, list):
        raise reader.error("problem.constraints", f"expected an array, got {items!r}")
    for i, item in enumerate(items):
        c = reader.table(f"problem.constraints[{i}]", item)
        kind = c.pop("type", None)
        if kind == "Budget" and {"cost", "limit"} <= set(c):
            options = reader.table(f"problem.constraints[{i}].options", c.get("options", {}))
            budgets.append({"cost": c["cost"], "limit": exact_quantity(c["limit"]), **options})
        elif kind == "Effectiveness" and "effectiveness" not in constraints:
            constraints["effectiveness"] = c
        elif kind == "NonDecreasingWidths":
            constraints["non_decreasing_widths"] = True
        else:
            raise reader.error(
                f"problem.constraints[{i}]",
                f"constraint {kind or item!r} cannot be written to a problem file (only budgets, one "
                "effectiveness constraint and non_decreasing_widths can): build this problem in Python",
            )
    if budgets:
        out["budget"] = budgets
    if constraints:
        out["constraints"] = constraints
    reported = resolved.get("report_costs")
    if reported is not None:
        if not isinstance(reported, list):
            raise reader.error("problem.report_costs", f"expected an array, got {reported!r}")
        out["report_costs"] = []
        for i, item in enumerate(reported):
            c = reader.table(f"problem.report_costs[{i}]", item)
            options = reader.table(f"problem.report_costs[{i}].options", c.get("options", {}))
            out["report_costs"].append({"cost": c.get("cost"), **options})
    run: dict[str, Any] = {"name": solver}
    if seed is not None:
        run["seed"] = seed
    if time_limit is not None:
        run["time_limit"] = time_limit
    clash = set(_RUN_KEYS) & set(solver_options or {})
    if clash:
        raise reader.error("solver", f"solver options cannot be named {sorted(clash)}")
    out["solver"] = {**run, **dict(solver_options or {})}
    return out


def problem_to_toml(
    problem: Problem | Mapping[str, Any],
    solver: str = "ea",
    solver_options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    time_limit: float | None = None,
) -> str:
    """A runnable problem file of a problem (or of its :meth:`Problem.to_dict`)."""
    return dumps_toml(problem_to_dict(problem, solver, solver_options, seed, time_limit))


def result_to_problem_toml(result: Result | Mapping[str, Any], source: str = "<result>", *,
                           allow_storage: bool = False) -> str:
    """A problem file that reruns a result (a :class:`Result` or its ``to_dict()``/JSON);
    ``source`` names the result in error messages; ``allow_storage`` as in :func:`load_problem_file`."""
    if isinstance(result, Result):
        result = result.to_dict()
    reader = _Reader(source)
    data = reader.table("result", result)
    if not isinstance(data.get("problem"), Mapping) or not data["problem"]:
        raise reader.error("problem", "the result carries no problem to rerun (expected Result.to_dict() output)")
    solver = data.get("solver", "ea")
    if not isinstance(solver, str):
        raise reader.error("solver", f"expected a solver name, got {solver!r}")
    options = reader.table("options", data.get("options") or {})
    seed = data.get("seed")
    if seed is None and data.get("status") != "infeasible":  # a seed=None run of before mpsolve recorded its seed
        warn(f"{source}: the result records no seed (it drew fresh entropy): its rerun has seed {DEFAULT_SEED} and "
             "need not give the same design")
    text = dumps_toml(_structure(reader, data["problem"], solver, options, seed, None))
    spec = loads_problem(text, source, allow_storage=allow_storage)  # what we hand out must load
    # TOML has no null: an option the run set to None is left out, which is its default only when it is
    rerun = get_solver(spec.solver, **spec.solver_options).get_options()
    lost = [k for k, v in options.items() if v is None and rerun.get(k) is not None]
    if lost:
        raise reader.error("options", f"{', '.join(f'{k}=None' for k in lost)} cannot be written to a problem file "
                                      "(TOML has no null) and the solver's default differs: rerun it in Python, "
                                      "solve(problem, solver, seed, **result.options)")
    return text


def _annotated_int(owner: type | None, key: str) -> bool:
    """Whether ``owner(...)`` annotates its parameter ``key`` with ``int`` (alone or in a union)."""
    try:
        parameter = inspect.signature(owner).parameters.get(key) if owner is not None else None
    except (TypeError, ValueError):
        return False
    return parameter is not None and "int" in re.split(r"[\s|]+", str(parameter.annotation))


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dumps_toml(data: Mapping[str, Any]) -> str:
    """TOML text of a dict of tables and arrays of tables (values: scalars, arrays, tables)."""
    lines: list[str] = []
    for name, section in data.items():
        # TOML has no null: a None value is an option left at its default, so it is not written
        if section is None:
            continue
        if isinstance(section, list) and section and all(isinstance(s, Mapping) for s in section):
            for item in section:
                lines += ["", f"[[{_key(name)}]]",
                          *(f"{_key(k)} = {_value(v)}" for k, v in item.items() if v is not None)]
        elif isinstance(section, Mapping):
            lines += ["", f"[{_key(name)}]", *(f"{_key(k)} = {_value(v)}" for k, v in section.items() if v is not None)]
        else:
            lines.insert(0, f"{_key(name)} = {_value(section)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, Mapping):
        items = [(k, x) for k, x in v.items() if x is not None]
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(x)}" for k, x in items) + " }" if items else "{}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if hasattr(v, "item"):  # numpy scalars
        return _value(v.item())
    if isinstance(v, os.PathLike):  # a plug-in's path option, read back as a string
        return _value(os.fsdecode(v))
    raise ProblemFileError(f"cannot write {v!r} ({type(v).__name__}) to a problem file")
