"""How well does the memory cost predict a design's measured peak inference memory? (issue #13, part 3)

For random designs of a space, ``MemoryCost(seq_len)`` (weights + KV cache + working set + the last
position's logits) against ``design_memory``: the peak resident memory of the design built with random
weights in a fresh process and a prefill of ``seq_len`` tokens that fills its KV cache (torch fp32, one thread;
Linux; a batch of one prompt, or ``--batch-size`` prompts, ``--padded`` to one length with an attention mask).
Each design and length is measured ``--repeats`` times, each in its own process.

    python benchmarks/memory.py                                   # 20 designs of default, 128/1024/2048 tokens
    python benchmarks/memory.py --designs 3 --seq-lens 128 --out /tmp/memory   # quicker
    python benchmarks/memory.py --mmap-threshold 131072 --out /tmp/live   # the live tensors (glibc's slack returned)
    python benchmarks/memory.py --runtime onnxruntime --opset 23 --out /tmp/ort   # the exported graph in ONNX Runtime
    python benchmarks/memory.py --batch-size 2 --padded --mmap-threshold 131072 --out /tmp/padded   # a padded batch

Reports, per length: the ratio measured / predicted of each design (mean over repeats), its median with a
95 % percentile bootstrap interval, range and mean absolute error; the same for the part beyond the weights;
the Spearman correlation of predicted and measured; the spread between repeats. Memory is not timing: other
processes on the machine do not change a process's resident set, unless memory runs short.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

import mpsolve  # noqa: E402
from mpsolve.costs import MemoryCost, ParamsCost  # noqa: E402
from mpsolve.spaces import load_space  # noqa: E402


def measure(arch: mpsolve.Architecture, seq_len: int, repeats: int, mmap_threshold: int | None, batch_size: int = 1,
            padded: bool = False, **onnx: Any) -> dict[str, Any]:
    """``onnx``: ``runtime``, ``opset`` and ``graph_dir`` for :func:`design_memory` in ONNX Runtime."""
    from mpsolve.merino_model import design_memory

    runs = [design_memory(arch, seq_len, batch_size=batch_size, padded=padded, mmap_threshold=mmap_threshold,
                          **onnx) for _ in range(repeats)]
    for r in runs:
        r.pop("opset", None)
    weights = 4 * ParamsCost().of(arch)
    predicted = MemoryCost(seq_len=seq_len, batch_size=batch_size, padded=padded).of(arch)
    peak = float(np.mean([r["peak"] for r in runs]))
    measured_weights = float(np.mean([r["weights"] for r in runs]))
    return {"arch": arch.to_dict(), "arch_str": str(arch), "seq_len": seq_len, "runs": runs,
            "predicted": predicted, "predicted_weights": weights, "peak": peak, "weights": measured_weights,
            "ratio": peak / predicted, "beyond_weights_ratio": (peak - measured_weights) / (predicted - weights),
            "repeat_spread": (max(r["peak"] for r in runs) - min(r["peak"] for r in runs)) / peak}


def summary(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    out = []
    for n in sorted({r["seq_len"] for r in rows}):
        at = [r for r in rows if r["seq_len"] == n]
        entry: dict[str, Any] = {"seq_len": n, "designs": len(at)}
        for key in ("ratio", "beyond_weights_ratio"):
            x = np.array([r[key] for r in at])
            entry[key] = {**C.median_summary(x, seed), "mape_pct": float(100 * np.mean(np.abs(x - 1)))}
        entry["weights_error_pct"] = float(100 * max(abs(r["weights"] / r["predicted_weights"] - 1) for r in at))
        entry["spearman"] = (float(stats.spearmanr([r["predicted"] for r in at], [r["peak"] for r in at])[0])
                             if len(at) > 2 else None)
        entry["repeat_spread_pct_max"] = float(100 * max(r["repeat_spread"] for r in at))
        out.append(entry)
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = ["# The memory cost against measured peak inference memory", "",
             f"Command: `{results['command']}` (commit {results['git_commit']}). {results['machine']}. "
             f"{results['note']}", "",
             f"{results['designs']} random designs of space `{results['space']}` (sampling seed {results['seed']}), "
             f"each measured {results['repeats']} times in a fresh process: peak resident memory of the model and a "
             "prefill of seq_len tokens ("
             + ("torch" if results.get("runtime", "torch") == "torch" else
                f"ONNX Runtime, the design's KV-cache graph exported at opset {results['opset']}")
             + f" fp32, batch {results.get('batch_size', 1)}" + (", padded" if results.get("padded") else "")
             + ", one thread) over the process's baseline, "
             + ("with the allocator as it is (glibc's default: its heap keeps freed tensors)"
                if results.get("mmap_threshold") is None else
                f"with glibc's mmap threshold fixed at {results['mmap_threshold']} B (freed tensors returned: the "
                "live tensors)") + ", against "
             + ("`MemoryCost(seq_len)`" if results.get("batch_size", 1) == 1 and not results.get("padded") else
                f"`MemoryCost(seq_len, batch_size={results['batch_size']}, padded={results['padded']})`")
             + ". Ratio: measured / predicted, per design the mean over its repeats; median with "
             "its 95 % percentile bootstrap interval (10 000 resamples), range; MAE: mean |ratio - 1|. "
             "Beyond the weights: (measured peak - measured weights) / (predicted - predicted weights).", "",
             "| seq_len | ratio median [95 % CI] | range | MAE % | beyond weights: median [95 % CI] | range | "
             "weights error % (max) | Spearman | repeat spread % (max) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in results["summary"]:
        r, b = e["ratio"], e["beyond_weights_ratio"]
        spearman = "n/a" if e["spearman"] is None else f"{e['spearman']:.3f}"
        lines.append(f"| {e['seq_len']} | {r['median']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] | "
                     f"{r['min']:.3f}-{r['max']:.3f} | {r['mape_pct']:.1f} | {b['median']:.3f} "
                     f"[{b['ci95'][0]:.3f}, {b['ci95'][1]:.3f}] | {b['min']:.3f}-{b['max']:.3f} | "
                     f"{e['weights_error_pct']:.2f} | {spearman} | {e['repeat_spread_pct_max']:.2f} |")
    lines += ["", "| design | seq_len | predicted MB | measured MB | ratio | beyond weights |",
              "|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['arch_str']} | {r['seq_len']} | {r['predicted'] / 1e6:.1f} | {r['peak'] / 1e6:.1f} | "
                     f"{r['ratio']:.3f} | {r['beyond_weights_ratio']:.3f} |")
    lines += ["", C.total_line(results, "rows"), ""]
    return "\n".join(lines)


def _machine() -> str:
    import torch

    from mpsolve.merino_model import device_info

    info = device_info()
    return f"{info['cpu']}, {info['platform']}, torch {torch.__version__}"


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = C.sample_parser(__doc__, 20)
    p.add_argument("--seq-lens", type=C.positives, default=["128", "1024", "2048"],
                   help="context lengths, comma-separated (default 128,1024,2048)")
    p.add_argument("--repeats", type=C.at_least(1), default=2, help="measurements per design and length (default 2)")
    p.add_argument("--out", type=C.output_stem, default=str(C.RESULTS / "memory"),
                   help="output stem: OUT.json and OUT.md (default benchmarks/results/memory)")
    p.add_argument("--mmap-threshold", type=C.at_least(0), default=None, metavar="BYTES",
                   help="fix glibc's mmap threshold in each measuring process, e.g. 131072: freed tensors are "
                   "returned, so the peak is the live tensors' (default: the allocator as it is)")
    p.add_argument("--runtime", choices=("torch", "onnxruntime"), default="torch",
                   help="torch (default), or ONNX Runtime on each design's exported KV-cache graph")
    p.add_argument("--opset", type=C.at_least(17), default=None,
                   help="ONNX Runtime: the graphs' opset (default: export_onnx's)")
    p.add_argument("--batch-size", type=C.at_least(1), default=1, help="prompts prefilled together (default 1)")
    p.add_argument("--padded", action="store_true",
                   help="the prompts padded to one length: an attention mask, the first prompt left-padded by a "
                   "quarter (torch)")
    p.add_argument("--note", default="", help="a note on the machine, kept with the results")
    args = p.parse_args(argv)
    if args.opset is not None and args.runtime != "onnxruntime":
        raise SystemExit("error: --opset is the exported graphs': give it with --runtime onnxruntime")
    if args.padded and args.runtime != "torch":
        raise SystemExit("error: --padded needs an attention mask, which the exported graph does not take: give it "
                         "with --runtime torch")
    C.check_outputs({"--out .json": args.out + ".json", "--out .md": args.out + ".md"})
    space = load_space(args.space)
    seq_lens = [int(float(n)) for n in args.seq_lens]
    if any(n != float(m) for n, m in zip(seq_lens, args.seq_lens)) or max(seq_lens) > space.max_positions:
        raise SystemExit(f"error: --seq-lens must be whole numbers up to the space's max_positions "
                         f"{space.max_positions}, got {','.join(args.seq_lens)}")
    designs = [space.decode(x) for x in space.sample(args.designs, random_state=args.seed)]
    results: dict[str, Any] = {
        "command": C.command_line("memory.py", argv), "git_commit": C.git_commit(), "machine": _machine(),
        "note": args.note, "space": space.name, "designs": len(designs), "seed": args.seed,
        "repeats": args.repeats, "seq_lens": seq_lens, "batch_size": args.batch_size, "padded": args.padded,
        "mmap_threshold": args.mmap_threshold,
        "runtime": args.runtime, "opset": None, "rows": [], "complete": False}
    graphs = tempfile.TemporaryDirectory()  # each design exported once, for every length and repeat
    onnx: dict[str, Any] = {}
    if args.runtime == "onnxruntime":
        from mpsolve.merino_model import DEFAULT_OPSET

        results["opset"] = DEFAULT_OPSET if args.opset is None else args.opset
        onnx = {"runtime": "onnxruntime", "opset": results["opset"], "graph_dir": graphs.name}

    def measure_all(save: Callable[[], None]) -> None:
        for i, arch in enumerate(designs):
            for n in seq_lens:
                row = measure(arch, n, args.repeats, args.mmap_threshold, args.batch_size, args.padded, **onnx)
                results["rows"].append(row)
                print(f"{i + 1}/{len(designs)} {row['arch_str']} at {n}: ratio {row['ratio']:.3f}", flush=True)
            save()

    with graphs:
        return C.measure_rows(results, args.out, measure_all, lambda rows: summary(rows, args.seed), markdown,
                              "designs")

if __name__ == "__main__":
    raise SystemExit(main())
