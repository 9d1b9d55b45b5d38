"""EA speed at the paper's settings and the objective's evaluation throughput.

    python benchmarks/ea.py [--space default] [--budgets 60G,110G,160G] [--seeds 0,1,2]

Prints, for each budget, the wall time of the paper-setting search (population 512, parents
64, 100 000 iterations; vectorised batches of 64 and the strictly sequential batch of 1),
the objective reached, and the throughput of evaluating 100 000 architectures (entropy alone
and the whole problem: entropy + params + FLOPs + memory + budgets). The lookup table is built
beforehand so that its one-time cost is reported separately.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

import mpsolve  # noqa: E402


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="default")
    parser.add_argument("--budgets", default="60G,110G,160G", type=C.quantities(), help="FLOPs budgets")
    parser.add_argument("--seeds", default="0,1,2", type=C.seeds, help="EA seeds, comma-separated")
    parser.add_argument("--sequential", action="store_true", help="also time batch_size=1 (the paper's loop)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument("--note", default="", help="a note on the machine (e.g. idle, loaded), kept with the results")
    args = parser.parse_args(argv)
    C.check_outputs({"--json": args.json})
    space = mpsolve.get_space(args.space)
    objective = mpsolve.MeRinoEntropy()
    problems = {b: mpsolve.Problem(space, objective, [mpsolve.Budget("flops", b)]) for b in args.budgets}
    for problem in problems.values():  # an infeasible budget is refused before any timing
        problem.check_feasible()
    out: dict = {"command": C.command_line("ea.py", argv), "git_commit": C.git_commit(), "note": args.note,
                 "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "space": args.space}

    t = time.perf_counter()
    objective.matrix_entropy(*np.array(space.matrix_shapes()).T)
    out["table_seconds"] = time.perf_counter() - t
    print(f"lookup table ready in {out['table_seconds']:.2f} s ({len(space.matrix_shapes())} shapes)")

    X = space.sample(100_000, 0)
    batch = space.decode_batch(X)
    objective.evaluate(batch, space)
    t = time.perf_counter()
    objective.evaluate(space.decode_batch(X), space)
    out["entropy_100k_seconds"] = time.perf_counter() - t
    problem = mpsolve.Problem(space, objective, [mpsolve.Budget("flops", "160G")])
    t = time.perf_counter()
    problem.evaluate(X)
    out["problem_100k_seconds"] = time.perf_counter() - t
    rate = 1e5 / out["entropy_100k_seconds"]
    print(
        f"entropy of 100 000 architectures: {out['entropy_100k_seconds'] * 1e3:.1f} ms ({rate:.3g} archs/s); "
        f"whole problem: {out['problem_100k_seconds'] * 1e3:.1f} ms"
    )

    rows = []
    for budget, problem in problems.items():
        for seed in args.seeds:
            for batch_size in [64, 1] if args.sequential else [64]:
                r = C.finished(mpsolve.solve(problem, "ea", seed=seed, batch_size=batch_size))  # Ctrl-C: stop
                rows.append(
                    {
                        "budget": budget,
                        "seed": seed,
                        "batch_size": batch_size,
                        "seconds": r.wall_time,
                        "objective": r.objective,
                        "evaluations": r.n_evals,
                        "architecture": str(r.architecture),
                    }
                )
                print(
                    f"EA flops<={budget:<5} seed {seed} batch {batch_size:>2}: {r.wall_time:6.2f} s, "
                    f"objective {r.objective:.6g}, {r.architecture}"
                )
    out["runs"] = rows
    if args.json:
        C.write_json(Path(args.json), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
