"""How close each backend gets to the proved optimum, and how long the proofs take.

1. Default space at each budget: the proved optimum of the exact backends (``exact``, then
   ``cpsat``), then every other backend's objective, gap to it and wall time.
2. The 8-block space ``large8``: each exact backend's time to proof, or the gap left at the
   time limit.
3. Exhaustive enumeration of the whole default space at each budget (one after the other, so
   that designs/s is one process's speed), checked against the proved optimum.

With ``--warm-start N``, step 1 also runs CP-SAT warm-started from a quick EA run of ``N``
iterations (its design is CP-SAT's first incumbent and solution hint); the row's time is
CP-SAT's, the EA's is recorded beside it.

Usage: ``python benchmarks/optimality.py [--budgets 60G,110G,160G] [--cpsat-limit 600]
[--large8-limit 300] [--warm-start 10000] [--note "shared machine"]``; results are printed and written to
``benchmarks/results/optimality.{json,md}``. Ctrl-C stops the benchmark and writes the runs that
finished (``interrupted`` in the files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

import mpsolve  # noqa: E402

EXACT = ("exact", "cpsat")
HEURISTICS = ("ea", "nsga2", "tpe")


def _problem(space: str, budget: str, profile: str | None = None) -> mpsolve.Problem:
    """A FLOPs budget (``60G``) or, with a latency profile, a latency budget (``latency<=50``, ms)."""
    if budget.startswith("latency<="):
        return mpsolve.Problem(space, constraints=[mpsolve.Budget("latency", budget[9:], profile=profile)])
    return mpsolve.Problem(space, constraints=[mpsolve.Budget("flops", budget)])


def _row(r: mpsolve.Result, optimum: float | None) -> dict:
    gap = None if optimum is None or r.architecture is None else (optimum - r.objective) / abs(optimum)
    return {
        "solver": r.solver,
        "status": r.status,
        "objective": r.objective,
        "gap_to_optimum": gap,
        "bound": r.bound,
        "wall_time_s": r.wall_time,
        "n_evals": r.n_evals,
        "encoding": None if r.x is None else [int(v) for v in r.x],
    }


def _solve(*args: Any, **kwargs: Any) -> mpsolve.Result:
    """``mpsolve.solve``; Ctrl-C stops the benchmark (:func:`_common.finished`)."""
    return C.finished(mpsolve.solve(*args, **kwargs))


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="60G,110G,160G", type=C.quantities(),
                    help="FLOPs budgets (default 60G,110G,160G)")
    ap.add_argument("--seed", type=C.at_least(0), default=0, help="seed of the stochastic backends")
    ap.add_argument("--large8-budget", default="160G", type=C.quantity, help="FLOPs budget of the 8-block run")
    ap.add_argument("--large8-limit", type=C.positive, default=300.0, help="seconds per exact solver on large8")
    ap.add_argument("--cpsat-limit", type=C.positive, default=None,
                    help="seconds for CP-SAT per default-space budget")
    ap.add_argument("--note", default="", help="a note on the machine (e.g. shared, loaded), kept with the results")
    ap.add_argument("--warm-start", type=C.at_least(0), default=0, metavar="N",
                    help="also run CP-SAT hinted by an EA run of N iterations (default 0: no)")
    ap.add_argument("--skip-exhaustive", action="store_true", help="skip enumerating the default space")
    ap.add_argument("--skip-large8", action="store_true", help="skip the 8-block space")
    ap.add_argument("--latency-profile", default=None, help="a latency profile JSON: adds latency budgets")
    ap.add_argument("--latency-budgets", default=[], type=C.positives,
                    help="latency budgets in ms, e.g. 50,130 (with a profile)")
    ap.add_argument("--workers", type=C.at_least(1), default=None,
                    help="CP-SAT workers (default: CPU count, at most 8)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "optimality"), type=C.output_stem,
                    help="output stem (.json and .md are added)")
    args = ap.parse_args(argv)
    if bool(args.latency_budgets) != bool(args.latency_profile):
        ap.error("--latency-budgets and --latency-profile go together: the budgets in ms and the device profile "
                 "they are measured on")
    out = Path(args.out)
    C.check_outputs({"--out (.json)": out.with_suffix(".json"), "--out (.md)": out.with_suffix(".md")},
                    {"--latency-profile": args.latency_profile})
    budgets = list(args.budgets) + [f"latency<={b}" for b in args.latency_budgets]
    for b in budgets:  # a bad profile or an impossible budget stops here, not after the other budgets' runs
        _problem("default", b, args.latency_profile).check_feasible()
    if not args.skip_large8:
        _problem("large8", args.large8_budget).check_feasible()
    report: dict = {"command": C.command_line("optimality.py", argv), "git_commit": C.git_commit(),
                    "entropy_options": mpsolve.MeRinoEntropy().options(), "default": {}, "large8": None,
                    "exhaustive": {}, "note": args.note}
    try:
        _measure(args, budgets, report)
    except KeyboardInterrupt:
        report["interrupted"] = "Ctrl-C: the runs that finished before it are kept"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(_markdown(report))
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    if "interrupted" in report:
        print("interrupted: the files hold the runs that finished", file=sys.stderr)
        return 130
    return 0


def _measure(args: argparse.Namespace, budgets: list[str], report: dict) -> None:
    """The three parts (see the module docstring), each run recorded in ``report`` as it finishes."""
    print("== default space: every backend against the proved optimum ==")
    print(f"{'budget':>7} {'solver':>10} {'status':>9} {'objective':>14} {'gap':>10} {'time s':>8} {'evals':>9}")
    for b in budgets:
        problem = _problem("default", b, args.latency_profile)
        proved = [
            _solve(problem, "exact", seed=args.seed),
            _solve(problem, "cpsat", seed=args.seed, workers=args.workers, time_limit=args.cpsat_limit),
        ]
        optimum = next((r.objective for r in proved if r.status == "optimal"), None)
        rows = report["default"][b] = [_row(r, optimum) for r in proved]  # filled as its runs finish
        if args.warm_start:
            quick = _solve(problem, "ea", seed=args.seed, iterations=args.warm_start)
            warm = _solve(problem, "cpsat", seed=args.seed, workers=args.workers, time_limit=args.cpsat_limit,
                          hint=quick)
            rows.append({**_row(warm, optimum), "solver": f"cpsat+ea{args.warm_start}",
                         "hint_objective": quick.objective, "hint_wall_time_s": quick.wall_time})
        for s in HEURISTICS:
            rows.append(_row(_solve(problem, s, seed=args.seed), optimum))
        for r in rows:
            gap = "-" if r["gap_to_optimum"] is None else f"{100 * r['gap_to_optimum']:.3f}%"
            print(
                f"{b:>7} {r['solver']:>10} {r['status']:>9} {r['objective']:>14.6f} {gap:>10} "
                f"{r['wall_time_s']:>8.2f} {r['n_evals']:>9}"
            )

    report["large8"] = []
    if not args.skip_large8:
        print(f"\n== large8 ({mpsolve.get_space('large8').size():.3g} designs), flops <= {args.large8_budget} ==")
    for solver in () if args.skip_large8 else EXACT:
        options = {"workers": args.workers} if solver == "cpsat" else {}
        big = _solve(
            _problem("large8", args.large8_budget), solver, seed=args.seed, time_limit=args.large8_limit, **options
        )
        report["large8"].append({**_row(big, None), "gap": big.gap, "time_limit_s": args.large8_limit})
        if big.status == "optimal":
            print(f"{solver}: proved optimal in {big.wall_time:.1f} s: objective {big.objective:.6f}")
        else:
            gap = "unknown" if big.gap is None else f"{100 * big.gap:.3f}%"
            print(
                f"{solver}: not proved within {args.large8_limit:.0f} s: objective {big.objective:.6f}, "
                f"bound {big.bound}, gap {gap}"
            )

    if not args.skip_exhaustive:
        print("\n== exhaustive enumeration of the default space (one budget after the other) ==")
        for b in budgets:
            r = _row(_solve(_problem("default", b, args.latency_profile), "exhaustive"), None)
            ref = report["default"][b][0]
            r["agrees_with_exact"] = abs(r["objective"] - ref["objective"]) <= 1e-9 * abs(ref["objective"])
            r["designs_per_s"] = r["n_evals"] / r["wall_time_s"]
            report["exhaustive"][b] = r
            print(
                f"{b:>7} exhaustive objective {r['objective']:.6f} over {r['n_evals']:,} designs in "
                f"{r['wall_time_s']:.1f} s ({r['designs_per_s']:.3g} designs/s); exact {ref['objective']:.6f}: "
                f"{'agree' if r['agrees_with_exact'] else 'DISAGREE'}"
            )


def _markdown(report: dict) -> str:
    lines = ["# Optimality benchmark", "", C.provenance(report).rstrip("\n"), ""]
    if report.get("note"):
        lines += [f"Machine: {report['note']}", ""]
    if report.get("interrupted"):
        lines += [f"**Interrupted** ({report['interrupted']}).", ""]
    lines += ["| budget | solver | status | objective | gap to the optimum | wall s |", "|---|---|---|---|---|---|"]
    for b, rows in report["default"].items():
        for r in rows:
            gap = "-" if r["gap_to_optimum"] is None else f"{100 * r['gap_to_optimum']:.3f}%"
            wall = f"{r['wall_time_s']:.2f}"
            if "hint_wall_time_s" in r:
                wall += f" (+ EA {r['hint_wall_time_s']:.2f}, its objective {r['hint_objective']:.6f})"
            lines.append(
                f"| {b} | {r['solver']} | {r['status']} | {r['objective']:.6f} | {gap} | {wall} |"
            )
    if report["large8"]:
        lines.append("")
    for big in report["large8"] or []:
        gap = "-" if big["gap"] is None else f"{100 * big['gap']:.3f}%"
        lines.append(
            f"- large8, {big['solver']}: status {big['status']}, objective {big['objective']:.6f}, gap {gap}, "
            f"{big['wall_time_s']:.1f} s (limit {big['time_limit_s']:.0f} s)"
        )
    if report["exhaustive"]:
        lines.append("")
    for b, r in report["exhaustive"].items():
        lines.append(
            f"- exhaustive {b}: {r['objective']:.6f} over {r['n_evals']:,} designs in {r['wall_time_s']:.1f} s "
            f"({r['designs_per_s']:.3g} designs/s), agrees with exact: {r['agrees_with_exact']}"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
