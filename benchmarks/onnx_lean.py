"""What does a lean ONNX graph save and cost in ONNX Runtime? (issue #13, parts 2 and 3)

``export_onnx(lean=True)`` stores the tied embedding table once, as the LM head's ``(D, V)`` weight, and
mpsolve's sessions load such a graph with prepacking off (``session.disable_prepacking``): the session
holds the table once instead of twice. Prepacking off also leaves every other matmul weight unpacked,
and the embedding gathers columns of the transposed table: both may cost time.

For random designs of a space, each design's KV-cache graph (last position's logits, the export's default
opset) is exported both ways and measured in pairs, the two graphs' measurements of a design one after the
other:

- memory (``design_memory``, a fresh process each, the allocator as it is): the session's weights once
  loaded and the peak through a prefill of ``--memory-seq-len`` tokens;
- latency (as ``design_latency`` times a graph, on the graphs measured for memory: one thread, median of
  timed blocks of ``--min-run-time`` seconds): a
  prefill of 128 and of 1024 tokens and one decoded token at 128 cached positions, each timed twice in
  the order default, lean, lean, default (drift in the machine's speed cancels in the pair).

    python benchmarks/onnx_lean.py --designs 12 --seed 47          # the pre-registered run
    python benchmarks/onnx_lean.py --designs 2 --out /tmp/lean      # quicker
    python benchmarks/onnx_lean.py --designs 12 --seed 47 --resume  # go on after an interruption

Reports per design and over designs (median with a 95 % percentile bootstrap interval, range): the weights
saved over the table's bytes (``4 V D``), the lean weights over 4 bytes a parameter, the peak saved over the
table, and lean over default for each latency workload, with a two-sided Wilcoxon signed-rank test of the
paired latencies. Measure latency on an idle machine: a run whose timed blocks spread more than
``NOISE_THRESHOLD`` of their median is counted as noisy in the report.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

from mpsolve.costs import ParamsCost  # noqa: E402
from mpsolve.spaces import Architecture, load_space  # noqa: E402

#: the latency workloads: (name, phase, tokens: the prompt's, or the cached positions of a decoded token)
WORKLOADS = (("prefill_128", "prefill", 128), ("prefill_1024", "prefill", 1024), ("decode_128", "decode", 128))
#: the designs' weights and the prompts' seed (design_memory's and design_latency's default)
SEED = 0
#: the settings a resumed run must share with the saved one
SETTINGS = ("space", "seed", "designs", "memory_seq_len", "min_run_time", "opset")


def measure(arch: Architecture, memory_seq_len: int, min_run_time: float, graph_dir: Path) -> dict[str, Any]:
    """One design's paired measurements, default graph against lean graph: the graphs ``design_memory`` exports
    (one file each), timed as ``design_latency`` times its own (``model_latency`` of the graph's path)."""
    from mpsolve.merino_model import design_memory, model_latency
    from mpsolve.merino_model._profile import design_graph

    row: dict[str, Any] = {"arch": arch.to_dict(), "arch_str": str(arch), "params": ParamsCost().of(arch),
                           "table_bytes": 4 * arch.vocab_size * arch.embed_proj_dim}
    graphs = {}
    for lean in (False, True):
        kind = "lean" if lean else "default"
        row[f"memory_{kind}"] = design_memory(arch, memory_seq_len, runtime="onnxruntime", lean=lean,
                                              graph_dir=graph_dir, seed=SEED)
        graphs[kind] = design_graph(arch, SEED, "last", graph_dir, external_data=False, lean=lean)  # the one measured
    for name, phase, tokens in WORKLOADS:
        runs: dict[str, list[dict[str, Any]]] = {"default": [], "lean": []}
        for kind in ("default", "lean", "lean", "default"):
            runs[kind].append(model_latency(str(graphs[kind]), tokens, 1, phase=phase, min_run_time=min_run_time,
                                            seed=SEED))
        row[name] = runs
    return row


def _ms(runs: list[dict[str, Any]]) -> float:
    return float(np.mean([r["ms"] for r in runs]))


def derived(row: dict[str, Any]) -> dict[str, float]:
    """A row's ratios: memory saved over the table, lean weights over 4 bytes a parameter, lean / default latency."""
    default, lean = row["memory_default"], row["memory_lean"]
    out = {"weights_saved_over_table": (default["weights"] - lean["weights"]) / row["table_bytes"],
           "lean_weights_over_params": lean["weights"] / (4 * row["params"]),
           "weights_lean_over_default": lean["weights"] / default["weights"],
           "peak_saved_over_table": (default["peak"] - lean["peak"]) / row["table_bytes"],
           "peak_lean_over_default": lean["peak"] / default["peak"]}
    for name, _, _ in WORKLOADS:
        out[f"{name}_lean_over_default"] = _ms(row[name]["lean"]) / _ms(row[name]["default"])
    return out


def summary(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    if not rows:
        return {}
    ratios = [derived(r) for r in rows]
    out: dict[str, Any] = {key: C.median_summary([d[key] for d in ratios], seed) for key in ratios[0]}
    for name, _, _ in WORKLOADS:
        diff = [_ms(r[name]["lean"]) - _ms(r[name]["default"]) for r in rows]
        out[f"{name}_wilcoxon_p"] = float(stats.wilcoxon(diff).pvalue) if len(rows) > 1 else None
        out[f"{name}_noisy_timings"] = sum(t["noisy"] for r in rows for k in ("default", "lean") for t in r[name][k])
    return out


def expectations(s: dict[str, Any]) -> list[tuple[str, bool]]:
    """The pre-registered expectations (``preregistration/onnx_lean.md``), each judged met or not."""
    saved, lean_w = s["weights_saved_over_table"], s["lean_weights_over_params"]
    decode, prompt, long_prompt = (s[f"{name}_lean_over_default"] for name in ("decode_128", "prefill_128",
                                                                              "prefill_1024"))
    return [
        ("E1 (weights saved / table: median within 0.95-1.05, every design within 0.90-1.10)",
         0.95 <= saved["median"] <= 1.05 and 0.90 <= saved["min"] and saved["max"] <= 1.10),
        ("E2 (lean weights / 4 bytes a parameter: median within 0.98-1.06)", 0.98 <= lean_w["median"] <= 1.06),
        ("E3 (peak saved / table at the memory length: median within 0.90-1.10)",
         0.90 <= s["peak_saved_over_table"]["median"] <= 1.10),
        ("E4 (decode 128, lean / default: median below 1, the interval's upper end below 1)",
         decode["median"] < 1 and decode["ci95"][1] < 1),
        ("E5 (prefill 128, lean / default: the interval's lower end above 1, median at most 1.25)",
         prompt["ci95"][0] > 1 and prompt["median"] <= 1.25),
        ("E6 (prefill 1024, lean / default: median at most 1.15)", long_prompt["median"] <= 1.15),
    ]


def _cell(s: dict[str, Any], digits: int = 3) -> str:
    return (f"{s['median']:.{digits}f} [{s['ci95'][0]:.{digits}f}, {s['ci95'][1]:.{digits}f}], "
            f"{s['min']:.{digits}f}-{s['max']:.{digits}f}")


def markdown(results: dict[str, Any]) -> str:
    s = results["summary"]
    lines = ["# A lean ONNX graph in ONNX Runtime: memory saved, time it costs", "",
             f"Command: `{results['command']}` (commit {results['git_commit']}). {results['machine']}. "
             f"{results['note']}", "",
             f"{len(results['rows'])} random designs of space `{results['space']}` (sampling seed {results['seed']}), "
             f"each design's KV-cache graph (last position's logits, opset {results['opset']}) exported as it is "
             "and with `lean=True`, the lean one loaded with prepacking off. Memory: `design_memory`, one "
             f"measurement each in a fresh process, prefill of {results['memory_seq_len']} tokens, the allocator as "
             "it is. Latency: the same graphs timed as `design_latency` times its own (`model_latency`), one thread, "
             "median of timed blocks of "
             f"{results['min_run_time']} s, each graph timed twice (default, lean, lean, default) and averaged. "
             "Figures: median [95 % percentile bootstrap interval], range, over designs; the table is `4 V D` "
             "bytes.", ""]
    if s:
        lines += ["| measure | median [95 % CI], range |", "|---|---|"]
        labels = {"weights_saved_over_table": "weights saved / table",
                  "lean_weights_over_params": "lean weights / 4 bytes a parameter",
                  "weights_lean_over_default": "weights, lean / default",
                  "peak_saved_over_table": f"peak saved / table ({results['memory_seq_len']} tokens)",
                  "peak_lean_over_default": f"peak, lean / default ({results['memory_seq_len']} tokens)"}
        labels.update({f"{name}_lean_over_default": f"{name.replace('_', ' ')}: time, lean / default"
                       for name, _, _ in WORKLOADS})
        lines += [f"| {label} | {_cell(s[key])} |" for key, label in labels.items()]
        lines += ["", "| workload | Wilcoxon signed-rank p (lean vs default) | noisy timings |", "|---|---|---|"]
        for name, _, _ in WORKLOADS:
            p = s[f"{name}_wilcoxon_p"]
            lines.append(f"| {name.replace('_', ' ')} | {'n/a' if p is None else f'{p:.2g}'} | "
                         f"{s[f'{name}_noisy_timings']} of {4 * len(results['rows'])} |")
        lines += ["", "Registered expectations (`preregistration/onnx_lean.md`):", ""]
        lines += [f"- {text}: **{'met' if met else 'not met'}**" for text, met in expectations(s)]
    lines += ["", "| design | params M | table MB | weights MB default / lean | peak MB default / lean | "
              + " | ".join(f"{name.replace('_', ' ')} ms default / lean" for name, _, _ in WORKLOADS) + " |",
              "|---|---|---|---|---|" + "---|" * len(WORKLOADS)]
    for r in results["rows"]:
        d, m = r["memory_default"], r["memory_lean"]
        lines.append(f"| {r['arch_str']} | {r['params'] / 1e6:.1f} | {r['table_bytes'] / 1e6:.1f} | "
                     f"{d['weights'] / 1e6:.1f} / {m['weights'] / 1e6:.1f} | {d['peak'] / 1e6:.1f} / "
                     f"{m['peak'] / 1e6:.1f} | "
                     + " | ".join(f"{_ms(r[name]['default']):.2f} / {_ms(r[name]['lean']):.2f}"
                                  for name, _, _ in WORKLOADS) + " |")
    lines += ["", C.total_line(results, "designs"), ""]
    return "\n".join(lines)


def _machine() -> str:
    import onnxruntime

    from mpsolve.merino_model import device_info

    info = device_info()
    return f"{info['cpu']}, {info['platform']}, onnxruntime {onnxruntime.__version__}"


def _resumed(path: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a saved run with the same settings, to go on from."""
    saved = C.read_runs("the saved run (--resume)", path)[0]
    if not isinstance(saved, dict) or not isinstance(saved.get("rows"), list):
        raise SystemExit(f"error: {str(path)!r} is not a run of this script: drop --resume, or give its --out")
    differ = [k for k in SETTINGS if saved.get(k) != results[k]]
    if differ:
        raise SystemExit(f"error: the saved run {str(path)!r} differs in {', '.join(differ)}: resume it with its own "
                         "settings, or give another --out")
    return saved["rows"]


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = C.sample_parser(__doc__, 16)
    p.add_argument("--memory-seq-len", type=C.at_least(1), default=1024,
                   help="tokens of the prefill whose peak memory is measured (default 1024)")
    p.add_argument("--min-run-time", type=C.positive, default=1.0, help="seconds of each timed block (default 1)")
    p.add_argument("--out", type=C.output_stem, default=str(C.RESULTS / "onnx_lean"),
                   help="output stem: OUT.json and OUT.md (default benchmarks/results/onnx_lean)")
    p.add_argument("--resume", action="store_true", help="go on from OUT.json's designs (same settings)")
    p.add_argument("--note", default="", help="a note on the machine, kept with the results")
    args = p.parse_args(argv)
    C.check_outputs({"--out .json": args.out + ".json", "--out .md": args.out + ".md"})
    from mpsolve.merino_model import DEFAULT_OPSET

    space = load_space(args.space)
    longest = max([args.memory_seq_len] + [n + (phase == "decode") for _, phase, n in WORKLOADS])
    if longest > space.max_positions:
        raise SystemExit(f"error: the workloads need {longest} positions, more than the space's max_positions "
                         f"{space.max_positions}: give a space with more")
    designs = [space.decode(x) for x in space.sample(args.designs, random_state=args.seed)]
    results: dict[str, Any] = {
        "command": C.command_line("onnx_lean.py", argv), "git_commit": C.git_commit(), "machine": _machine(),
        "note": args.note, "space": space.name, "designs": len(designs), "seed": args.seed,
        "memory_seq_len": args.memory_seq_len, "min_run_time": args.min_run_time, "opset": DEFAULT_OPSET,
        "rows": [], "complete": False}
    stem = Path(args.out + ".json")
    if args.resume:
        results["rows"] = _resumed(stem, results) if stem.is_file() else []
    elif stem.is_file():
        raise SystemExit(f"error: {str(stem)!r} holds a run: give --resume to go on from it, or another --out")
    done = {json.dumps(r["arch"], sort_keys=True) for r in results["rows"]}

    def measure_all(save: Callable[[], None]) -> None:
        with tempfile.TemporaryDirectory() as graphs:
            for i, arch in enumerate(designs):
                if json.dumps(arch.to_dict(), sort_keys=True) in done:
                    continue
                row = measure(arch, args.memory_seq_len, args.min_run_time, Path(graphs))
                for graph in Path(graphs).iterdir():  # a design's two graphs, once measured
                    graph.unlink()
                results["rows"].append(row)
                d = derived(row)
                print(f"{i + 1}/{len(designs)} {row['arch_str']}: weights saved / table "
                      f"{d['weights_saved_over_table']:.3f}, decode lean / default "
                      f"{d['decode_128_lean_over_default']:.3f}", flush=True)
                save()

    return C.measure_rows(results, args.out, measure_all, lambda rows: summary(rows, args.seed), markdown, "designs")


if __name__ == "__main__":
    raise SystemExit(main())
