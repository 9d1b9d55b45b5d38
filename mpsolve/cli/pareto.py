"""``mpsolve pareto``: the objective-vs-cost front across budgets, printed, as CSV or as a figure."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from mpsolve.cli.parsing import (
    PROFILED_COSTS,
    CLIError,
    check_outputs,
    check_time_limit_flag,
    print_json,
    profile_for,
    split_list,
)
from mpsolve.core.front import check_reference_point
from mpsolve.core.problem import Problem
from mpsolve.costs import CostModel, get_cost
from mpsolve.solvers import get_solver
from mpsolve.spaces import SPACES, Architecture, load_space
from mpsolve.utils.files import check_not_input, check_writable
from mpsolve.utils.quantities import format_quantity, parse_quantity
from mpsolve.utils.random import DEFAULT_SEED
from mpsolve.utils.validation import first_repeat
from mpsolve.workflows.pareto import ParetoFront, check_figure_path, pareto, plot_fronts, write_csv
from mpsolve.workflows.sweep import FailedRunsWarning, failed_runs

__all__ = ["add_subcommands", "cmd_pareto"]


def add_subcommands(subparsers: Any) -> None:
    """Add ``pareto`` to the main CLI's subparsers."""
    p = subparsers.add_parser(
        "pareto",
        help="entropy-vs-cost front across budgets",
        description="Solve once per budget on one cost and print the front (objective against cost), "
        "whether it is certified (every point proved) and its hypervolume against a reference point.",
    )
    p.add_argument(
        "--over", default="flops", help="budgeted cost: flops, params, memory, latency_ms, decode_ms (default: flops)"
    )
    p.add_argument("--latency-profile", default=None, metavar="FILE", help="prefill device profile (--over latency_ms)")
    p.add_argument("--decode-profile", default=None, metavar="FILE", help="decode device profile (--over decode_ms)")
    p.add_argument("--budgets", required=True, help="comma-separated budgets with units, e.g. 40G,60G,110G,160G")
    p.add_argument("--solver", default="cpsat", help="backend, or several comma-separated (default: cpsat)")
    p.add_argument("--space", default="default", help=f"preset ({', '.join(SPACES)}; default: default) or a TOML file")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of every solve (default {DEFAULT_SEED})")
    p.add_argument("--time-limit", type=float, default=None, help="seconds per solve")
    p.add_argument(
        "--reference",
        metavar="OBJECTIVE,COST",
        default=None,
        help="hypervolume reference point, e.g. 0,200G (default: objective 0 and the largest budget)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--csv", metavar="FILE", default=None, help="write the front(s) as CSV")
    p.add_argument(
        "--plot", metavar="FILE", default=None, help="write a figure of the front(s) (format from the suffix)"
    )
    p.set_defaults(func=cmd_pareto, result_files=("--csv", "--plot"))


def cmd_pareto(args: argparse.Namespace) -> int:
    check_time_limit_flag(args.time_limit)
    budgets = split_list(args.budgets, "--budgets")
    for b in budgets:
        parse_quantity(b)
    reference = None if args.reference is None else check_reference_point(split_list(args.reference, "--reference"))
    for path, what in ((args.csv, "--csv"), (args.plot, "--plot")):
        if path is not None:  # an empty name is refused, not taken for no file
            check_writable(path, what)
    if args.plot is not None:
        check_figure_path(args.plot, "--plot")
    if args.csv is not None and args.plot is not None:
        check_not_input(args.plot, "--plot", {"the --csv file": args.csv}, CLIError)
    check_outputs({"--csv": args.csv, "--plot": args.plot}, {"--space": args.space,
                  "--latency-profile": args.latency_profile, "--decode-profile": args.decode_profile})
    problem = Problem(load_space(args.space))
    solvers = split_list(args.solver, "--solver")
    repeated = first_repeat(solvers)
    if repeated is not None:  # its front would be solved and shown twice
        raise CLIError(f"--solver {repeated} is given twice: its front would repeat the same answers; give each solver "
                       "once")
    for s in solvers:  # every name before the first front
        get_solver(s)
    over: str | CostModel = args.over
    used = PROFILED_COSTS.get(args.over, (None,))[0]
    for flag, value, cost in (("--latency-profile", args.latency_profile, "latency_ms"),
                              ("--decode-profile", args.decode_profile, "decode_ms")):
        if value is not None and flag != used:
            print(f"note: {flag} is unused unless --over {cost}", file=sys.stderr)
    if args.over in PROFILED_COSTS:
        over = get_cost(args.over, profile=profile_for(args.over, args.latency_profile, args.decode_profile))
    fronts = []
    for s in solvers:
        with warnings.catch_warnings():  # said below, after the front, with the exit status
            warnings.simplefilter("ignore", FailedRunsWarning)
            fronts.append(pareto(problem, over, budgets, s, seed=args.seed, time_limit=args.time_limit,
                                 reference_point=reference))
        if fronts[-1].points[-1]["status"] == "interrupted":  # Ctrl-C: report what was solved, exit 130
            break
    failed = failed_runs([p for fr in fronts for p in fr.points], "budgets", "points",
                         lambda p: f"budget {_amount(p['budget'], fronts[0].cost)} with {p['solver']}")
    code = 130 if fronts[-1].points[-1]["status"] == "interrupted" else 1 if failed else 0
    if code == 130:
        stop = _amount(fronts[-1].points[-1]["budget"], fronts[-1].cost)
        print(f"mpsolve: interrupted: the front stops at budget {stop} "
              f"({fronts[-1].solver}); the points so far follow", file=sys.stderr)
    _show(fronts, args.json)  # before the files: a file that cannot be written keeps the front shown
    if args.csv is not None:
        write_csv(fronts, args.csv)
    if args.plot is not None:  # the published models are scored on the front's own cost (a latency profile's)
        plot_fronts(fronts, args.plot, problem)
    if failed and code == 1:
        print(f"mpsolve: error: {failed}", file=sys.stderr)
    return code


def _show(fronts: list[ParetoFront], as_json: bool) -> None:
    if as_json:
        print_json(fronts[0].to_dict() if len(fronts) == 1 else {"fronts": [fr.to_dict() for fr in fronts]})
        return
    for fr in fronts:
        print(f"{fr.solver}: objective vs {fr.over}")
        print(f"  {'budget':>12} {'status':>11} {'objective':>14} {fr.over:>12} {'gap':>8}  design")
        for p in fr.points:
            design = "-" if p["architecture"] is None else str(Architecture.from_dict(p["architecture"]))
            obj = "-" if p["objective"] is None else f"{p['objective']:.6g}"
            cost = "-" if p["cost"] is None else _amount(p["cost"], fr.cost)
            gap = "-" if p["gap"] is None else f"{100 * p['gap']:.3g}%"
            print(f"  {_amount(p['budget'], fr.cost):>12} {p['status']:>11} {obj:>14} {cost:>12} {gap:>8}  {design}")
        ref_objective, ref_cost = fr.reference_point
        proved = sum(p["proved"] for p in fr.points)
        print(f"  certified: {'yes' if fr.certified else 'no'} ({proved} of {len(fr.points)} points proved)")
        print(
            f"  hypervolume {fr.hypervolume:.6g} against reference point objective={ref_objective:g}, "
            f"{fr.over}={_amount(ref_cost, fr.cost)} ({fr.over} axis in units of {_amount(ref_cost, fr.cost)})"
        )


def _amount(value: float, cost: CostModel | None) -> str:
    """A budget or cost as people write it: ``60G`` FLOPs, ``12.5 ms`` (no SI prefix on milliseconds)."""
    return f"{value:.6g} ms" if cost is not None and cost.unit == "ms" else format_quantity(value)
