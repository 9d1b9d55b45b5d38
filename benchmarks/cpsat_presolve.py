"""Does CP-SAT's presolve change what ``cpsat`` proves, and how fast?

1. Random small custom spaces (1-3 blocks, widths, ratios and depths drawn from a seed, a params
   budget between 40 M and 80 M): ``cpsat`` with and without CP-SAT's presolve against
   ``exhaustive``; a run is *wrong* when it says ``optimal`` below the enumerated optimum.
2. The default space at FLOPs budgets: time to proof with and without presolve.

``cpsat`` runs without presolve (see ``CPSATSolver._parameters``); the variant with presolve is a
subclass that turns it back on.

Usage: ``python benchmarks/cpsat_presolve.py [--cases 2000] [--seed 11] [--budgets 60G,160G]
[--limit 300] [--note "idle machine"]``; results are printed and written to
``benchmarks/results/cpsat_presolve.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

import mpsolve  # noqa: E402
from mpsolve.solvers._cpsat import CPSATSolver  # noqa: E402


class PresolvedCPSAT(CPSATSolver):
    """``cpsat`` with CP-SAT's presolve on (OR-Tools' default)."""

    name = "cpsat-presolve"

    def _parameters(self, ctx: Any, params: Any) -> None:
        super()._parameters(ctx, params)
        params.cp_model_presolve = True


def random_problem(rng: np.random.Generator) -> mpsolve.Problem:
    widths = sorted({int(x) * 64 for x in rng.integers(1, 9, size=rng.integers(1, 4))})
    ratios = sorted({float(x) for x in rng.choice([1.0, 1.5, 2.0, 3.0, 4.0], size=rng.integers(1, 3))})
    layers = sorted({int(x) for x in rng.integers(1, 5, size=rng.integers(1, 3))})
    space = mpsolve.SearchSpace(int(rng.integers(1, 4)), widths, ratios, layers)
    return mpsolve.Problem(space, constraints=[mpsolve.Budget("params", float(rng.uniform(40e6, 80e6)))])


def small_spaces(cases: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    solvers = {"without presolve": CPSATSolver(), "with presolve": PresolvedCPSAT()}
    out: dict[str, Any] = {name: {"wrong": [], "seconds": 0.0} for name in solvers}
    feasible = 0
    for _ in range(cases):
        problem = random_problem(rng)
        try:
            truth = C.finished(mpsolve.solve(problem, "exhaustive"))  # Ctrl-C stops: no half a truth
        except mpsolve.InfeasibleError:
            continue
        feasible += 1
        for name, solver in solvers.items():
            start = time.perf_counter()
            r = C.finished(solver.solve(problem, seed=0))
            out[name]["seconds"] += time.perf_counter() - start
            if r.status == "optimal" and r.objective < truth.objective * (1 - 1e-9):
                out[name]["wrong"].append({"space": problem.space.to_dict(), "params": problem.constraints[0].limit,
                                           "optimum": truth.objective, "claimed": r.objective})
    return {"cases": cases, "feasible": feasible, **out}


def default_problems(budgets: list[str]) -> dict[str, mpsolve.Problem]:
    """The default space under each FLOPs budget (an infeasible budget is refused before any work)."""
    problems = {b: mpsolve.Problem("default", constraints=[mpsolve.Budget("flops", b)]) for b in budgets}
    for problem in problems.values():
        problem.check_feasible()
    return problems


def default_space(problems: dict[str, mpsolve.Problem], limit: float) -> list[dict[str, Any]]:
    rows = []
    for budget, problem in problems.items():
        for name, solver in (("without presolve", CPSATSolver()), ("with presolve", PresolvedCPSAT())):
            r = C.finished(solver.solve(problem, seed=0, time_limit=limit))
            rows.append({"budget": budget, "presolve": name, "status": r.status, "objective": r.objective,
                         "bound": r.bound, "wall_time_s": r.wall_time})
            print(rows[-1], flush=True)
    return rows


def render(results: dict[str, Any]) -> str:
    small = results["small_spaces"]
    lines = [
        "# CP-SAT presolve: correctness and speed of `cpsat`\n",
        f"Command: `{results['command']}` (commit {results['git_commit'][:10]}). OR-Tools {results['ortools']}.",
        f"{results['note']}\n" if results["note"] else "",
        f"## {small['cases']} random custom spaces (seed {results['seed']}), {small['feasible']} feasible\n",
        "A run is wrong when it reports `optimal` below the optimum `exhaustive` enumerates.\n",
        "| cpsat | wrong 'optimal' | total cpsat time s |",
        "|---|---|---|",
    ]
    for name in ("without presolve", "with presolve"):
        lines.append(f"| {name} | {len(small[name]['wrong'])} | {small[name]['seconds']:.1f} |")
    lines += ["", f"## Default space, time to proof (limit {results['limit']:g} s)\n",
              "| FLOPs budget | cpsat | status | objective | wall s |", "|---|---|---|---|---|"]
    for row in results["default_space"]:
        lines.append(f"| {row['budget']} | {row['presolve']} | {row['status']} | {row['objective']:.6f} | "
                     f"{row['wall_time_s']:.1f} |")
    wrong = small["with presolve"]["wrong"]
    if wrong:
        lines += ["", "Wrong results with presolve (space, params budget, optimum, claimed):", ""]
        lines += [f"- {w['space']}, {w['params']:.6g}: {w['optimum']:.4f} vs {w['claimed']:.4f}" for w in wrong]
    return "\n".join(lines) + "\n"


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=C.at_least(1), default=2000, help="random custom spaces (default 2000)")
    ap.add_argument("--seed", type=C.at_least(0), default=11, help="seed of the random spaces")
    ap.add_argument("--budgets", default="60G,160G", type=C.quantities(none_ok=True),
                    help="default-space FLOPs budgets ('' for none)")
    ap.add_argument("--limit", type=C.positive, default=300.0, help="time limit of each default-space solve, s")
    ap.add_argument("--note", default="", help="a line about the machine, recorded with the results")
    ap.add_argument("--out", type=Path, default=None,
                    help="results JSON (default: beside --md, else benchmarks/results/cpsat_presolve.json)")
    ap.add_argument("--md", type=Path, default=None, help="report (default: beside --out, else in benchmarks/results)")
    args = ap.parse_args(argv)
    # one file sent elsewhere takes the other with it: never one half of the committed pair replaced
    args.out = args.out or (args.md.with_suffix(".json") if args.md else C.RESULTS / "cpsat_presolve.json")
    args.md = args.md or args.out.with_suffix(".md")
    C.check_outputs({"--out": args.out, "--md": args.md})
    problems = default_problems(args.budgets)
    from ortools import __version__ as ortools_version

    results: dict[str, Any] = {"command": C.command_line("cpsat_presolve.py", argv), "git_commit": C.git_commit(),
                               "ortools": ortools_version, "note": args.note, "seed": args.seed, "limit": args.limit}
    results["small_spaces"] = small_spaces(args.cases, args.seed)
    for name in ("without presolve", "with presolve"):
        print(f"{name}: {len(results['small_spaces'][name]['wrong'])} wrong 'optimal'", flush=True)
    results["default_space"] = default_space(problems, args.limit)
    C.write_report(results, args.out, args.md, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
