"""Every backend on the same problems: objective, gap to CP-SAT's optimum, time, evaluations.

The sweep is backends x budgets x seeds (deterministic backends run once per budget) on one
space, FLOPs budgets plus, with ``--latency-profile``, latency budgets. Runs go through
``concurrent.futures`` (``--jobs``; ``--jobs 1`` runs them in this process). Writes
``benchmarks/results/solvers.{json,md}`` and a convergence plot (best-so-far objective
against time, from each result's history) ``solvers_convergence.png``.

Usage: ``python benchmarks/solvers.py [--budgets 60G,110G,160G] [--seeds 0,1,2]
[--solvers ea,nsga2,tpe,cpsat] [--latency-profile device.json --latency-budgets 40,80]``
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
from mpsolve.workflows.sweep import SweepTask, run_sweep  # noqa: E402

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
        "wall_time_s": row["wall_time_s"],
        "n_evals": row["n_evals"],
        "history": [list(h) for h in row["history"]],
        "encoding": row["encoding"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="default", help="search-space preset (default: default)")
    ap.add_argument("--budgets", default="60G,110G,160G", help="FLOPs budgets (default 60G,110G,160G)")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the stochastic backends (default 0,1,2)")
    ap.add_argument("--solvers", default="ea,nsga2,tpe,cpsat", help="backends (default ea,nsga2,tpe,cpsat)")
    ap.add_argument("--latency-profile", default=None, help="a latency profile JSON: adds latency budgets")
    ap.add_argument("--latency-budgets", default="", help="latency budgets in ms, e.g. 40,80 (with a profile)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel runs (default 2; 1 runs in this process)")
    ap.add_argument("--out", default=str(RESULTS / "solvers"), help="output stem (default benchmarks/results/solvers)")
    args = ap.parse_args(argv)

    budgets: list[tuple[str, str, str | None]] = [("flops", b.strip(), None) for b in args.budgets.split(",") if b]
    if args.latency_profile:
        lat = [b.strip() for b in args.latency_budgets.split(",") if b.strip()]
        if not lat:
            ap.error("--latency-profile needs --latency-budgets, e.g. 40,80 (milliseconds)")
        budgets += [("latency", b, args.latency_profile) for b in lat]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    # the library's sweep runs the grid (deterministic backends once per budget)
    space = mpsolve.get_space(args.space)
    tasks, labels = [], []
    for b in budgets:
        problem = mpsolve.Problem(space, constraints=[_budget(b)])
        for s in solvers:
            stochastic = mpsolve.get_solver(s).stochastic
            for seed in seeds if stochastic else seeds[:1]:
                tasks.append(SweepTask(len(tasks), args.space, problem, {b[0]: C.parse_count(b[1]) if b[0] != "latency"
                                                                          else float(b[1])}, s, {}, seed))
                labels.append(b)
    rows = [summary(row, b, args.space)
            for row, b in zip(run_sweep(tasks, f"process:{args.jobs}" if args.jobs > 1 else "local"), labels)]

    optimum = {
        tuple(r["budget"][:2]): r["objective"] for r in rows if r["solver"] == "cpsat" and r["status"] == "optimal"
    }
    for r in rows:
        best = optimum.get(tuple(r["budget"][:2]))
        r["gap_to_cpsat"] = None if best is None else (best - r["objective"]) / abs(best)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"command": C.command_line("solvers.py", argv), "git_commit": C.git_commit(),
            "entropy_options": mpsolve.MeRinoEntropy().options()}
    out.with_suffix(".json").write_text(json.dumps({**meta, "runs": rows}, indent=1) + "\n")
    table = _markdown(rows)
    out.with_suffix(".md").write_text(C.provenance(meta) + table)
    print(table)
    _plot(rows, out.parent / f"{out.name}_convergence.png")
    print(f"wrote {out.with_suffix('.json')}, {out.with_suffix('.md')}, {out.parent / f'{out.name}_convergence.png'}")
    return 0


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| budget | solver | seed | status | objective | gap to CP-SAT | wall s | evaluations |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gap = "-" if r["gap_to_cpsat"] is None else f"{100 * r['gap_to_cpsat']:.3f}%"
        lines.append(
            f"| {r['budget'][0]}<={r['budget'][1]} | {r['solver']} | {r['seed']} | {r['status']} | "
            f"{r['objective']:.6f} | {gap} | {r['wall_time_s']:.2f} | {r['n_evals']} |"
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
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
