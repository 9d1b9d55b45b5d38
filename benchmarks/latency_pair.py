"""Pair two runs of ``latency.py`` on the same designs: did the profiles or the timings move between them?

Per check (runtime, phase, graph) in both runs, per design, against each design's fastest round:
the absolute percentage error of the component sum in the first run minus that in the second
(mean, 95 % percentile bootstrap interval over the designs), and the first run's fastest timing
and component sum over the second's (median, range). Written for the pre-registered replication
of the INT8 run (``preregistration/latency_int8_replication.md``)::

    python benchmarks/latency_pair.py results/latency_int8_s49_r2.json results/latency_int8_s49.json \\
        --md results/latency_int8_s49_r2_paired.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _common import at_least, check_outputs, command_line, git_commit, one_line_errors, read_runs, write_report
from latency import check_timings, runtime_label
from scipy.stats import bootstrap

from mpsolve import MpsolveError
from mpsolve.costs import PROFILE_PHASES, PROFILE_RUNTIMES
from mpsolve.utils.validation import first_repeat


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a latency.py --out JSON (the later run)")
    p.add_argument("earlier", type=Path, help="a latency.py --out JSON of the same designs (the earlier run)")
    p.add_argument("--seed", type=at_least(0), default=0, help="the bootstrap's seed (below 2**32)")
    p.add_argument("--out", type=Path, default=None, help="write the pairs as JSON here")
    p.add_argument("--md", type=Path, default=None, help="write the report here")
    args = p.parse_args(argv)
    if args.seed >= 2**32:  # the bootstrap seeds numpy's legacy generator: numpy's ValueError after the reading
        p.error(f"argument --seed: {args.seed} is not below 2**32")
    return args


def read_run(path: Path) -> dict[str, Any]:
    """A run with its designs named and checks of one timing per design (numpy would broadcast one design's
    over all of them without a word); else a one-line error."""
    [run] = read_runs("run", path)
    cost = run.get("latency_cost") if isinstance(run, dict) else None
    if not isinstance(cost, dict) or not isinstance(cost.get("checks"), list):
        raise MpsolveError(f"{str(path)!r} has no latency-cost checks: give the --out JSON of a latency.py run "
                           "with a MAPE check")
    designs = cost.get("architectures")
    if isinstance(designs, list) and len(designs) < 2:  # the change's interval is a bootstrap over the designs
        raise MpsolveError(f"{str(path)!r} timed {len(designs)} design(s): a pair needs runs of two or more "
                           "(latency.py --mape-archs)")
    for check in cost["checks"]:
        if not (isinstance(designs, list) and isinstance(check, dict) and check.get("phase") in PROFILE_PHASES
                and check.get("runtime") in PROFILE_RUNTIMES):
            raise MpsolveError(f"{str(path)!r} is not a run as latency.py saves it (its designs and checks of a "
                               "runtime and phase): give the --out JSON of a latency.py run")
        components = check_timings(check, repr(str(path)))[1]  # not latency.py's --report
        if len(components) != len(designs) or not np.all(np.isfinite(components) & (components > 0)):
            raise MpsolveError(f"{str(path)!r}: the {runtime_label(check)} {check['phase']} check has not one "
                               f"positive component sum for each of the run's {len(designs)} designs: give a run as "
                               "latency.py saved it")
    keys = [key(check) for check in cost["checks"]]
    twice = first_repeat(keys)
    if twice is not None:  # each would be paired with the other run's one check of that graph and phase
        raise MpsolveError(f"{str(path)!r} has two {' '.join(twice)} checks: which one to pair is unknown; give a run "
                           "as latency.py saved it")
    return run


def key(check: dict[str, Any]) -> tuple[str, str]:
    return runtime_label(check), check["phase"]


def pair(later: dict[str, Any], earlier: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """One row per check found in both runs, in the later run's order."""
    if later["latency_cost"].get("architectures") != earlier["latency_cost"].get("architectures"):
        raise MpsolveError("the two runs timed different designs: pair runs of the same --seed, space and "
                           "--mape-archs")
    settings = [run.get("settings") if isinstance(run.get("settings"), dict) else {} for run in (later, earlier)]
    for flag in ("seq_len", "threads", "statistic"):  # another workload: its timings differ without moving
        if settings[0].get(flag) != settings[1].get(flag):
            said = f"--{flag.replace('_', '-')} {settings[0].get(flag)} and {settings[1].get(flag)}"
            raise MpsolveError(f"the two runs timed another workload ({said}): pair runs of the same workload")
    before = {key(c): c for c in earlier["latency_cost"]["checks"]}
    rows = []
    for check in later["latency_cost"]["checks"]:
        if key(check) not in before:
            continue
        _, components, measured, _ = check_timings(check)
        _, components_before, measured_before, _ = check_timings(before[key(check)])
        fastest, fastest_before = measured.min(axis=0), measured_before.min(axis=0)
        ape = 100 * np.abs(components - fastest) / fastest
        ape_before = 100 * np.abs(components_before - fastest_before) / fastest_before
        change = ape - ape_before
        interval = bootstrap((change,), np.mean, confidence_level=0.95, method="percentile",
                             random_state=seed).confidence_interval
        timing, profile = fastest / fastest_before, components / components_before
        rows.append({
            "runtime": key(check)[0], "phase": check["phase"],
            "mape_vs_fastest_percent": float(ape.mean()), "earlier_mape_vs_fastest_percent": float(ape_before.mean()),
            "ape_change_points": float(change.mean()),
            "ape_change_ci95": [float(interval.low), float(interval.high)],
            "fastest_ratio": _summary(timing), "components_ratio": _summary(profile),
        })
    return rows


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"median": float(np.median(values)), "min": float(values.min()), "max": float(values.max())}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Two latency runs of the same designs, paired\n",
        f"Command: `{results['command']}` (commit {results['git_commit'][:10]}).\n",
        f"Later run: `{results['run']}` (commit {results['run_commit'][:10]}); earlier run: `{results['earlier']}` "
        f"(commit {results['earlier_commit'][:10]}). Per design, against its fastest round in each run: the "
        "component sum's absolute percentage error in the later run minus the earlier (mean over designs, 95 % "
        "percentile bootstrap interval), and the later run's fastest timing and component sum over the earlier's "
        "(median, range over designs).\n",
        "| runtime | phase | MAPE vs fastest %, later | earlier | change, points (95 % CI) | fastest timing, later / "
        "earlier | component sum, later / earlier |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["pairs"]:
        low, high = r["ape_change_ci95"]
        t, c = r["fastest_ratio"], r["components_ratio"]
        lines.append(f"| {r['runtime']} | {r['phase']} | {r['mape_vs_fastest_percent']:.1f} | "
                     f"{r['earlier_mape_vs_fastest_percent']:.1f} | {r['ape_change_points']:+.1f} ({low:+.1f} to "
                     f"{high:+.1f}) | {t['median']:.3f} ({t['min']:.3f}-{t['max']:.3f}) | {c['median']:.3f} "
                     f"({c['min']:.3f}-{c['max']:.3f}) |")
    return "\n".join(lines) + "\n"


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_outputs({"--out": args.out, "--md": args.md}, {"run": args.run, "earlier": args.earlier})
    if args.run.resolve() == args.earlier.resolve():  # a report that nothing moved between a run and itself
        raise MpsolveError(f"run and earlier are the same file {str(args.run)!r}: give the --out JSONs of two runs")
    later, earlier = read_run(args.run), read_run(args.earlier)
    pairs = pair(later, earlier, args.seed)  # its checks first (other designs, another workload)
    if later["latency_cost"] == earlier["latency_cost"]:  # no two runs time alike to the last digit: a copy
        raise MpsolveError(f"run and earlier hold the same timings ({str(args.run)!r} and {str(args.earlier)!r}): "
                           "one is a copy of the other; give the --out JSONs of two runs")
    results = {
        "command": command_line("latency_pair.py", argv), "git_commit": git_commit(),
        # a commit that is not a string (null in an edited file) was a TypeError in the report
        "run": str(args.run), "run_commit": str(later.get("git_commit") or "?"),
        "earlier": str(args.earlier), "earlier_commit": str(earlier.get("git_commit") or "?"),
        "seed": args.seed, "pairs": pairs,
    }
    if not results["pairs"]:
        raise MpsolveError("the two runs share no check (runtime, phase, graph): nothing to pair")
    print(markdown(results))
    write_report(results, args.out, args.md, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
