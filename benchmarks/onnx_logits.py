"""Time to first token in ONNX Runtime: a KV-cache graph that returns every position's logits vs the last one's.

``export_onnx(..., kv_cache=True)`` returns the logits of every prompt position by default
(scoring needs them); ``logits="last"`` returns the last position's only, all that generation
needs, so the output projection and the tied LM head run on one position instead of
``--seq-len``. For MeRino-52M/61M/64M (random weights, nothing downloaded), fp32 and ORT dynamic
INT8, this times both graphs on the prompt (``--seq-len`` tokens, the time to the first token)
and on one decoding step with ``--seq-len`` cached positions (the time per token, which the
choice should not change), with ``mpsolve.merino_model.model_latency``
(``torch.utils.benchmark.Timer``, median of the timed blocks, IQR) on ``--threads`` pinned
threads, in ``--rounds`` rounds that alternate the two graphs, and reports each round's ratio
all / last (paired within a round) with its median and range over the rounds.

Usage:
    python benchmarks/onnx_logits.py --out benchmarks/results/onnx_logits.json --md benchmarks/results/onnx_logits.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

MODELS = ("merino-52m", "merino-61m", "merino-64m")
GRAPHS = ("all", "last")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="presets to time (default all)")
    p.add_argument("--seq-len", type=C.at_least(1), default=128, help="prompt length and decode context (default 128)")
    p.add_argument("--threads", type=C.at_least(1), default=1, help="intra-op threads (default 1)")
    p.add_argument("--rounds", type=C.at_least(1), default=3, help="rounds alternating the two graphs (default 3)")
    p.add_argument("--min-run-time", type=C.positive, default=1.0, help="seconds timed per entry (default 1)")
    p.add_argument("--no-int8", action="store_true", help="skip the ORT dynamic-INT8 graphs")
    p.add_argument("--out", type=Path, default=None, help="results JSON")
    p.add_argument("--md", type=Path, default=None, help="report (Markdown)")
    return p.parse_args(argv)


def export(name: str, folder: Path, int8: bool) -> dict[tuple[str, str], Path]:
    """The two KV-cache graphs of a preset (and their INT8 versions), by (precision, logits)."""
    from mpsolve.merino_model import build, export_onnx, quantize_onnx

    model = build(name, seed=0).eval()
    paths = {}
    for logits in GRAPHS:
        path = export_onnx(model, folder / f"{name}-{logits}.onnx", kv_cache=True, logits=logits)
        paths["fp32", logits] = path
        if int8:
            paths["int8", logits] = quantize_onnx(path, folder / f"{name}-{logits}-int8.onnx")
    return paths


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    C.check_outputs({"--out": args.out, "--md": args.md})
    import onnxruntime
    import torch

    from mpsolve.merino_model import device_info, model_latency

    start = time.perf_counter()
    precisions = ("fp32",) if args.no_int8 else ("fp32", "int8")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            paths = export(name, Path(tmp), not args.no_int8)
            for precision in precisions:
                for phase in ("prefill", "decode"):
                    timings: dict[str, list[dict[str, Any]]] = {g: [] for g in GRAPHS}
                    for r in range(args.rounds):
                        for logits in (GRAPHS if r % 2 == 0 else GRAPHS[::-1]):
                            timings[logits].append(model_latency(
                                paths[precision, logits], args.seq_len, args.threads, phase=phase,
                                min_run_time=args.min_run_time))
                    ratios = [a["ms"] / b["ms"] for a, b in zip(timings["all"], timings["last"])]
                    row = {"model": name, "precision": precision, "phase": phase, "timings": timings,
                           "ratio_by_round": ratios, "ratio_median": statistics.median(ratios)}
                    rows.append(row)
                    print(f"{name} {precision} {phase}: all {[round(t['ms'], 1) for t in timings['all']]} ms, "
                          f"last {[round(t['ms'], 1) for t in timings['last']]} ms, all/last "
                          f"{row['ratio_median']:.2f} ({min(ratios):.2f}-{max(ratios):.2f})", flush=True)
    results = {
        "command": C.command_line("onnx_logits.py", argv),
        "git_commit": C.git_commit(),
        "device": {**device_info(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }
    C.write_report(results, args.out, args.md, markdown)
    return 0


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = [
        "# ONNX Runtime: every position's logits vs the last one's (KV-cache graph)\n",
        f"Command: `{results['command']}` (commit {results['git_commit'][:10]}). {results['device']['cpu']}, "
        f"onnxruntime {results['device']['onnxruntime']}, {s['threads']} thread(s), batch 1.\n",
        f"Prefill: a {s['seq_len']}-token prompt (the time to the first token); decode: one token with "
        f"{s['seq_len']} cached positions. Median of the timed blocks (`model_latency`, torch.utils.benchmark), "
        "its IQR in brackets, * where the IQR exceeds 10 % of the median. Each round times both graphs "
        f"(alternating which goes first); the ratio all / last is paired within a round, median (range) over "
        f"{s['rounds']} rounds. Random weights.\n",
        "| model | precision | phase | all ms (per round) | last ms (per round) | all / last |",
        "|---|---|---|---|---|---|",
    ]

    def cell(ts: list[dict[str, Any]]) -> str:
        return ", ".join(f"{t['ms']:.1f} [{t['iqr_ms']:.1f}]{'*' if t['noisy'] else ''}" for t in ts)

    for r in results["rows"]:
        ratios = r["ratio_by_round"]
        lines.append(f"| {r['model']} | {r['precision']} | {r['phase']} | {cell(r['timings']['all'])} | "
                     f"{cell(r['timings']['last'])} | {r['ratio_median']:.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")
    lines.append(f"\nTotal {results['seconds'] / 60:.1f} min.\n")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
