"""How long the exact backend takes to prove its optimum, with one budget and with several.

    python benchmarks/exact.py [--cases default:flops=160G large8:flops=160G,params=60M ...]
        [--time-limit 300] [--repeats 3] [--json FILE] [--note "idle"]

Each case is ``SPACE:NAME=VALUE[,NAME=VALUE...]`` (a preset space and its budgets, entropy
objective with the library's default options). Every case is solved ``--repeats`` times one
after the other; the report gives the status, the objective, the gap left at the time limit and
the wall time of each run (median and range). The search is deterministic, so the runs differ
only by the machine's noise. The library's commit is recorded beside the script's: to time an
older library, run this script with ``PYTHONPATH`` pointing at a checkout of it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

import mpsolve  # noqa: E402

CASES = (
    "default:flops=60G",
    "default:flops=160G",
    "default:flops=160G,params=50M",
    "large8:flops=160G",
    "large8:params=60M",
    "large8:flops=160G,params=60M",
    "large8:flops=110G,params=50M",
    "large8:flops=160G,memory=400M",
    "large8:flops=160G,params=60M,memory=300M",
)


def case(text: str) -> tuple[str, dict[str, str]]:
    """``SPACE:NAME=VALUE,...`` -> (space, budgets), refused in one line when malformed."""
    space, sep, rest = text.partition(":")
    budgets = dict(item.partition("=")[::2] for item in rest.split(",") if item)
    if not sep or not space or not budgets or not all(budgets.values()):
        raise argparse.ArgumentTypeError(f"{text!r}: write SPACE:NAME=VALUE[,NAME=VALUE...], e.g. large8:flops=160G")
    return space, budgets


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", type=case, default=[case(c) for c in CASES], metavar="SPACE:BUDGETS")
    parser.add_argument("--time-limit", type=C.positive, default=300.0, help="seconds per run (default 300)")
    parser.add_argument("--repeats", type=C.at_least(1), default=3, help="runs per case (default 3)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument("--note", default="", help="a note on the machine (e.g. idle, loaded), kept with the results")
    args = parser.parse_args(argv)
    C.check_outputs({"--json": args.json})
    problems = []
    for space, budgets in args.cases:  # every case is built and checked before the first run
        problem = mpsolve.Problem(space, constraints=[mpsolve.Budget(n, v) for n, v in budgets.items()])
        problem.check_feasible()
        problems.append((f"{space}:" + ",".join(f"{n}={v}" for n, v in budgets.items()), problem))
    out: dict = {"command": C.command_line("exact.py", argv), "git_commit": C.git_commit(),
                 "library_commit": C.git_commit(Path(mpsolve.__file__).parent),  # the mpsolve imported
                 "note": args.note, "time_limit": args.time_limit,
                 "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "cases": []}
    print(f"library {out['library_commit'][:10]}, time limit {args.time_limit:g} s")
    for name, problem in problems:
        runs = []
        for _ in range(args.repeats):
            r = C.finished(mpsolve.solve(problem, "exact", time_limit=args.time_limit))  # Ctrl-C: no timing
            runs.append({"status": r.status, "objective": r.objective, "bound": r.bound, "gap": r.gap,
                         "seconds": r.wall_time, "architecture": str(r.architecture)})
        secs = [x["seconds"] for x in runs]
        last = runs[-1]
        out["cases"].append({"case": name, "runs": runs})
        gap = "-" if last["gap"] is None else f"{100 * last['gap']:.3f} %"
        print(f"{name:<32} {last['status']:<8} objective {last['objective']:.6f} gap {gap} "
              f"wall median {statistics.median(secs):.2f} s (range {min(secs):.2f}-{max(secs):.2f}, "
              f"{len(secs)} runs)")
    if args.json:
        C.write_json(Path(args.json), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
