"""Every backend on the same problems: objective, gap to the proved optimum, time, evaluations,
and the hypervolume of each backend's front over the FLOPs budgets.

The sweep is backends x budgets x seeds (deterministic backends run once per budget) on one
space, FLOPs budgets plus, with ``--latency-profile``, latency budgets. Runs go through
``concurrent.futures`` (``--jobs``; ``--jobs 1`` runs them in this process). The per-budget
answers of one backend and seed over the FLOPs budgets form a :class:`mpsolve.ParetoFront`;
every front is scored by pymoo's hypervolume against the same reference point, objective 0
and the largest FLOPs budget. Writes ``benchmarks/results/solvers.{json,md}`` and a
convergence plot (best-so-far objective against time, from each result's history)
``solvers_convergence.png``. On Ctrl-C the runs that finished are written (``interrupted`` in
the files says how many), with the fronts of the backends and seeds whose budgets all finished.

Usage: ``python benchmarks/solvers.py [--budgets 60G,110G,160G] [--seeds 0,1,2]
[--solvers ea,nsga2,tpe,exact,cpsat] [--time-limit S] [--option tpe:n_trials=200]
[--latency-profile device.json --latency-budgets 40,80]``
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

import mpsolve  # noqa: E402
from mpsolve.cli.parsing import parse_options  # noqa: E402
from mpsolve.workflows.pareto import ParetoFront, budget_point  # noqa: E402
from mpsolve.workflows.sweep import SweepInterrupted, SweepTask, run_sweep  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _budget(spec: tuple[str, str, str | None]) -> mpsolve.Budget:
    cost, limit, profile = spec
    return mpsolve.Budget(cost, limit, profile=profile) if cost == "latency" else mpsolve.Budget(cost, limit)


def summary(row: dict[str, Any], budget: tuple[str, str, str | None], space: str) -> dict[str, Any]:
    """The benchmark's row of one sweep row (a ``Result.to_dict()``)."""
    return {
        "space": space,
        "budget": list(budget),
        "solver": row["solver"],
        "seed": row["seed"],
        "status": row["status"],
        "objective": row["objective"],
        "bound": row["bound"],
        "gap": row["gap"],
        "costs": row["costs"],
        "wall_time_s": row["wall_time_s"],
        "n_evals": row["n_evals"],
        "history": [list(h) for h in row["history"]],
        "encoding": row["encoding"],
    }


def flops_fronts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One front per backend and seed over the FLOPs budgets of the sweep ``rows`` (each a
    ``Result.to_dict()`` with the swept ``budgets``), scored against one reference point."""
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if "flops" in r["budgets"]:
            runs.setdefault((r["solver"], r["seed"]), []).append(r)
    if not runs:
        return []
    reference = (0.0, max(r["budgets"]["flops"] for rs in runs.values() for r in rs))
    out = []
    for (solver, seed), rs in runs.items():
        points = [_point(r, solver) for r in sorted(rs, key=lambda r: r["budgets"]["flops"])]
        front = ParetoFront("flops", solver, points, reference_point=reference)
        out.append({
            "solver": solver,
            "seed": seed,
            "budgets": [p["budget"] for p in points],
            "reference_point": {"objective": reference[0], "flops": reference[1]},
            "hypervolume": front.hypervolume,
            "certified": front.certified,
            "proved": sum(p["proved"] for p in points),
            "wall_time_s": sum(r["wall_time_s"] for r in rs),
        })
    return out


def _point(row: dict[str, Any], solver: str) -> dict[str, Any]:
    """A sweep row's point of a front: an infeasible row (with its error) is a budget proved infeasible before
    solving; a failed one (status ``error``) proves nothing, as a failed budget of ``mpsolve.pareto``."""
    budget = row["budgets"]["flops"]
    if row["status"] == "error":
        return {**budget_point(budget, None, "flops", solver), "status": "error", "proved": False,
                "error": row["error"]}
    return budget_point(budget, None if "error" in row else row, "flops", solver)


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="default", help="search-space preset (default: default)")
    ap.add_argument("--budgets", default="60G,110G,160G", type=C.quantities(),
                    help="FLOPs budgets (default 60G,110G,160G)")
    ap.add_argument("--seeds", default="0,1,2", type=C.seeds, help="seeds of the stochastic backends (default 0,1,2)")
    ap.add_argument("--solvers", default="ea,nsga2,tpe,exact,cpsat", type=C.names("backend", "ea,exact"),
                    help="backends (default ea,nsga2,tpe,exact,cpsat)")
    ap.add_argument("--time-limit", type=C.positive, default=None, help="seconds per run (default: none)")
    ap.add_argument("--option", action="append", default=[], metavar="SOLVER:KEY=VALUE",
                    help="a backend option, e.g. tpe:n_trials=200 (repeatable)")
    ap.add_argument("--latency-profile", default=None, help="a latency profile JSON: adds latency budgets")
    ap.add_argument("--latency-budgets", default=[], type=C.positives,
                    help="latency budgets in ms, e.g. 40,80 (with a profile)")
    ap.add_argument("--jobs", type=C.at_least(1), default=2, help="parallel runs (default 2; 1 runs in this process)")
    ap.add_argument("--out", default=str(RESULTS / "solvers"), type=C.output_stem,
                    help="output stem (default benchmarks/results/solvers)")
    args = ap.parse_args(argv)
    if bool(args.latency_budgets) != bool(args.latency_profile):
        ap.error("--latency-budgets and --latency-profile go together: the budgets in ms and the device profile "
                 "they are measured on")
    given = (("--seeds", args.seeds, int), ("--budgets", args.budgets, C.parse_count),
             ("--latency-budgets", args.latency_budgets, float))  # numbers: 60G and 60000M are one budget
    for flag, values, key in given:
        seen: dict[Any, Any] = {}  # a value given twice would run the same runs twice, counted twice in a front
        for v in values:
            if key(v) in seen:
                again = "" if seen[key(v)] == v else f" (as {seen[key(v)]!r})"
                ap.error(f"{flag}: {v!r} is given twice{again}: its runs would repeat; give each once")
            seen[key(v)] = v
    out = Path(args.out)
    C.check_outputs({"--out (.json)": out.with_suffix(".json"), "--out (.md)": out.with_suffix(".md"),
                     "--out (plot)": out.parent / f"{out.name}_convergence.png"},
                    {"--latency-profile": args.latency_profile})

    budgets: list[tuple[str, str, str | None]] = [("flops", b, None) for b in args.budgets]
    budgets += [("latency", b, args.latency_profile) for b in args.latency_budgets]
    seeds = args.seeds
    solvers = args.solvers
    options: dict[str, list[str]] = {s: [] for s in solvers}
    for spec in args.option:
        name, _, pair = spec.partition(":")
        if name not in options or not pair:
            ap.error(f"--option {spec!r}: write SOLVER:KEY=VALUE with SOLVER one of {solvers}")
        options[name].append(pair)
    solver_options = {s: parse_options(pairs) for s, pairs in options.items()}
    # the library's sweep runs the grid (deterministic backends once per budget)
    space = mpsolve.get_space(args.space)
    tasks, labels = [], []
    for b in budgets:
        problem = mpsolve.Problem(space, constraints=[_budget(b)])
        for s in solvers:
            stochastic = mpsolve.get_solver(s, **solver_options[s]).stochastic  # bad options fail before any run
            for seed in seeds if stochastic else seeds[:1]:
                limit = {b[0]: C.parse_count(b[1]) if b[0] != "latency" else float(b[1])}
                tasks.append(SweepTask(len(tasks), args.space, problem, limit, s, solver_options[s], seed,
                                       args.time_limit))
                labels.append(b)
    interrupted = None
    try:
        raw = run_sweep(tasks, f"process:{args.jobs}" if args.jobs > 1 else "local")
    except SweepInterrupted as exc:  # the finished runs are written; a front only of a backend and seed complete
        raw, interrupted = exc.rows, f"{len(exc.rows)} of {exc.total} runs finished (Ctrl-C)"
    run_of = [(t.solver, t.seed) for t in tasks]
    planned = Counter(run_of[t.index] for t in tasks if "flops" in t.budgets)
    finished = Counter(run_of[r["index"]] for r in raw if "flops" in r["budgets"])
    fronts = flops_fronts([r for r in raw if finished[run_of[r["index"]]] == planned[run_of[r["index"]]]])
    rows = [summary(row, labels[row["index"]], args.space) for row in raw]

    optimum = {tuple(r["budget"][:2]): r["objective"] for r in rows if r["status"] == "optimal"}
    for r in rows:
        best = optimum.get(tuple(r["budget"][:2]))
        failed = best is None or r["objective"] is None  # no optimum proved, or no design (a failed run)
        r["gap_to_optimum"] = None if failed else (best - r["objective"]) / abs(best)

    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"command": C.command_line("solvers.py", argv), "git_commit": C.git_commit(),
            "entropy_options": mpsolve.MeRinoEntropy().options()}
    if interrupted is not None:
        meta["interrupted"] = interrupted
    out.with_suffix(".json").write_text(json.dumps({**meta, "runs": rows, "fronts": fronts}, indent=1) + "\n")
    table = _front_markdown(fronts) + "\n" + _markdown(rows)
    if interrupted is not None:
        table = (f"**Interrupted**: {interrupted}; fronts only of the backends and seeds whose budgets all "
                 f"finished.\n\n{table}")
    out.with_suffix(".md").write_text(C.provenance(meta) + table)
    print(table)
    _plot(rows, out.parent / f"{out.name}_convergence.png")
    print(f"wrote {out.with_suffix('.json')}, {out.with_suffix('.md')}, {out.parent / f'{out.name}_convergence.png'}")
    if interrupted is not None:
        print(f"interrupted: {interrupted}; the files hold those runs", file=sys.stderr)
        return 130
    return 0


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| budget | solver | seed | status | objective | gap to proved optimum | wall s | evaluations |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gap = "-" if r["gap_to_optimum"] is None else f"{100 * r['gap_to_optimum']:.3f}%"
        objective = "-" if r["objective"] is None else f"{r['objective']:.6f}"
        lines.append(
            f"| {r['budget'][0]}<={r['budget'][1]} | {r['solver']} | {r['seed']} | {r['status']} | "
            f"{objective} | {gap} | {r['wall_time_s']:.2f} | {r['n_evals']} |"
        )
    return "\n".join(lines) + "\n"


def _front_markdown(fronts: list[dict[str, Any]]) -> str:
    """Hypervolume per backend (over its seeds) of the FLOPs front, and its gap to the best
    certified front's (negative: more area than the certified front; none when that front has no
    area, every budget below the cheapest design)."""
    if not fronts:
        return ""
    ref = fronts[0]["reference_point"]
    certified = [f["hypervolume"] for f in fronts if f["certified"]]
    best = max(certified) if certified else None
    lines = [
        f"Fronts over {len(fronts[0]['budgets'])} FLOPs budgets; hypervolume (pymoo HV of (-objective, "
        f"FLOPs / {ref['flops']:.4g})) against the reference point objective {ref['objective']:g}, "
        f"FLOPs {ref['flops']:.4g}: the mean over budgets up to {ref['flops']:.4g} of the best objective "
        "within the budget.",
        "",
        "| solver | seeds | hypervolume (min-max over seeds) | vs certified front | certified | points proved "
        "| wall s per front |",
        "|---|---|---|---|---|---|---|",
    ]
    for solver in dict.fromkeys(f["solver"] for f in fronts):
        fs = [f for f in fronts if f["solver"] == solver]
        hv = [f["hypervolume"] for f in fs]
        span = f"{min(hv):.2f}" if len(hv) == 1 else f"{min(hv):.2f}-{max(hv):.2f}"
        rel = "-" if not best else ", ".join(sorted({f"{100 * (h - best) / best:+.3f}%" for h in hv}))
        proved = ", ".join(sorted({f"{f['proved']}/{len(f['budgets'])}" for f in fs}))
        cert = "yes" if all(f["certified"] for f in fs) else "no"
        wall = [f["wall_time_s"] for f in fs]
        lines.append(
            f"| {solver} | {len(fs)} | {span} | {rel} | {cert} | {proved} | {min(wall):.1f}-{max(wall):.1f} |"
        )
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = list(dict.fromkeys(tuple(r["budget"][:2]) for r in rows))
    solvers = list(dict.fromkeys(r["solver"] for r in rows))
    colours = {s: f"C{i}" for i, s in enumerate(solvers)}
    fig, axes = plt.subplots(1, len(budgets), figsize=(5 * len(budgets), 4), squeeze=False)
    for ax, b in zip(axes[0], budgets):
        for r in rows:
            if tuple(r["budget"][:2]) != b or not r["history"]:
                continue
            t = [max(h[0], 1e-3) for h in r["history"]] + [max(r["wall_time_s"], 1e-3)]
            f = [h[2] for h in r["history"]] + [r["history"][-1][2]]
            label = (
                r["solver"] if r["seed"] == rows[0]["seed"] or not mpsolve.get_solver(r["solver"]).stochastic else None
            )
            ax.step(t, f, where="post", color=colours[r["solver"]], alpha=0.8, label=label)
        ax.set_xscale("log")
        ax.set_title(f"{b[0]} <= {b[1]}")
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("best feasible objective")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a budget no design meets has no history: no legend
            ax.legend(fontsize=8, loc="lower right")  # below the best objectives reached: no search
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
