"""``mpsolve sweep``: problems x budgets x solvers x seeds, locally or on a Dask cluster."""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mpsolve.cli.parsing import (
    CLIError,
    check_not_profiles,
    check_outputs,
    check_time_limit_flag,
    parse_options,
    path_arg,
    print_json,
    split_list,
)
from mpsolve.core.problem import Problem
from mpsolve.core.result import STATUSES
from mpsolve.solvers import get_solver
from mpsolve.spaces import SPACES, Architecture, load_space, space_label
from mpsolve.utils.errors import MpsolveError, shown
from mpsolve.utils.files import atomic_write, check_writable, parse_data, read_text_bounded
from mpsolve.utils.jsonable import jsonable
from mpsolve.utils.quantities import exact_quantity
from mpsolve.utils.random import DEFAULT_SEED
from mpsolve.utils.validation import first_repeat, is_finite_number
from mpsolve.workflows.problem_file import load_problem_file
from mpsolve.workflows.sweep import (
    FailedRunsWarning,
    SweepInterrupted,
    failed_runs,
    profile_digests,
    run_sweep,
    sweep_tasks,
)

__all__ = ["add_subcommands", "cmd_sweep"]


def add_subcommands(subparsers: Any) -> None:
    """Add ``mpsolve sweep`` to the CLI."""
    p = subparsers.add_parser(
        "sweep",
        help="run problems x budgets x solvers x seeds, locally or on a Dask cluster",
        description="Run every combination of problems, swept budgets, solvers and seeds; "
        "e.g. mpsolve sweep --space default --over flops --budgets 60G,110G --solvers ea --seeds 0,1 "
        "--executor dask://local",
    )
    p.add_argument("--space", help=f"comma-separated presets ({', '.join(SPACES)}) or TOML space files "
                   "(default: default unless --problem)")
    p.add_argument("--problem", action="append", default=[], metavar="FILE", help="a problem file (repeatable)")
    p.add_argument("--over", action="append", default=[], metavar="COST", help="cost whose budget is swept")
    p.add_argument(
        "--budgets", action="append", default=[], metavar="LIMITS", help="comma-separated limits, one per --over"
    )
    p.add_argument("--solvers", help="comma-separated solvers, each run on every problem (default: each problem "
                   "file with its own solver, each --space with ea)")
    p.add_argument("--seeds", help=f"comma-separated seeds (default: each problem file's seed, else {DEFAULT_SEED})")
    p.add_argument("--option", action="append", default=[], metavar="SOLVER.KEY=VALUE", help="a solver option")
    p.add_argument("--time-limit", type=float, help="seconds per run, inf for none (default: each problem file's "
                   "time limit, else none)")
    p.add_argument("--executor", default="local", help="local, process[:N], dask://local[:N] or dask://HOST:PORT")
    p.add_argument("--json", action="store_true", help="print the rows as one JSON array")
    p.add_argument("--out", type=path_arg, metavar="FILE",
                   help="also write the rows as a JSON array, updated as each run finishes (kept on Ctrl-C)")
    p.add_argument("--resume", action="store_true",
                   help="keep the rows already in --out (runs of this same sweep) and run the rest")
    p.set_defaults(func=cmd_sweep, result_files=("--out",))


def cmd_sweep(args: argparse.Namespace) -> int:
    check_time_limit_flag(args.time_limit)
    if len(args.over) != len(args.budgets):
        raise CLIError("give one --budgets list per --over cost, e.g. --over flops --budgets 60G,110G")
    repeated = first_repeat(args.over)
    if repeated is not None:  # a dict would keep the last --budgets list only
        raise CLIError(f"--over {repeated} is given twice: give all its budgets in one --budgets list, "
                       "e.g. --over flops --budgets 20G,40G")
    budgets = {cost: split_list(limits, "--budgets") for cost, limits in zip(args.over, args.budgets)}
    problems: dict[str, Any] = {}
    if "" in args.problem:  # else read as the current folder
        raise CLIError("--problem is an empty name: give a problem file, e.g. --problem run.toml")
    for path in args.problem:  # labelled by the file's stem, numbered when taken (the same file twice runs twice)
        label = Path(path).stem
        problems[label if label not in problems else f"{label}#{len(problems)}"] = load_problem_file(path)
    given = args.space is not None  # an empty --space is refused, not taken for the default
    spaces = split_list(args.space if given else "default", "--space") if given or not problems else []
    if args.out is not None:  # before any space file is read or any run starts
        check_writable(args.out, "--out")
        inputs = {f"--problem {path!r}": path for path in args.problem}
        check_outputs({"--out": args.out}, {**inputs, **{f"--space {name!r}": name for name in spaces}})
        for spec in problems.values():
            check_not_profiles({"--out": args.out}, spec.problem)
    for name in spaces:  # a space file is labelled by its file's stem, as a problem file is
        label = space_label(name)
        problems[label if label not in problems else f"{label}#{len(problems)}"] = Problem(load_space(name))
    # none given: each problem file with its own solver, the --space problems with ea
    solvers = None if args.solvers is None else split_list(args.solvers, "--solvers")
    seeds = None  # each problem file's own, DEFAULT_SEED for the others
    if args.seeds is not None:
        try:
            seeds = [int(s) for s in split_list(args.seeds, "--seeds")]
        except ValueError:
            seeds = []
        if not seeds or min(seeds) < 0:
            raise CLIError(f"--seeds must be comma-separated non-negative integers, got {args.seeds!r}")
    options: dict[str, dict[str, Any]] = {}
    for key, value in parse_options(args.option).items():
        solver, dot, name = key.partition(".")
        if not dot or not name:
            raise CLIError(f"bad option {key!r}: write SOLVER.KEY=VALUE, e.g. ea.iterations=5000")
        options.setdefault(solver, {})[name] = value
    tasks = sweep_tasks(problems, budgets, solvers, seeds, time_limit=args.time_limit, solver_options=options)
    finished = _earlier_rows(args, tasks)

    def write(row: dict[str, Any]) -> None:
        finished[row["index"]] = row
        atomic_write(args.out, json.dumps([finished[i] for i in sorted(finished)]))

    try:
        with warnings.catch_warnings():  # said below, with the way out
            warnings.simplefilter("ignore", FailedRunsWarning)
            run_sweep([t for t in tasks if t.index not in finished], args.executor,
                      on_row=write if args.out is not None else lambda row: finished.update({row["index"]: row}))
    except SweepInterrupted:
        _show([finished[i] for i in sorted(finished)], args.json)
        where = f" (in {str(args.out)!r})" if args.out is not None else ""
        print(f"mpsolve: interrupted: {len(finished)} of {len(tasks)} runs finished{where}", file=sys.stderr)
        return 130
    rows = [finished[t.index] for t in tasks]
    _show(rows, args.json)
    failed = failed_runs(rows)
    if failed:
        print(f"mpsolve: error: {failed}", file=sys.stderr)
        return 1
    return 0


def _earlier_rows(args: argparse.Namespace, tasks: list[Any]) -> dict[int, dict[str, Any]]:
    """The rows of ``--out`` to keep, by task index: with ``--resume``, those of runs of this very sweep
    (same problem, budgets, solver, options, seed and time limit, scored under the same device profiles) but
    failed ones (status ``error``), which run again; without, an ``--out`` that holds rows is refused."""
    held = args.out is not None and args.out.is_file() and args.out.stat().st_size > 0
    if not args.resume:
        if held and _read_rows(args.out) is None:  # another file (a design's JSON): --resume would not take it
            raise CLIError(f"--out {str(args.out)!r} is a file that holds no sweep rows, which the sweep would write "
                           "over: give another --out")
        if held:
            raise CLIError(f"--out {str(args.out)!r} holds the rows of an earlier sweep: --resume keeps them and runs "
                           "the rest, or give another --out")
        return {}
    if not held:
        raise CLIError("--resume needs the --out file of an interrupted sweep")
    rows = parse_data(read_text_bounded(args.out, "sweep rows", CLIError), "json", CLIError,
                      f"cannot read the rows in --out {str(args.out)!r}")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CLIError(f"--out {str(args.out)!r} is not a list of sweep rows: give another --out")
    runs, problems, limits = {}, {}, {}
    for task in tasks:
        problems[task.index], limits[task.index] = task.problem, task.time_limit
        solver = get_solver(task.solver, **task.solver_options)
        runs[task.index] = jsonable({"name": task.name, "budgets": task.budgets, "solver": solver.name,
                                     "options": solver.get_options(), "seed": task.seed,
                                     "problem": task.problem.to_dict()})
    kept: dict[int, dict[str, Any]] = {}
    failed: set[int] = set()
    for i, row in enumerate(rows):
        index = next((k for k, run in runs.items() if k not in kept and k not in failed
                      and all(row.get(f) == v for f, v in run.items())), None)
        if index is None:  # a failed row too: another sweep's would be written over
            raise CLIError(f"row {i} of --out {str(args.out)!r} is not a run of this sweep (another problem, budget, "
                           "solver, option or seed): resume with the same arguments, or give another --out")
        if row.get("status") == "error":  # a failed run of this sweep: run again
            failed.add(index)
            continue
        change = _profile_change(row, problems[index]) or _time_limit_change(row, limits[index])
        if change:
            raise CLIError(f"row {i} of --out {str(args.out)!r} {change}")
        damage = _row_damage(row) or _score_damage(row, problems[index])
        if damage:
            raise CLIError(f"row {i} of --out {str(args.out)!r} is damaged ({damage}): delete that row to run it "
                           "again, or give another --out")
        kept[index] = {**row, "index": index}
    return kept


def _read_rows(path: Path) -> list[Any] | None:
    """The rows a sweep's ``--out`` file holds (a JSON list of objects), or ``None`` for any other file."""
    try:
        rows = parse_data(read_text_bounded(path, "sweep rows", CLIError), "json", CLIError, "")
    except CLIError:
        return None
    return rows if isinstance(rows, list) and all(isinstance(r, dict) for r in rows) else None


def _profile_change(row: Mapping[str, Any], problem: Problem) -> str | None:
    """Why a kept row may have been scored under other device profiles than ``problem``'s now (``None``: it was
    not): a profile's path is in the problem a row matches, not what the file held when the row ran."""
    now = profile_digests(problem)
    if "profiles" not in row:
        if not now:
            return None  # nothing to compare
        cost = problem.costs[next(iter(now))].name
        return (f"records no fingerprint of its {cost} profile (written by an older mpsolve), so it may have been "
                "scored under another: give another --out to run the sweep again")
    then = row["profiles"] if isinstance(row["profiles"], Mapping) else {}
    for key, digest in now.items():
        if then.get(key) != digest:
            cost = problem.costs[key]
            where = repr(cost.profile) if isinstance(cost.profile, str) else "its in-memory profile"
            return (f"was scored under another {cost.name} profile: {where} has changed since (fingerprint "
                    f"{then.get(key)}, now {digest}): restore that profile to resume, or give another --out to run "
                    "the sweep again")
    return None


def _time_limit_change(row: Mapping[str, Any], limit: float | None) -> str | None:
    """Why a kept row ran under another time limit than ``limit`` (``None``: it did not). A row is a whole run, and
    its time limit is part of what it answers, so unlike a resumed design run (whose limit is that of the
    invocation, a run cut by it continues under the next) it is held to the sweep's, as its seed is."""
    if "time_limit" not in row:
        return ("records no time limit (written by an older mpsolve), so it may have run under another: give another "
                "--out to run the sweep again")
    then = row["time_limit"]
    if then == limit:
        return None

    def said(value: Any) -> str:
        return "no time limit" if value is None else f"a time limit of {value:g} s"

    if _time_limit_damage(then):
        return None  # _row_damage says what is wrong with it
    return (f"ran with {said(then)}, this sweep runs it with {said(limit)}: resume with --time-limit "
            f"{'inf' if then is None else f'{then:g}'}, or give another --out to run the sweep again")


def _time_limit_damage(value: Any) -> bool:
    """Whether a row's ``time_limit`` is neither ``None`` nor a positive number of seconds."""
    return value is not None and not (is_finite_number(value) and value > 0)


def _row_damage(row: Mapping[str, Any]) -> str | None:
    """What is wrong with a kept row's answer (``None`` if nothing): it is shown and kept as it is."""
    if row.get("status") not in STATUSES:
        return f"status {shown(row.get('status'))} is not one of {', '.join(STATUSES)}"
    if _time_limit_damage(row.get("time_limit")):
        return f"time_limit {shown(row.get('time_limit'))} is not a positive number of seconds or null"
    objective = row.get("objective")
    if objective is not None and not (is_finite_number(objective) or objective in (math.inf, -math.inf)):
        return f"objective {shown(objective)} is not a number"
    if row.get("architecture") is not None:
        try:
            Architecture.from_dict(row["architecture"])
        except (MpsolveError, TypeError):
            return "its architecture is not one"
    return None


def _score_damage(row: Mapping[str, Any], problem: Problem) -> str | None:
    """What is wrong with a kept row's design under the ``problem`` it ran (``None`` if nothing): re-scored, as a
    checkpoint's incumbent is, so an edited objective or cost, or a design outside the space or its constraints,
    is not shown as the run's answer."""
    if row.get("architecture") is None:
        return None
    arch = Architecture.from_dict(row["architecture"])  # _row_damage found it one
    try:
        problem.space.encode(arch)
        info = problem.evaluate_architecture(arch)
    except MpsolveError:
        return f"its architecture is not a design of space {problem.space.name!r}"
    if not info["feasible"]:
        return "its architecture violates the problem's constraints"
    objective = row.get("objective")
    if not (is_finite_number(objective) and math.isclose(objective, info["objective"], rel_tol=1e-9, abs_tol=1e-12)):
        return f"objective {objective!r} is not its architecture's {info['objective']:.10g}"
    costs = row.get("costs")
    for key, value in info["costs"].items():
        said = costs.get(key) if isinstance(costs, Mapping) else None
        if not (is_finite_number(said) and math.isclose(said, value, rel_tol=1e-9, abs_tol=1e-12)):
            return f"its {key} cost {said!r} is not its architecture's {value:.10g}"
    return None


def _show(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    names = [_objective_name(r) for r in rows]
    mixed = len(set(names)) > 1  # several problems' objectives: each value says which it is
    width = max([12, *(13 + len(n) for n in names)]) if mixed else 12
    print(f"{'problem':<16} {'budgets':<24} {'solver':<10} {'seed':>4}  {'status':<11} {'objective':>{width}}  "
          "architecture")
    for r, name in zip(rows, names):
        limits = ",".join(f"{k}={exact_quantity(v)}" for k, v in r["budgets"].items()) or "-"
        objective = "-" if r["objective"] is None else f"{r['objective']:.6g}" + (f" {name}" if mixed else "")
        arch = "-" if r["architecture"] is None else _describe(r["architecture"])
        head = f"{r['name']:<16} {limits:<24} {r['solver']:<10} {r['seed']!s:>4}"
        print(f"{head}  {r['status']:<11} {objective:>{width}}  {arch}")


def _objective_name(row: Mapping[str, Any]) -> str:
    """The name of the objective a row's problem maximises (``?`` where the row does not say)."""
    problem = row.get("problem")
    objective = problem.get("objective") if isinstance(problem, Mapping) else None
    return str(objective.get("name", "?")) if isinstance(objective, Mapping) else "?"


def _describe(arch: Mapping[str, Any]) -> str:
    blocks = arch.get("blocks", [])
    return " ".join(f"{b.get('layers')}x(E={b.get('embed_dim')},r={b.get('ffn_ratio'):g})" for b in blocks)
