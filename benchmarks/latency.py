"""CPU latency of MeRino against OPT, GPT-2 and Pythia, and the accuracy of the latency cost.

Part 1 (spec section 6, the paper's latency claim, on this CPU instead of a Jetson Nano):
MeRino-52M/61M/64M built by ``mpsolve.merino_model`` against OPT-125M, OPT-350M, GPT-2-124M and
Pythia-70M instantiated from hand-written ``transformers`` configs with their published sizes
(random weights, nothing downloaded), fp32 and INT8 (dynamic quantisation of every Linear;
GPT-2's ``Conv1D`` layers are first turned into equivalent ``Linear`` layers), at batch 1 with a
fixed number of threads. Two workloads:

* prefill: a ``--seq-len``-token prompt, logits of the last position only (``logits_to_keep=1``
  on both sides, no cache);
* decode: after a cached prefill, ``--new-tokens`` greedy steps with the KV cache (timed steps only).

Each (model, precision) runs in a fresh process so that its peak memory is its own: the resident
set (RSS, from /proc) of the model over the process baseline, and the peak RSS during the
workloads over the same baseline (weights + activations + KV cache).

Part 2: the latency cost. Profile the search space on this CPU (``profile_latency``), then
measure the prefill latency of ``--mape-archs`` random architectures of it and report the
MAPE and the Spearman correlation of predicted against measured latency.

Usage:
    python benchmarks/latency.py --threads 1 --out benchmarks/results/latency.json
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MERINO = {"MeRino-52M": "merino-52m", "MeRino-61M": "merino-61m", "MeRino-64M": "merino-64m"}
#: published sizes of the baselines (OPT: Zhang et al. 2022; GPT-2 small; Pythia-70M)
BASELINES: dict[str, tuple[str, dict[str, Any]]] = {
    "OPT-125M": (
        "OPTConfig",
        {
            "vocab_size": 50272,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "ffn_dim": 3072,
            "num_attention_heads": 12,
            "max_position_embeddings": 2048,
            "do_layer_norm_before": True,
            "word_embed_proj_dim": 768,
            "activation_function": "relu",
        },
    ),
    "OPT-350M": (
        "OPTConfig",
        {
            "vocab_size": 50272,
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "ffn_dim": 4096,
            "num_attention_heads": 16,
            "max_position_embeddings": 2048,
            "do_layer_norm_before": False,
            "word_embed_proj_dim": 512,
            "activation_function": "relu",
        },
    ),
    "GPT-2-124M": (
        "GPT2Config",
        {
            "vocab_size": 50257,
            "n_positions": 1024,
            "n_embd": 768,
            "n_layer": 12,
            "n_head": 12,
            "activation_function": "gelu_new",
        },
    ),
    "Pythia-70M": (
        "GPTNeoXConfig",
        {
            "vocab_size": 50304,
            "hidden_size": 512,
            "num_hidden_layers": 6,
            "num_attention_heads": 8,
            "intermediate_size": 2048,
            "max_position_embeddings": 2048,
            "use_parallel_residual": True,
            "tie_word_embeddings": False,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        },
    ),
}
MODELS = [*MERINO, *BASELINES]
#: the paper's Jetson Nano latencies (ms, batch 1, sequence 128)
PAPER_MS = {
    "MeRino-52M": 48,
    "MeRino-61M": 77,
    "MeRino-64M": 114,
    "OPT-125M": 182,
    "OPT-350M": 559,
    "GPT-2-124M": 213,
    "Pythia-70M": 95,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads, fixed for every run (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed prefill runs per model (default 5)")
    p.add_argument("--decode-repeats", type=int, default=2, help="timed decode runs per model (default 2)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs before timing (default 2)")
    p.add_argument("--seq-len", type=int, default=128, help="prompt length (default 128)")
    p.add_argument("--new-tokens", type=int, default=32, help="decoded tokens (default 32)")
    p.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=MODELS,
        metavar="MODEL",
        help=f"models to time (default all: {', '.join(MODELS)})",
    )
    p.add_argument("--space", default="default", help="search space of the latency-cost check (default: default)")
    p.add_argument("--mape-archs", type=int, default=20, help="random architectures for the MAPE (0 skips it)")
    p.add_argument(
        "--statistic",
        choices=("median", "min"),
        default="median",
        help="summary of timed runs for the latency-cost check (default median)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights, prompts and sampled architectures")
    p.add_argument("--out", type=Path, default=None, help="write all results to this JSON file")
    p.add_argument("--worker", nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- one (model, precision) in its own process -------------------------------------------------
def memory_kb() -> dict[str, int]:
    """Current and peak resident set size of this process, in kB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":")
            out[key] = int(value.split()[0])
    return out


def release_memory() -> None:
    """Collect garbage, hand freed heap back to the OS and restart the peak-RSS counter."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    Path("/proc/self/clear_refs").write_text("5")


def build_model(name: str, seed: int):
    """(model, is_merino, vocab size) with random weights."""
    import torch

    if name in MERINO:
        from mpsolve.merino_model import build

        model = build(MERINO[name], seed=seed)
        return model.eval(), True, model.architecture.vocab_size
    import transformers

    config_class, kwargs = BASELINES[name]
    config = getattr(transformers, config_class)(**kwargs)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    return model.eval(), False, config.vocab_size


def linearize_conv1d(model) -> None:
    """Replace GPT-2's ``Conv1D`` (``x @ W + b``) by the equivalent ``nn.Linear`` so INT8 covers it."""
    import torch
    from transformers.pytorch_utils import Conv1D

    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                fan_in, fan_out = child.weight.shape
                linear = torch.nn.Linear(fan_in, fan_out)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.T)
                    linear.bias.copy_(child.bias)
                setattr(parent, child_name, linear)


def worker(name: str, precision: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from mpsolve.merino_model import compare_outputs, quantize

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    release_memory()
    baseline = memory_kb()["VmRSS"]
    model, is_merino, vocab = build_model(name, args.seed)
    params = sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, vocab, (1, args.seq_len), generator=generator)
    result: dict[str, Any] = {"model": name, "precision": precision, "params_m": params / 1e6}
    if precision == "int8":
        if not is_merino:
            linearize_conv1d(model)
        quantized = quantize(model, "int8")
        result["vs_fp32"] = compare_outputs(model, quantized, ids)
        del model
        model = quantized
    release_memory()
    result["rss_model_mb"] = (memory_kb()["VmRSS"] - baseline) / 1024

    def forward(input_ids, cache=None, use_cache=False):
        if is_merino:
            out = model(input_ids, past_key_values=cache, use_cache=use_cache, logits_to_keep=1)
            return out.logits, out.past_key_values
        out = model(input_ids=input_ids, cache=cache, use_cache=use_cache, logits_to_keep=1)
        return out.logits, out.cache

    def decode_ms() -> float:
        logits, cache = forward(ids, use_cache=True)
        start = time.perf_counter()
        for _ in range(args.new_tokens):
            logits, cache = forward(logits[:, -1].argmax(-1, keepdim=True), cache, use_cache=True)
        return 1000 * (time.perf_counter() - start)

    with torch.inference_mode():
        assert forward(ids)[0].shape == (1, 1, vocab)
        for _ in range(args.warmup):
            forward(ids)
        prefill = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            forward(ids)
            prefill.append(1000 * (time.perf_counter() - start))
        decode_ms()
        decode = [decode_ms() for _ in range(args.decode_repeats)]
    result.update(
        prefill_ms=statistics.median(prefill),
        prefill_ms_min=min(prefill),
        decode_ms=statistics.median(decode),
        decode_ms_min=min(decode),
        decode_ms_per_token=statistics.median(decode) / args.new_tokens,
        peak_mb=(memory_kb()["VmHWM"] - baseline) / 1024,
    )
    return result


def run_worker(name: str, precision: str, argv: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, *argv, "--worker", name, precision]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{name} {precision} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the latency cost against measurements -------------------------------------------------------
def latency_cost_check(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from mpsolve.costs import LatencyCost
    from mpsolve.merino_model import build, profile_latency
    from mpsolve.spaces import get_space

    space = get_space(args.space)
    start = time.perf_counter()
    profile = profile_latency(
        space,
        seq_len=args.seq_len,
        threads=args.threads,
        repeats=args.repeats,
        warmup=args.warmup,
        seed=args.seed,
        statistic=args.statistic,
    )
    profile_s = time.perf_counter() - start
    X = space.sample(args.mape_archs, random_state=args.seed)
    predicted = LatencyCost(profile).evaluate(space.decode_batch(X), space)
    summary = {"median": statistics.median, "min": min}[args.statistic]
    torch.set_num_threads(args.threads)
    ids = torch.randint(0, space.vocab_size, (1, args.seq_len), generator=torch.Generator().manual_seed(args.seed))
    measured = []
    with torch.inference_mode():
        for x in X:
            model = build(space.decode(x), seed=args.seed).eval()
            for _ in range(args.warmup):
                model(ids, logits_to_keep=1)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model(ids, logits_to_keep=1)
                times.append(1000 * (time.perf_counter() - t0))
            measured.append(summary(times))
    measured_arr = np.asarray(measured)
    errors = np.abs(predicted - measured_arr) / measured_arr
    return {
        "space": space.name,
        "profile_seconds": profile_s,
        "statistic": args.statistic,
        "architectures": [str(space.decode(x)) for x in X],
        "predicted_ms": predicted.tolist(),
        "measured_ms": measured,
        "mape_percent": float(100 * errors.mean()),
        "max_ape_percent": float(100 * errors.max()),
        "spearman": float(spearmanr(predicted, measured_arr).statistic),
    }


# -- report ----------------------------------------------------------------------------------------
def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nbatch 1, prompt {args.seq_len} tokens, {args.new_tokens} decoded tokens, {args.threads} thread(s); "
        f"median (min) of {args.repeats} prefill / {args.decode_repeats} decode runs"
    )
    header = (
        f"{'model':<12} {'prec':<5} {'params':>7} {'prefill ms':>17} {'decode ms':>17} {'ms/tok':>7} "
        f"{'model MB':>9} {'peak MB':>8} {'top-1':>6} {'paper ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        agree = f"{r['vs_fp32']['top1_agreement']:.3f}" if "vs_fp32" in r else ""
        print(
            f"{r['model']:<12} {r['precision']:<5} {r['params_m']:>6.1f}M "
            f"{r['prefill_ms']:>8.1f} ({r['prefill_ms_min']:>6.1f}) "
            f"{r['decode_ms']:>8.1f} ({r['decode_ms_min']:>6.1f}) "
            f"{r['decode_ms_per_token']:>7.2f} {r['rss_model_mb']:>9.0f} {r['peak_mb']:>8.0f} {agree:>6} "
            f"{PAPER_MS[r['model']] if r['precision'] == 'fp32' else '':>8}"
        )


def speedups(rows: list[dict[str, Any]]) -> dict[str, float]:
    by = {(r["model"], r["precision"]): r for r in rows}
    out = {}
    for precision in ("fp32", "int8"):
        a, b = by.get(("MeRino-64M", precision)), by.get(("OPT-350M", precision))
        if a and b:
            out[f"prefill_{precision}"] = b["prefill_ms"] / a["prefill_ms"]
            out[f"decode_{precision}"] = b["decode_ms"] / a["decode_ms"]
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args)))
        return 0
    passthrough = [  # the options a worker needs
        *("--threads", str(args.threads), "--repeats", str(args.repeats), "--warmup", str(args.warmup)),
        *("--decode-repeats", str(args.decode_repeats), "--seq-len", str(args.seq_len)),
        *("--new-tokens", str(args.new_tokens), "--seed", str(args.seed)),
    ]
    started = time.perf_counter()
    rows = []
    for name in args.models:
        for precision in ("fp32", "int8"):
            print(f"timing {name} {precision} ...", file=sys.stderr, flush=True)
            rows.append(run_worker(name, precision, passthrough))
    print_table(rows, args)
    ratio = speedups(rows)
    if ratio:
        print(
            f"\nMeRino-64M vs OPT-350M prefill speedup: {ratio['prefill_fp32']:.2f}x fp32, "
            f"{ratio['prefill_int8']:.2f}x int8 (goal >= 5x; the paper reports 559/114 = 4.9x on a Jetson Nano); "
            f"decode: {ratio['decode_fp32']:.2f}x fp32, {ratio['decode_int8']:.2f}x int8"
        )
    check = None
    if args.mape_archs:
        print(f"\nlatency cost on {args.mape_archs} random architectures of space {args.space!r} ...", file=sys.stderr)
        check = latency_cost_check(args)
        print(
            f"latency cost ({check['statistic']}): MAPE {check['mape_percent']:.1f}% "
            f"(max {check['max_ape_percent']:.1f}%), Spearman {check['spearman']:.3f} over "
            f"{len(check['measured_ms'])} architectures; profiling took {check['profile_seconds']:.0f} s"
        )
    elapsed = time.perf_counter() - started
    print(f"\ntotal {elapsed:.0f} s")
    if args.out:
        import torch

        from mpsolve.merino_model import device_info

        args.out.parent.mkdir(parents=True, exist_ok=True)
        results = {
            "settings": {k: v for k, v in vars(args).items() if k not in ("out", "worker")},
            "device": {**device_info(), "torch": torch.__version__},
            "models": rows,
            "speedup_merino64m_vs_opt350m": ratio,
            "latency_cost": check,
            "seconds": elapsed,
        }
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
