"""What does fixing glibc's mmap threshold cost in speed? (issue #13, part 3: the memory budget's advice)

``MemoryCost`` counts the live tensors; glibc's heap keeps freed ones, so a torch prefill's resident peak is
higher (``results/memory_glibc_s42.md``) unless ``MALLOC_MMAP_THRESHOLD_`` is fixed, which returns every freed
block above it at once, and maps fresh pages for each new one. This times designs both ways: each timing is
``mpsolve latency --json`` in a fresh process (torch fp32, batch 1, pinned threads), the two settings
alternating within each round.

    python benchmarks/allocator.py                        # merino-64m and 3 designs of default, 3 rounds
    python benchmarks/allocator.py --designs 0 --rounds 1 --seq-len 64 --out /tmp/allocator   # quicker

Reports, per phase: each design's ratio fixed / default of its median times over the rounds, their median with
a 95 % percentile bootstrap interval over designs and range, and the timings flagged noisy.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404: runs this checkout's own command line
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

from mpsolve.merino_model import MAX_MMAP_THRESHOLD  # noqa: E402
from mpsolve.spaces import get_architecture, load_space  # noqa: E402

SETTINGS = ("default", "fixed")


def time_once(arch_file: Path, phase: str, seq_len: int, threads: int, threshold: int | None,
              min_run_time: float) -> dict[str, Any]:
    """One ``mpsolve latency`` timing in a fresh process, with glibc's threshold fixed or not."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(C.ROOT), env.get("PYTHONPATH")]))
    if threshold is not None:
        env["MALLOC_MMAP_THRESHOLD_"] = str(threshold)
    argv = [sys.executable, "-m", "mpsolve", "latency", str(arch_file), "--phase", phase, "--seq-len", str(seq_len),
            "--threads", str(threads), "--min-run-time", str(min_run_time), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)  # nosec B603
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise SystemExit(f"error: mpsolve latency failed: {lines[-1] if lines else done.returncode}")
    return json.loads(done.stdout)["measured"]


def summary(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    out = []
    for phase in sorted({r["phase"] for r in rows}):
        ratios = []
        for design in sorted({r["design"] for r in rows if r["phase"] == phase}):
            at = [r for r in rows if r["phase"] == phase and r["design"] == design]
            times = {s: [r["ms"] for r in at if r["setting"] == s] for s in SETTINGS}
            if all(times.values()) and np.median(times["default"]) > 0:  # an interrupted run: both settings timed
                ratios.append(float(np.median(times["fixed"]) / np.median(times["default"])))
        if ratios:
            noisy = sum(r["noisy"] for r in rows if r["phase"] == phase)
            out.append({"phase": phase, "designs": len(ratios), "ratios": ratios, **C.median_summary(ratios, seed),
                        "noisy": noisy})
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = ["# glibc's mmap threshold fixed or not: the speed of a torch design", "",
             f"Command: `{results['command']}` (commit {results['git_commit']}). {results['note']}", "",
             f"Each timing: `mpsolve latency --json` in a fresh process, torch fp32, batch 1, {results['threads']} "
             f"thread(s), {results['seq_len']} tokens (prefill) or cached positions (decode), min run time "
             f"{results['min_run_time']} s; with `MALLOC_MMAP_THRESHOLD_={results['threshold']}` (fixed) or unset "
             f"(default), alternating, {results['rounds']} round(s). Ratio: fixed / default of a design's median "
             "over the rounds; median over designs with its 95 % percentile bootstrap interval (10 000 "
             "resamples), range. Noisy: timings whose blocks spread more than 10 % of their median.", "",
             "| phase | designs | ratio median [95 % CI] | range | noisy timings |", "|---|---|---|---|---|"]
    for e in results["summary"]:
        lines.append(f"| {e['phase']} | {e['designs']} | {e['median']:.3f} [{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}] "
                     f"| {e['min']:.3f}-{e['max']:.3f} | {e['noisy']} |")
    lines += ["", "| design | phase | setting | round | ms | IQR ms | blocks | noisy |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['design']} | {r['phase']} | {r['setting']} | {r['round']} | {r['ms']:.2f} | "
                     f"{r['iqr_ms']:.2f} | {r['blocks']} | {'yes' if r['noisy'] else ''} |")
    lines += ["", C.total_line(results, "timings"), ""]
    return "\n".join(lines)


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = C.sample_parser(__doc__, 3, "random designs beside merino-64m (default 3)", least=0)
    p.add_argument("--seq-len", type=C.at_least(1), default=1024, help="prompt tokens / cached positions (1024)")
    p.add_argument("--phases", default="prefill,decode", help="prefill, decode or both, comma-separated")
    p.add_argument("--rounds", type=C.at_least(1), default=3, help="timings per design, phase and setting (3)")
    p.add_argument("--threads", type=C.at_least(1), default=1, help="threads (default 1)")
    p.add_argument("--threshold", type=C.at_least(0), default=131072, help="the fixed threshold, bytes (131072)")
    p.add_argument("--min-run-time", type=C.positive, default=1.0, help="seconds timed per timing (default 1)")
    p.add_argument("--out", type=C.output_stem, default=str(C.RESULTS / "allocator"),
                   help="output stem: OUT.json and OUT.md (default benchmarks/results/allocator)")
    p.add_argument("--note", default="", help="a note on the machine, kept with the results")
    args = p.parse_args(argv)
    phases = [s.strip() for s in args.phases.split(",")]
    if not phases or any(s not in ("prefill", "decode") for s in phases) or len(set(phases)) != len(phases):
        raise SystemExit(f"error: --phases must be prefill, decode or both, got {args.phases!r}")
    if args.threshold > MAX_MMAP_THRESHOLD:  # an older glibc ignores a larger MALLOC_MMAP_THRESHOLD_ without a word
        raise SystemExit(f"error: --threshold {args.threshold} is above the largest mmap threshold glibc documents, "
                         f"{MAX_MMAP_THRESHOLD}: give at most that")
    C.check_outputs({"--out .json": args.out + ".json", "--out .md": args.out + ".md"})
    space = load_space(args.space)
    sampled = space.sample(args.designs, random_state=args.seed)
    designs = [("merino-64m", get_architecture("merino-64m"))] + [
        (f"{space.name}-{i}", space.decode(x)) for i, x in enumerate(sampled)]
    longest = args.seq_len + (1 if "decode" in phases else 0)
    if any(longest > arch.max_positions for _, arch in designs):
        raise SystemExit(f"error: --seq-len {args.seq_len} is beyond a design's max_positions")
    results: dict[str, Any] = {
        "command": C.command_line("allocator.py", argv), "git_commit": C.git_commit(), "note": args.note,
        "space": space.name, "seed": args.seed, "seq_len": args.seq_len, "threads": args.threads,
        "threshold": args.threshold, "rounds": args.rounds, "min_run_time": args.min_run_time,
        "designs": {name: arch.to_dict() for name, arch in designs}, "rows": [], "complete": False}

    def measure_all(save: Callable[[], None]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for name, arch in designs:
                arch_file = Path(tmp) / f"{name}.json"
                arch_file.write_text(json.dumps(arch.to_dict()))
                for phase in phases:
                    for rnd in range(args.rounds):
                        for setting in SETTINGS if rnd % 2 == 0 else SETTINGS[::-1]:
                            threshold = args.threshold if setting == "fixed" else None
                            m = time_once(arch_file, phase, args.seq_len, args.threads, threshold, args.min_run_time)
                            results["rows"].append({"design": name, "phase": phase, "setting": setting, "round": rnd,
                                                    "ms": m["ms"], "iqr_ms": m["iqr_ms"], "blocks": m["blocks"],
                                                    "noisy": bool(m["noisy"])})
                            print(f"{name} {phase} {setting} round {rnd}: {m['ms']:.2f} ms", flush=True)
                    save()

    return C.measure_rows(results, args.out, measure_all, lambda rows: summary(rows, args.seed), markdown, "timings")

if __name__ == "__main__":
    raise SystemExit(main())
