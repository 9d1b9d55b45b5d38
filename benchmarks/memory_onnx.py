"""ONNX Runtime's peak memory by export opset: the analysis pre-registered in ``preregistration/memory_onnx.md``.

Reads two ``benchmarks/memory.py --runtime onnxruntime`` runs of the same designs, one per opset, and reports
each run's ratio measured / predicted per length, the paired comparison of the part beyond the weights
(the second opset's over the first's, per design and length), the descriptive ``k`` (the peak beyond the
cost and the tied table's second copy, in fp32 score tensors of the widest layer) and the registered
expectations O1-O3, each judged met or not.

    python benchmarks/memory_onnx.py                   # results/memory_onnx_op18.json and _op23.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

from mpsolve import Architecture  # noqa: E402


def score_tensors(row: dict[str, Any]) -> float:
    """``k``: the peak beyond the cost and the tied table's second copy, in ``heads x seq_len^2`` fp32 tensors
    of the design's widest layer (batch 1)."""
    arch = Architecture.from_dict(row["arch"])
    heads = max(b.embed_dim for b in arch.blocks) // arch.head_dim
    table = 4 * arch.vocab_size * arch.embed_proj_dim
    return (row["peak"] - row["predicted"] - table) / (4 * heads * row["seq_len"] ** 2)


def analyse(first: dict[str, Any], second: dict[str, Any], seed: int) -> dict[str, Any]:
    runs = {f"opset {r['opset']}": r for r in (first, second)}
    if [r["arch_str"] for r in first["rows"]] != [r["arch_str"] for r in second["rows"]] or \
            [r["seq_len"] for r in first["rows"]] != [r["seq_len"] for r in second["rows"]]:
        raise SystemExit("error: the two runs measured other designs or lengths: give two runs of one sample")
    out: dict[str, Any] = {"runs": {}, "paired": [], "expectations": {}}
    for name, run in runs.items():
        out["runs"][name] = []
        for n in sorted({r["seq_len"] for r in run["rows"]}):
            at = [r for r in run["rows"] if r["seq_len"] == n]
            out["runs"][name].append({"seq_len": n, "designs": len(at),
                                      "ratio": C.median_summary([r["ratio"] for r in at], seed),
                                      "beyond_weights_ratio": C.median_summary(
                                          [r["beyond_weights_ratio"] for r in at], seed),
                                      "k": C.median_summary([score_tensors(r) for r in at], seed),
                                      "load_peak_over_weights": C.median_summary(
                                          [r["runs"][0]["load_peak"] / r["predicted_weights"] for r in at], seed)})
    for n in sorted({r["seq_len"] for r in first["rows"]}):
        pairs = [(a, b) for a, b in zip(first["rows"], second["rows"]) if a["seq_len"] == n]
        beyond = [(b["peak"] - b["weights"]) / (a["peak"] - a["weights"]) for a, b in pairs]
        out["paired"].append({"seq_len": n, "beyond_weights_second_over_first": C.median_summary(beyond, seed),
                              "second_lower": sum(x < 1 for x in beyond), "designs": len(beyond)})
    at = {(name, e["seq_len"]): e for name, entries in out["runs"].items() for e in entries}
    a, b = (f"opset {r['opset']}" for r in (first, second))
    rows18 = {n: [r["ratio"] for r in first["rows"] if r["seq_len"] == n] for n in (1024, 2048)}
    paired = {e["seq_len"]: e for e in out["paired"]}
    if {1024, 2048} <= set(paired) and (a, 2048) in at and (b, 2048) in at:
        out["expectations"] = {
            "O1": bool(min(rows18[2048]) > 1.5 and at[(a, 1024)]["ratio"]["median"] > 1.3),
            "O2": bool(all(paired[n]["second_lower"] == paired[n]["designs"] for n in (1024, 2048))
                       and paired[2048]["beyond_weights_second_over_first"]["median"] <= 0.6),
            "O3": bool(at[(b, 2048)]["ratio"]["median"] > 1.2),
        }
    return out


def markdown(first: dict[str, Any], second: dict[str, Any], result: dict[str, Any], command: str) -> str:
    def fmt(s: dict[str, Any], digits: int = 3) -> str:
        return (f"{s['median']:.{digits}f} [{s['ci95'][0]:.{digits}f}, {s['ci95'][1]:.{digits}f}], "
                f"{s['min']:.{digits}f}-{s['max']:.{digits}f}")

    lines = ["# The memory cost against ONNX Runtime's peak, by export opset", "",
             f"Command: `{command}` (commit {result['git_commit']}), on `{first['command']}` (commit "
             f"{first['git_commit']}) and `{second['command']}` (commit {second['git_commit']}). {first['machine']}. "
             f"{first['note']}", "",
             f"{first['designs']} random designs of `{first['space']}` (seed {first['seed']}), one measurement each "
             "in a fresh process: the design's KV-cache graph (one file, last logits) in an ONNX Runtime session "
             "(one thread, its arena, glibc's allocator as it is), peak resident memory through a prefill of "
             "seq_len tokens over the process's baseline, against `MemoryCost(seq_len)` (torch's live tensors). "
             "Median [95 % percentile bootstrap interval], range. k: (measured - predicted - the tied table's "
             "second copy) / (4 x heads x seq_len^2) of the widest layer, in fp32 score tensors. Loading: the "
             "peak while the session loads, over 4 bytes a parameter.", "",
             "| opset | seq_len | measured / predicted | beyond the weights | k | loading / weights |",
             "|---|---|---|---|---|---|"]
    for name, entries in result["runs"].items():
        for e in entries:
            lines.append(f"| {name.split()[1]} | {e['seq_len']} | {fmt(e['ratio'])} | {fmt(e['beyond_weights_ratio'])} "
                         f"| {fmt(e['k'], 2)} | {fmt(e['load_peak_over_weights'])} |")
    lines += ["", f"Paired, per design: opset {second['opset']}'s part beyond the weights over opset "
              f"{first['opset']}'s.", "", "| seq_len | median [95 % CI], range | lower with the second |",
              "|---|---|---|"]
    for e in result["paired"]:
        lines.append(f"| {e['seq_len']} | {fmt(e['beyond_weights_second_over_first'])} | "
                     f"{e['second_lower']} of {e['designs']} |")
    if result["expectations"]:
        lines += ["", "Registered expectations (`preregistration/memory_onnx.md`):", ""]
        said = {"O1": "opset 18: every design above 1.5 at 2048 tokens, median above 1.3 at 1024",
                "O2": "every design lower beyond the weights with opset 23 at 1024 and 2048 tokens, median of "
                      "the paired quotient at most 0.6 at 2048",
                "O3": "opset 23: median above 1.2 at 2048 tokens"}
        lines += [f"- {k} ({said[k]}): **{'met' if v else 'not met'}**" for k, v in result["expectations"].items()]
    lines += ["", "| design | seq_len | predicted MB | " + " | ".join(
        f"opset {r['opset']} MB" for r in (first, second)) + " |", "|---|---|---|---|---|"]
    for a, b in zip(first["rows"], second["rows"]):
        lines.append(f"| {a['arch_str']} | {a['seq_len']} | {a['predicted'] / 1e6:.1f} | {a['peak'] / 1e6:.1f} | "
                     f"{b['peak'] / 1e6:.1f} |")
    return "\n".join(lines) + "\n"


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--first", type=Path, default=C.RESULTS / "memory_onnx_op18.json", help="the first opset's run")
    p.add_argument("--second", type=Path, default=C.RESULTS / "memory_onnx_op23.json", help="the second opset's run")
    p.add_argument("--seed", type=C.at_least(0), default=44, help="the bootstrap's seed (default 44, the sample's)")
    p.add_argument("--out", type=C.output_stem, default=str(C.RESULTS / "memory_onnx"),
                   help="output stem: OUT.json and OUT.md (default benchmarks/results/memory_onnx)")
    args = p.parse_args(argv)
    C.check_outputs({"--out .json": args.out + ".json", "--out .md": args.out + ".md"},
                    {"--first": args.first, "--second": args.second})
    first, second = C.read_runs("memory run", args.first, args.second)
    if first.get("runtime") != "onnxruntime" or second.get("runtime") != "onnxruntime":
        raise SystemExit("error: --first and --second must be memory.py runs with --runtime onnxruntime")
    result = {"git_commit": C.git_commit(), **analyse(first, second, args.seed)}
    command = C.command_line("memory_onnx.py", argv)
    C.write_analysis(args.out, command, result, markdown(first, second, result, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
