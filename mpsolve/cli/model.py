"""The torch-side subcommands: ``build``, ``train``, ``evaluate``, ``export``, ``generate``,
``profile-latency`` and ``latency``.

Importing this module is cheap: torch and transformers load only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from mpsolve import merino_model
from mpsolve.cli.parsing import CLIError, budgeted_options, check_outputs, design_file, path_arg, print_json
from mpsolve.costs import (
    PROFILE_PHASES,
    PROFILE_RUNTIMES,
    PROFILE_STATISTICS,
    MemoryCost,
    ParamsCost,
    latency_cost,
)
from mpsolve.spaces import load_space, resolve_architecture
from mpsolve.utils.errors import MpsolveError, shown
from mpsolve.utils.files import atomic_write, check_not_input, check_suffix, check_writable
from mpsolve.utils.quantities import format_quantity, parse_quantity
from mpsolve.utils.random import DEFAULT_SEED
from mpsolve.utils.validation import available_cpus, check_integer, check_run_time, check_threads

__all__ = ["add_subcommands", "cmd_build", "cmd_generate", "cmd_profile_latency"]

#: most untimed warm-up generations ``mpsolve generate`` runs before the timed one
MAX_WARMUP = 100


def add_subcommands(subparsers: Any) -> None:
    """Add ``build``, ``profile-latency``, ``train``, ``evaluate``, ``export`` and ``generate``; each sets
    ``func(args) -> int``."""
    p = subparsers.add_parser(
        "build",
        help="write an untrained, loadable MeRino checkpoint (Hugging Face format)",
        description="Build a MeRino model with seeded random weights and save it with save_pretrained "
        "(config.json + model.safetensors); load it with transformers' AutoModelForCausalLM after "
        "importing mpsolve.merino_model. Needs the [hf] extra.",
    )
    p.add_argument(
        "architecture",
        metavar="ARCH",
        help="an architecture preset (merino-52m, merino-61m, merino-64m) or a JSON file holding an "
        "architecture or a design result with an 'architecture' key",
    )
    p.add_argument("--out", required=True, type=path_arg, metavar="DIR", help="checkpoint directory to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the weight initialisation (default 0)")
    p.add_argument("--init-std", type=float, default=0.02, help="std of the Gaussian weights (default 0.02)")
    p.set_defaults(imports_runtimes=True, func=cmd_build, result_files=("--out",))

    p = subparsers.add_parser(
        "train",
        help="train a design from scratch on a UTF-8 corpus and save a Hugging Face checkpoint",
        description="AdamW with linear warm-up and linear decay (mpsolve.merino_model.TrainConfig), byte-level "
        "tokens (or a BPE vocabulary trained on the corpus with --bpe), periodic resumable checkpoints in "
        "OUT/checkpoint, and a loadable checkpoint (config.json + model.safetensors) in OUT. Needs the [hf] extra.",
    )
    p.add_argument("architecture", metavar="DESIGN", help="a preset, an architecture JSON or a design result JSON")
    p.add_argument("--corpus", required=True, type=path_arg,
                   help="a UTF-8 text file or a folder of text files (.txt/.md/.rst/.text or no suffix, subfolders "
                        "included; hidden files and folders, such as .git/, are skipped)")
    p.add_argument("--out", required=True, type=path_arg, metavar="DIR", help="run folder to write")
    p.add_argument("--tokens", default="4M", help="training tokens, e.g. 4M (default 4M)")
    p.add_argument("--seq-len", type=int, default=256, help="context length (default 256)")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per step (default 8)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    p.add_argument("--bpe", type=int, default=None, metavar="VOCAB",
                   help="train a BPE tokenizer of this size (256 up to the design's vocab_size)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation (default 0)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--save-every", type=int, default=None, metavar="STEPS",
                   help="also save the resumable checkpoint every this many steps (it is saved at 50, 75 and 100 %% "
                        "of the run, and on Ctrl-C)")
    p.set_defaults(imports_runtimes=True, func=cmd_train, result_files=("--out",))

    p = subparsers.add_parser(
        "evaluate",
        help="validation loss, perplexity and bits per byte of a checkpoint; lm-evaluation-harness tasks",
        description="With --corpus: held-out loss, perplexity and bits per byte. With --tasks: lm-evaluation-"
        "harness tasks (needs the [eval] extra), each a task YAML file (lm-eval's format, read as data: no "
        "!function, local data_files relative to the file, templates rendered in Jinja's sandbox) or the name of "
        "a task installed with lm-eval whose data is available offline. A generate_until task generates up to its "
        "max_gen_toks tokens (default: lm-eval's 256, or half the model's max_positions if fewer).",
    )
    p.add_argument("checkpoint", type=path_arg, metavar="DIR", help="a folder written by mpsolve train or build")
    p.add_argument("--corpus", default=None, type=path_arg,
                   help="the text file or folder, read as mpsolve train reads it (its held-out blocks are used)")
    p.add_argument("--seq-len", type=int, default=None,
                   help="context length of --corpus windows (default: the run's, from its training.json; else "
                        "256, or the model's max_positions if smaller)")
    p.add_argument("--tasks", default=None, help="comma-separated lm-eval task files (.yaml/.yml/.json) or names")
    p.add_argument("--limit", type=int, default=None, help="at most this many documents per task")
    p.add_argument("--num-fewshot", type=int, default=None, help="few-shot examples per prompt (task default)")
    p.add_argument("--seed", type=int, default=None, help="seed of lm-eval's sampling (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(imports_runtimes=True, func=cmd_evaluate)

    p = subparsers.add_parser("export", help="export a checkpoint to ONNX, verified in ONNX Runtime")
    p.add_argument("checkpoint", type=path_arg, metavar="DIR", help="a folder written by mpsolve train or build")
    p.add_argument("--onnx", required=True, type=path_arg, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--kv-cache", action="store_true", help="export the KV-cache graph for token-by-token decoding")
    p.add_argument("--logits", choices=("all", "last"), default="all",
                   help="every position's logits (default; scoring) or the last one's only (generation: the LM "
                   "head runs on one position, so the first token comes sooner)")
    p.add_argument("--opset", type=int, default=None,
                   help="the graph's ONNX opset, 17 or later (default: export_onnx's); for ONNX Runtime where memory "
                   "matters, give 23: it writes each attention as one Attention node, which ONNX Runtime runs in "
                   "less memory than the separate products and softmax of earlier opsets "
                   "(benchmarks/results/memory_onnx.md; mpsolve memory --runtime onnxruntime --opset N measures a "
                   "design)")
    p.add_argument("--lean", action="store_true",
                   help="store the tied embedding table once, as the LM head's weight: an ONNX Runtime session with "
                   "prepacking off (session option session.disable_prepacking=1; mpsolve's sessions set it from the "
                   "graph's metadata) then holds the table once instead of twice; a prompt takes longer and a "
                   "generated token less (measured, median of 12 designs: weights 0.611 of the default's, a "
                   "128-token prompt's time 1.154 times, a generated token's 0.878 times: "
                   "benchmarks/results/onnx_lean.md; mpsolve memory --runtime onnxruntime --lean measures a design)")
    p.add_argument("--int8", type=path_arg, default=None, metavar="FILE", help="also write an ORT dynamic-INT8 model")
    p.set_defaults(imports_runtimes=True, func=cmd_export, result_files=("--onnx",))

    p = subparsers.add_parser(
        "generate",
        help="continue a prompt with a checkpoint (torch) or an exported .onnx file (ONNX Runtime)",
        description="Stream the prompt and its continuation to stdout, then the time to the first token and per "
        "generated token to stderr (wall clock of this run, KV cache; not a benchmark: see mpsolve "
        "profile-latency). Greedy unless --sample. The tokenizer is the checkpoint's (bytes, or its "
        "tokenizer.json), or the one mpsolve export recorded in the .onnx file.",
    )
    p.add_argument("model", type=path_arg, metavar="MODEL",
                   help="a checkpoint folder (mpsolve train / build) or an .onnx file (mpsolve export)")
    p.add_argument("--prompt", required=True, help="the text to continue")
    p.add_argument("--max-new-tokens", type=int, default=64, help="tokens to generate (default 64)")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (default 1)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens")
    p.add_argument("--top-p", type=float, default=None, help="sample from the smallest set holding this probability")
    p.add_argument("--seed", type=int, default=None, help=f"seed of the sampling (default {DEFAULT_SEED})")
    p.add_argument("--tokenizer", type=path_arg, default=None, metavar="DIR",
                   help="take the tokenizer of this checkpoint folder (for an .onnx file that records none)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the runtime's choice)")
    p.add_argument("--warmup", type=int, default=1, metavar="N",
                   help="untimed generations of 2 tokens before the timed one, so that the first token's time "
                   f"leaves out first-call set-up (default 1, at most {MAX_WARMUP}; 0 times a cold call)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming the text")
    p.set_defaults(imports_runtimes=True, func=cmd_generate)

    p = subparsers.add_parser(
        "profile-latency",
        help="measure per-layer latencies on this machine for latency budgets",
        description="Time one application of every (E, F) layer of a search space (and, where the space shares "
        "its layers, 2 and more consecutive applications as the model runs them), every projection, the "
        "embeddings and the LM head in torch or ONNX Runtime, for a prefill of --seq-len tokens or for one "
        "decoded token with --seq-len positions in the KV cache, and write a device profile for latency "
        "budgets (latency_ms with --latency-profile FILE, decode_ms with --decode-profile FILE). Each entry "
        "is timed with torch.utils.benchmark.Timer; entries whose IQR exceeds 10% of the median are "
        "flagged noisy. Needs the [torch] extra ([onnx] for --runtime onnxruntime).",
    )
    p.add_argument("--space", default="default", help="a preset space or a TOML space file (default: default)")
    p.add_argument("--runtime", choices=PROFILE_RUNTIMES, default="torch", help="runtime to time (default torch)")
    p.add_argument(
        "--phase",
        choices=PROFILE_PHASES,
        default="prefill",
        help="prefill (per prompt) or decode (per generated token) (default prefill)",
    )
    p.add_argument(
        "--seq-len", type=int, default=128, help="prompt length, or tokens in the KV cache with --phase decode (128)"
    )
    p.add_argument("--batch", type=int, default=1, help="sequences per forward (default 1)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's choice)")
    p.add_argument("--min-run-time", type=float, default=0.2, metavar="S", help="seconds timed per entry (default 0.2)")
    p.add_argument(
        "--statistic",
        choices=PROFILE_STATISTICS,
        default="median",
        help="summary of the timed blocks (default median; min on a machine busy with other work)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)")
    p.add_argument(
        "--calibrate",
        type=int,
        default=merino_model.DEFAULT_CALIBRATION_DESIGNS,
        metavar="N",
        help="whole designs timed to fit the per-forward and per-layer overheads the components miss "
        f"(default {merino_model.DEFAULT_CALIBRATION_DESIGNS}; 0: none, else 3 to 256; its record in decode, with "
        "--no-fit-intercept: benchmarks/results/latency_slope*.md)",
    )
    p.add_argument(
        "--fit-intercept",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --calibrate, fit a per-forward term as well as the per-layer one (default); "
        "--no-fit-intercept fits the per-layer term alone",
    )
    p.add_argument("--out", required=True, type=path_arg, metavar="FILE", help="device profile JSON to write")
    p.add_argument(
        "--logits",
        choices=("all", "last"),
        default=None,
        help="onnxruntime: time the graph exported with --logits all (the default) or last; torch always keeps the "
        "last position's logits",
    )
    p.add_argument("--graph-dir", type=path_arg, default=None, metavar="DIR",
                   help="onnxruntime: keep the exported component graphs (and the calibration's design graphs) in DIR "
                   "and reuse them: a later profile of the same space and --seed, in either phase and at any "
                   "--seq-len, exports none of them again (the default space has 98 components, each an export)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="onnxruntime: export the components and --calibrate's designs (those --graph-dir does not "
                   "hold) in N processes at once, before any timing (default 1: one after another). Each process "
                   "first loads torch and its exporter (seconds), so a few graphs export faster in one: the default "
                   "space's 98 components took 268.8 s in all with 2, 367.2 s with 1 "
                   "(benchmarks/results/profile_latency_jobs.md)")
    p.add_argument("--lean", action="store_true",
                   help="onnxruntime: time the components as the graph exported with --lean runs them (prepacking "
                   "off, the table stored once), to predict a lean deployment. Measured on 20 random designs, one "
                   "thread, 128 tokens: the lean profile was off by 3.9 %% per prompt and 8.4 %% per generated "
                   "token (MAPE), the default graph's profile by 10.5 %% and 13.4 %% on the same lean timings "
                   "(benchmarks/results/latency_lean_s49.md)")
    p.add_argument("--int8", action="store_true",
                   help="onnxruntime: time every component's dynamic INT8 (as mpsolve export --int8 writes a design's "
                   "graph), to predict an INT8 deployment; not with --lean. Measured in two runs on 20 random designs, "
                   "one thread, 128 tokens: the INT8 profile was off by 2.4 %% and 3.5 %% per prompt, 13.4 %% and "
                   "6.7 %% per generated token (MAPE; in the first run the fp32 profile missed its own graphs per "
                   "token as much, 14.8 %%), the fp32 profile by 93.4 %% and 216.3 %% on the first run's INT8 timings "
                   "(benchmarks/results/latency_int8_s49.md, latency_int8_s49_r2.md); with two threads, two runs: "
                   "5.1 %% and 10.6 %% per prompt, 6.6 %% and 11.3 %% per generated token (latency_int8_t2_s49.md, "
                   "latency_int8_t2_s49_r2.md): check INT8 designs on the device with two threads")
    p.set_defaults(imports_runtimes=True, func=cmd_profile_latency, result_files=("--out",))

    p = subparsers.add_parser(
        "latency",
        help="time a design on this machine; with --profile, against its latency cost's prediction",
        description="Build a design with random weights and time it whole on the workload of profile-latency (a "
        "--seq-len-token prompt, or one generated token with --seq-len positions in the KV cache) in torch or ONNX "
        "Runtime, with torch.utils.benchmark.Timer on pinned threads. With --profile FILE it times the profile's "
        "workload and prints the prediction of the profile's latency cost (latency_ms or decode_ms) beside the "
        "measurement: check a design on the device before you ship it. Needs the [torch] extra ([onnx] for "
        "--runtime onnxruntime).",
    )
    p.add_argument("arch", help="a preset name, a design result JSON (mpsolve design --json) or an architecture JSON")
    p.add_argument("--profile", type=path_arg, metavar="FILE",
                   help="a device profile (mpsolve profile-latency): time its workload and compare with its prediction")
    p.add_argument("--runtime", choices=PROFILE_RUNTIMES, default=None,
                   help="runtime (default torch, or the profile's)")
    p.add_argument("--phase", choices=PROFILE_PHASES, default=None,
                   help="prefill (per prompt) or decode (per generated token) (default prefill, or the profile's)")
    p.add_argument("--seq-len", type=int, default=None,
                   help="prompt length, or tokens in the KV cache with --phase decode (default 128, or the profile's)")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads (default: torch's choice, or the profile's)")
    p.add_argument("--statistic", choices=PROFILE_STATISTICS, default=None,
                   help="summary of the timed blocks (default median, or the profile's)")
    p.add_argument("--min-run-time", type=float, default=1.0, metavar="S", help="seconds timed (default 1)")
    p.add_argument("--lean", action="store_true",
                   help="ONNX Runtime: the graph exported with --lean (its tied table stored once), in a session with "
                   "prepacking off, as it is deployed to hold its weights once (benchmarks/results/onnx_lean.md); "
                   "the workload of a profile made with --lean")
    p.add_argument("--int8", action="store_true",
                   help="ONNX Runtime: the graph's dynamic INT8 (mpsolve export --int8); the workload of a profile "
                   "made with --int8")
    p.add_argument("--graph-dir", type=path_arg, default=None, metavar="DIR",
                   help="onnxruntime: keep the design's exported graph (and its INT8) in DIR and reuse it: a later "
                   "timing of the same design and --seed exports nothing")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the random weights and inputs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(imports_runtimes=True, func=cmd_latency)

    p = subparsers.add_parser(
        "memory",
        help="measure a design's peak inference memory on this machine, against the memory cost's prediction",
        description="Build a design with random weights in a fresh process and measure its peak resident memory "
        "through a prefill of --seq-len tokens that fills its KV cache (torch fp32, one thread; Linux), or of its "
        "exported KV-cache graph in ONNX Runtime (--runtime onnxruntime), beside MemoryCost's prediction (the "
        "memory= budget; a design result is measured as its memory budget counts: its seq_len, batch_size and "
        "padded): check a design before you ship it. Measured against the prediction on "
        "many designs: benchmarks/results/memory_live_s42.md (the live tensors) and memory_glibc_s42.md (glibc's "
        "allocator as it is). Needs the [torch] extra ([onnx] for ONNX Runtime).",
    )
    p.add_argument("arch", help="a preset name, a design result JSON (mpsolve design --json) or an architecture JSON")
    p.add_argument("--seq-len", type=int, default=None,
                   help="tokens in the KV cache (default: the design result's memory budget's, else 1024, as memory=)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="prompts prefilled together (default: the design result's memory budget's, else 1)")
    p.add_argument("--padded", action=argparse.BooleanOptionalAction, default=None,
                   help="the prompts padded to one length, with an attention mask (torch; default: the design "
                   "result's memory budget's, else not)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the random weights and inputs")
    p.add_argument("--mmap-threshold", type=int, default=None, metavar="BYTES",
                   help="fix glibc's mmap threshold in the measuring process (e.g. 131072, as MALLOC_MMAP_THRESHOLD_ "
                   "does): freed tensors are returned at once, so the peak is the live tensors' the cost counts "
                   "(default: the allocator as it is, whose heap keeps freed tensors)")
    p.add_argument("--runtime", choices=PROFILE_RUNTIMES, default="torch",
                   help="torch (default), or onnxruntime on the design's exported KV-cache graph")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX Runtime: the exported graph's opset (default: export_onnx's; 23 writes one Attention "
                   "node, earlier ones separate products and softmax per head)")
    p.add_argument("--lean", action="store_true",
                   help="ONNX Runtime: the graph exported with --lean (its tied table stored once), in a session with "
                   "prepacking off, as it is deployed to hold its weights once (benchmarks/results/onnx_lean.md)")
    p.add_argument("--graph-dir", type=path_arg, default=None, metavar="DIR",
                   help="onnxruntime: keep the design's exported graph in DIR and reuse it: a later measurement of the "
                   "same design, --seed and graph exports nothing")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(imports_runtimes=True, func=cmd_memory)


def cmd_build(args: argparse.Namespace) -> int:
    """``mpsolve build``: write an untrained checkpoint and print a one-line summary."""
    if args.out.exists() and not args.out.is_dir():
        raise CLIError(f"--out {str(args.out)!r} is a file; a checkpoint is a folder: give a new or existing folder")
    merino_model.torch_seed(args.seed, optional=False)  # a seed torch keeps (said of the seed, not of a config)
    if not (math.isfinite(args.init_std) and 0 < args.init_std <= 1):  # said of the flag, not of the config's field
        raise CLIError(f"--init-std {args.init_std!r} is not an init std in (0, 1] (GPT-2 uses 0.02): give e.g. "
                       "--init-std 0.02")
    check_writable(args.out / "config.json", "--out")
    held = merino_model.run_files(args.out)
    if held:  # a new config beside another run's tokenizer or record would mislead every later command
        raise CLIError(f"--out {str(args.out)!r} already holds a checkpoint ({held[0]}): give a new folder")
    arch = resolve_architecture(args.architecture)
    config = merino_model.MeRinoConfig.from_architecture(arch, initializer_range=args.init_std, init_seed=args.seed)
    with merino_model.without_hf_progress_bars():  # the line below says what was written
        merino_model.MeRinoHFForCausalLM(config).save_pretrained(args.out)
    print(f"wrote {args.out}: MeRino {arch} with {ParamsCost().of(arch) / 1e6:.2f}M parameters (seed {args.seed})")
    return 0


def cmd_profile_latency(args: argparse.Namespace) -> int:
    """``mpsolve profile-latency``: write a device profile and print where it went."""
    check_writable(args.out, "--out")
    check_outputs({"--out": args.out}, {"--space": args.space})
    if not (args.fit_intercept or args.calibrate):
        raise CLIError("--no-fit-intercept shapes the calibration, and --calibrate is 0: add --calibrate N (3 to "
                       "256 designs), or drop --no-fit-intercept")
    _check_graph_flags({"lean": args.lean, "int8": args.int8}, args.runtime)
    _check_graph_dir(args.graph_dir, args.runtime)
    if args.jobs != 1 and args.runtime != "onnxruntime":
        raise CLIError("--jobs exports the components, which torch does not: give it with --runtime onnxruntime")
    if args.graph_dir is not None and args.graph_dir.resolve() == args.out.resolve():  # a folder made, --out failed
        raise CLIError(f"--graph-dir and --out are the same path {str(args.out)!r}: give the folder another")
    profile = merino_model.profile_latency(
        load_space(args.space),
        seq_len=args.seq_len,
        batch=args.batch,
        threads=args.threads,
        runtime=args.runtime,
        phase=args.phase,
        min_run_time=args.min_run_time,
        progress=True,
        seed=args.seed,
        statistic=args.statistic,
        calibrate=args.calibrate,
        logits=args.logits,
        fit_intercept=args.fit_intercept,
        lean=args.lean,
        int8=args.int8,
        graph_dir=args.graph_dir,
        jobs=args.jobs,
    )
    atomic_write(args.out, json.dumps(profile, indent=2) + "\n")
    print(
        f"wrote {args.out}: {args.runtime}{_graph_said(args.lean, args.int8)} {args.phase}, "
        f"{len(profile['layers'])} layer shapes, "
        f"{len(profile['projections'])} projections, {profile['threads']} thread(s), {profile['device']['cpu']}"
    )
    noisy = profile["noisy_entries"]
    if noisy:
        total = 2 + len(profile["layers"]) + len(profile["projections"])
        names = ", ".join(noisy[:5]) + (", ..." if len(noisy) > 5 else "")
        print(
            f"mpsolve: warning: {len(noisy)} of {total} entries are too noisy to trust (IQR above "
            f"{profile['noise_threshold']:.0%} of the median: {names}); "
            "the machine was busy: re-profile when it is idle"
            + (", or with --statistic min" if args.statistic != "min" else ""),
            file=sys.stderr,
        )
    return 0


def _check_graph_flags(flags: dict[str, bool], runtime: str) -> None:
    """Refuse ``--lean`` / ``--int8`` without ONNX Runtime, or both, in one line."""
    for flag, given in flags.items():
        if given and runtime != "onnxruntime":
            raise CLIError(f"--{flag} is the exported graph's: give it with --runtime onnxruntime")
    if all(flags.values()):
        raise CLIError("--lean and --int8 together are not timed (a lean graph's INT8 shares the head's weights with "
                       "the embedding): give one of them")


def _check_graph_dir(graph_dir: Path | None, runtime: str) -> None:
    """Refuse ``--graph-dir`` without ONNX Runtime, or naming a file, in one line, before any work."""
    if graph_dir is not None and runtime != "onnxruntime":
        raise CLIError("--graph-dir keeps the exported graphs: give it with --runtime onnxruntime")
    merino_model.check_graph_dir(graph_dir, "--graph-dir")


def _graph_name(lean: bool = False, int8: bool = False) -> str:
    """The ONNX graph a profile or a timing runs, as an error names it."""
    return "the lean ONNX graph" if lean else "the ONNX graph's INT8" if int8 else "the default ONNX graph"


def _graph_said(lean: bool = False, int8: bool = False) -> str:
    """The ONNX graph a timing ran, as the CLI says it after the runtime's name."""
    return " (lean graph)" if lean else " (INT8)" if int8 else ""


def cmd_latency(args: argparse.Namespace) -> int:
    """``mpsolve latency``: a design's measured latency, and its predicted one with ``--profile``."""
    arch = resolve_architecture(args.arch)
    check_integer(args.seed, "seed", 0, CLIError)
    given = {"runtime": args.runtime, "phase": args.phase, "seq_len": args.seq_len, "threads": args.threads,
             "statistic": args.statistic}
    workload: dict[str, Any] = {"runtime": "torch", "phase": "prefill", "seq_len": 128, "threads": None,
                                "statistic": "median", "batch": 1, "logits": None}
    cost = components = predicted = None
    graph = {"lean": args.lean, "int8": args.int8}
    if args.profile is not None:
        cost = latency_cost(args.profile)
        for flag, asked in graph.items():
            if asked and not cost.workload[flag]:  # first: --runtime onnxruntime would not help
                what = "torch's model" if cost.runtime == "torch" else _graph_name(cost.workload["lean"],
                                                                                     cost.workload["int8"])
                raise CLIError(f"the profile times {what}, and --{flag} {_graph_name(**{flag: True})}: drop --{flag} "
                               f"to time the profile's workload, or profile with --runtime onnxruntime --{flag}")
        graph = {flag: cost.workload[flag] for flag in graph}
        components = latency_cost(args.profile, calibrated=False) if cost.per_layer_ms or cost.calibration_ms else None
        profiled = {k: v for k, v in cost.workload.items() if v is not None and k not in graph}
        for key, value in given.items():
            if value is not None and key in profiled and value != profiled[key]:
                flag = "--" + key.replace("_", "-")
                raise CLIError(f"{flag} {value} differs from the profile's {profiled[key]}: drop {flag} to time the "
                               f"profile's workload, or profile again with {flag} {value}")
        workload.update(profiled)
        predicted = cost.of(arch)  # a design the profile cannot predict is refused before the timing
    workload.update({k: v for k, v in given.items() if v is not None})
    _check_graph_flags(graph, workload["runtime"])
    _check_graph_dir(args.graph_dir, workload["runtime"])
    cpus = available_cpus()
    if given["threads"] is None and workload["threads"] is not None and workload["threads"] > cpus:
        raise CLIError(f"the profile was measured on {workload['threads']} threads, more than the {cpus} "
                       "CPUs this process may run on: time the design where it was profiled, or profile this machine "
                       "(mpsolve profile-latency)")
    if workload["threads"] is not None:
        check_threads(workload["threads"])
    limit = arch.max_positions - (1 if workload["phase"] == "decode" else 0)
    if not 0 < workload["seq_len"] <= limit:
        source = ("--seq-len" if given["seq_len"] is not None else "the default --seq-len" if cost is None
                  else "the profile's seq_len")
        raise CLIError(f"{source} {workload['seq_len']} is outside 1..{limit} for this architecture (max_positions "
                       f"{arch.max_positions}{' less the decoded token' if workload['phase'] == 'decode' else ''})")
    check_run_time(args.min_run_time, "--min-run-time", CLIError)
    measured = merino_model.design_latency(arch, min_run_time=args.min_run_time, seed=args.seed, **graph,
                                           graph_dir=args.graph_dir, **workload)
    payload: dict[str, Any] = {"architecture": arch.to_dict(), "workload": workload, **graph, "measured": measured}
    if predicted is not None:
        payload["profile"] = str(args.profile)
        payload["predicted_ms"] = predicted
        payload["error_percent"] = 100 * (predicted - measured["ms"]) / measured["ms"]
        if components is not None:
            payload["components_ms"] = components.of(arch)
    if args.json:
        print_json(payload)
        return 0
    what = (f"a {workload['seq_len']}-token prompt" if workload["phase"] == "prefill"
            else f"one token at {workload['seq_len']} cached positions")
    threads = workload["threads"] or f"{workload['runtime']}'s default"
    print(f"{arch}")
    print(f"measured   {measured['ms']:.2f} ms (IQR {measured['iqr_ms']:.2f}, {measured['blocks']} blocks, "
          f"{workload['statistic']} of blocks): {workload['runtime']}{_graph_said(**graph)} "
          f"{workload['phase']}, {what}, {threads} thread(s)")
    if predicted is not None:
        print(f"predicted  {payload['predicted_ms']:.2f} ms by {args.profile} ({payload['error_percent']:+.1f} %)"
              + (f"; component sum {payload['components_ms']:.2f} ms" if components is not None else ""))
    if measured["noisy"]:
        print(f"mpsolve: warning: the timed blocks spread more than {merino_model.NOISE_THRESHOLD:.0%} of their "
              "median: the machine is busy; measure again when it is idle"
              + (", or with --statistic min" if workload["statistic"] != "min" else ""), file=sys.stderr)
    return 0


def cmd_memory(args: argparse.Namespace) -> int:
    """``mpsolve memory``: a design's measured peak inference memory against its memory cost."""
    data = design_file(args.arch)
    arch = resolve_architecture(args.arch if data is None else data)
    # a design result is measured as its (first) memory budget counted, else as the cost's defaults
    budgeted = next((options for cost, options in budgeted_options(data) if cost == "memory"), {})
    default = MemoryCost()
    seq_len, batch_size, padded = (given if given is not None else budgeted.get(key, getattr(default, key))
                                   for given, key in ((args.seq_len, "seq_len"), (args.batch_size, "batch_size"),
                                                      (args.padded, "padded")))
    flags = {"seq_len": "--seq-len", "batch_size": "--batch-size", "padded": "--padded or --no-padded"}
    for key, flag in flags.items():  # an option of the result's refused as the result's, naming the flag over it
        if getattr(args, key) is None and key in budgeted:
            try:
                MemoryCost(**{key: budgeted[key]})
            except MpsolveError as exc:
                raise CLIError(f"the design result's memory budget has {key} {budgeted[key]!r}, which the memory "
                               f"cost refuses ({exc}): give {flag}") from None
    predicted = MemoryCost(seq_len=seq_len, batch_size=batch_size, padded=padded).of(arch)  # bad values refused
    widths = [f"{k}={shown(budgeted[k])}" for k in ("bytes_per_param", "bytes_per_activation")
              if k in budgeted and budgeted[k] != getattr(default, k)]
    if widths:  # measured in fp32: the prediction shown is fp32's, not the budget's
        print(f"note: {args.arch} budgets memory with {', '.join(widths)}; measured here in fp32 and predicted with "
              f"{default.bytes_per_param:g} bytes per value, so the prediction is not the budgeted cost",
              file=sys.stderr)
    for flag, given in (("--opset", args.opset is not None), ("--lean", args.lean)):
        if given and args.runtime != "onnxruntime":
            raise CLIError(f"{flag} is the exported graph's: give it with --runtime onnxruntime")
    _check_graph_dir(args.graph_dir, args.runtime)
    if padded and args.runtime != "torch":
        raise CLIError("a padded batch needs an attention mask, which the exported graph does not take: measure it "
                       "with --runtime torch, or give --no-padded")
    measured = merino_model.design_memory(arch, seq_len, batch_size=batch_size, padded=padded, seed=args.seed,
                                          mmap_threshold=args.mmap_threshold, runtime=args.runtime, opset=args.opset,
                                          lean=args.lean, graph_dir=args.graph_dir)
    onnx = args.runtime == "onnxruntime"
    opset = measured.pop("opset", None)
    measured.pop("lean", None)
    payload = {"architecture": arch.to_dict(), "seq_len": seq_len, "batch_size": batch_size, "padded": padded,
               "runtime": args.runtime, "opset": opset, "lean": args.lean,
               "mmap_threshold": args.mmap_threshold, "measured": measured, "predicted": predicted,
               "ratio": measured["peak"] / predicted}
    if args.json:
        print_json(payload)
        return 0
    where = f"ONNX Runtime (opset {opset}{', lean' if args.lean else ''} graph)" if onnx else "torch"
    print(f"{arch}")
    print(f"measured   {format_quantity(measured['peak'])}B peak ({format_quantity(measured['weights'])}B of weights): "
          f"{where} fp32 prefill of {seq_len} tokens, batch {batch_size}{', padded' if padded else ''}, one thread, "
          + ("the allocator as it is" if args.mmap_threshold is None else f"mmap threshold {args.mmap_threshold} B"))
    options = ", ".join(f"{k}={v}" for k, v in (("seq_len", seq_len), ("batch_size", batch_size), ("padded", padded))
                        if k == "seq_len" or v != getattr(default, k))
    print(f"predicted  {format_quantity(predicted)}B by MemoryCost({options}) (measured / predicted "
          f"{payload['ratio']:.3f})")
    if onnx:
        table = ("once (a lean graph, prepacking off)" if args.lean else
                 "twice (the table and the head's transpose; --lean holds it once)")
        print(f"note: the cost counts torch's model; ONNX Runtime holds the tied embedding {table} and the graph's "
              "attention scores, "
              + ("one Attention node's" if opset >= 23 else "as separate products and softmax per head (--opset 23 "
                 "writes one Attention node)") + ": see benchmarks/results/memory_onnx.md")
    elif args.mmap_threshold is None:
        print("note: the cost counts the live tensors; an allocator may keep freed ones (glibc's heap does): "
              "--mmap-threshold 131072 measures without glibc's")
    return 0


def _load_checkpoint(path: Path) -> Any:
    if not (path / "config.json").is_file():
        raise CLIError(f"{str(path)!r} is not a checkpoint folder (no config.json): write one with mpsolve train")
    from transformers.utils import logging

    logging.disable_progress_bar()  # transformers' "Loading weights" bar: noise before every line on stderr
    return merino_model.MeRinoHFForCausalLM.from_pretrained(path).model.eval()


def _tokenized(corpus: Any, folder: Path) -> Any:
    """The corpus in the checkpoint's vocabulary (bytes, or the BPE tokenizer saved beside it)."""
    tokenizer = merino_model.checkpoint_bpe_tokenizer(folder)
    return corpus if tokenizer is None else corpus.encode(tokenizer)


def cmd_train(args: argparse.Namespace) -> int:
    """``mpsolve train``: train a design and print where the checkpoint went."""
    if args.out.exists() and not args.out.is_dir():
        raise CLIError(f"--out {str(args.out)!r} is a file; a run is a folder")
    check_writable(args.out / "config.json", "--out")
    check_integer(args.seed, "seed", 0, CLIError)
    if args.save_every is not None:
        check_integer(args.save_every, "--save-every", 1, CLIError)
    tokens = parse_quantity(args.tokens)
    if not (math.isfinite(tokens) and tokens == int(tokens)):
        raise CLIError(f"--tokens must be a whole number of tokens, e.g. 4M, got {args.tokens!r}")
    config = merino_model.TrainConfig(tokens=int(tokens), seq_len=args.seq_len, batch_size=args.batch_size,
                                      lr=args.lr)
    merino_model.check_run_folder(args.out, args.resume)  # before the corpus is read and its tokenizer trained
    arch = merino_model.check_train_setup(resolve_architecture(args.architecture), config, args.seed)  # so are these
    if args.bpe is not None and args.bpe > arch.vocab_size:
        raise CLIError(f"--bpe {args.bpe} exceeds the design's vocab_size {arch.vocab_size}: give --bpe <= "
                       f"{arch.vocab_size} (and >= 256), or a design with a larger vocab_size")
    corpus = merino_model.load_corpus(args.corpus)
    if args.bpe is not None:
        tokenizer = merino_model.train_bpe_tokenizer(corpus, vocab_size=args.bpe)
        if tokenizer.get_vocab_size() < args.bpe:
            print(f"note: the corpus gave a BPE vocabulary of {tokenizer.get_vocab_size()} tokens, fewer than --bpe "
                  f"{args.bpe} (no more pairs to merge); the design keeps vocab_size {arch.vocab_size}",
                  file=sys.stderr)
        corpus = corpus.encode(tokenizer)
    run = merino_model.train(arch, corpus, config, out_dir=args.out, resume=args.resume,
                             progress=sys.stderr.isatty(), seed=args.seed, save_every=args.save_every)
    final = run.evaluations[-1] if run.evaluations else {}
    print(f"wrote {args.out}: {run.steps} steps, validation loss {final.get('val_loss', float('nan')):.4f}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``mpsolve evaluate``: the held-out quality of a checkpoint."""
    if args.corpus is None and args.tasks is None:
        raise CLIError("evaluate needs --corpus (held-out loss) or --tasks (lm-evaluation-harness), or both")
    for flag, least, needs in (("limit", 1, "tasks"), ("num_fewshot", 0, "tasks"), ("seed", 0, "tasks"),
                               ("seq_len", 2, "corpus")):  # one condition said at a time (before: both, always)
        value = getattr(args, flag)
        if value is not None and getattr(args, needs) is None:
            raise CLIError(f"--{flag.replace('_', '-')} is for --{needs}, which is not given: add --{needs}, or drop "
                           f"--{flag.replace('_', '-')}")
        if value is not None and value < least:
            raise CLIError(f"--{flag.replace('_', '-')} must be >= {least}, got {value}")
    tasks = [_task(t) for t in args.tasks.split(",") if t.strip()] if args.tasks is not None else []
    if args.tasks is not None and not tasks:
        raise CLIError("--tasks is empty: give task files or names, comma-separated")
    merino_model.check_task_names(tasks)  # before the model loads
    model = _load_checkpoint(args.checkpoint)
    report: dict[str, Any] = {}
    if args.corpus is not None:
        positions = model.architecture.max_positions
        if args.seq_len is not None and args.seq_len > positions:
            raise CLIError(f"--seq-len {args.seq_len} exceeds the checkpoint's max_positions {positions}: give "
                           f"--seq-len {positions} or less")
        seq_len = _evaluation_seq_len(args, positions)
        corpus = _tokenized(merino_model.load_corpus(args.corpus), args.checkpoint)
        try:
            report = {"seq_len": seq_len, **merino_model.evaluate(model, corpus, seq_len=seq_len)}
        except merino_model.ModelInputError as exc:
            if args.seq_len is not None or "seq_len" not in str(exc):
                raise
            raise CLIError(f"{exc} (seq_len {seq_len} is the default here: give --seq-len)") from None
    if tasks:
        hf = merino_model.MeRinoHFForCausalLM.from_model(model)
        report["tasks"] = merino_model.lm_eval_tasks(hf, merino_model.checkpoint_tokenizer(args.checkpoint), tasks,
                                                     limit=args.limit, num_fewshot=args.num_fewshot, seed=args.seed)
    if args.json:
        print_json(report)
        return 0
    for key, value in report.items():
        if key == "tasks":
            for task, metrics in value.items():
                for metric, number in metrics.items():
                    print(f"{task} {metric:<16} {number:.6g}")
        else:
            print(f"{key:<16} {value:.6g}" if isinstance(value, float) else f"{key:<16} {value}")
    return 0


def _evaluation_seq_len(args: argparse.Namespace, positions: int) -> int:
    """``--seq-len``, else the run's own (``training.json``: its validation windows), else 256 or
    the model's ``max_positions`` if smaller (noted when the run's record holds no usable one)."""
    if args.seq_len is not None:
        return args.seq_len
    trained = merino_model.trained_seq_len(args.checkpoint)
    if trained is not None and trained <= positions:
        return trained
    fallback = min(256, positions)
    if (args.checkpoint / "training.json").is_file():
        print(f"note: {str(args.checkpoint / 'training.json')!r} records no usable seq_len (an integer from 2 to "
              f"max_positions {positions}); evaluating windows of {fallback} tokens (give --seq-len)", file=sys.stderr)
    return fallback


def _task(spec: str) -> str | dict[str, Any]:
    """A task file read as data (any path that exists, whatever its suffix), or an installed task's name."""
    spec = spec.strip()
    if merino_model.is_task_file(spec):
        return merino_model.load_task_file(Path(spec))
    return spec


def cmd_export(args: argparse.Namespace) -> int:
    """``mpsolve export``: write the ONNX graph(s) and print the check against torch."""
    if args.int8 is not None:
        check_not_input(args.int8, "--int8", {"the --onnx file": args.onnx}, CLIError)
        for inner, outer in (("--int8", "--onnx"), ("--onnx", "--int8")):  # one file would stand in the other's path
            given = {"--onnx": str(args.onnx), "--int8": str(args.int8)}  # quoted as PosixPath('...') before
            if Path(given[outer]).resolve() in Path(given[inner]).resolve().parents:
                raise CLIError(f"{inner} {given[inner]!r} lies inside the {outer} file's path {given[outer]!r}: "
                               f"give {inner} a path of its own")
    for path, flag in ((args.onnx, "--onnx"), (args.int8, "--int8")):
        if path is not None:
            check_writable(path, flag)
            check_suffix(path, ".onnx", flag)  # before the checkpoint loads
    model = _load_checkpoint(args.checkpoint)
    tokenizer = merino_model.checkpoint_bpe_tokenizer(args.checkpoint) or "bytes"
    opset = {} if args.opset is None else {"opset": args.opset}
    path = merino_model.export_onnx(model, args.onnx, kv_cache=args.kv_cache, tokenizer=tokenizer, logits=args.logits,
                                    lean=args.lean, **opset)
    report = merino_model.verify_onnx(model, path, decode_steps=16 if args.kv_cache else 0)
    print(f"wrote {path}: ONNX Runtime vs torch max abs diff {report['prefill_max_abs_diff']:.3g} (prefill)"
          + (f", {report['decode_max_abs_diff']:.3g} (16 decode steps)" if args.kv_cache else ""))
    if args.int8 is not None:
        merino_model.quantize_onnx(path, args.int8)
        print(f"wrote {args.int8}: dynamic INT8")
    if args.lean:
        print("lean: load it with prepacking off (session option session.disable_prepacking = 1; mpsolve's sessions "
              "do) and ONNX Runtime holds its tied table once")
    return 0


class _Clock:
    """A streamer that notes when the prompt and each step's tokens arrive, and passes them on."""

    def __init__(self, inner: Any = None) -> None:
        self.inner, self.times = inner, []  # perf_counter of the prompt, then of every step

    def put(self, value: Any) -> None:
        self.times.append(time.perf_counter())
        if self.inner is not None:
            self.inner.put(value)

    def end(self) -> None:
        if self.inner is not None:
            self.inner.end()


def cmd_generate(args: argparse.Namespace) -> int:
    """``mpsolve generate``: stream a continuation of ``--prompt`` and its timing."""
    import torch

    check_integer(args.max_new_tokens, "--max-new-tokens", 0, CLIError)
    check_integer(args.warmup, "--warmup", 0, CLIError)
    if args.warmup > MAX_WARMUP:
        raise CLIError(f"--warmup {args.warmup} is more than the {MAX_WARMUP} warm-up runs allowed (one leaves out "
                       f"the first call's set-up; more measure nothing more): give at most {MAX_WARMUP}")
    shaping = [f for f, v in (("--temperature", args.temperature), ("--top-k", args.top_k), ("--top-p", args.top_p),
                              ("--seed", args.seed)) if v is not None]
    if shaping and not args.sample:
        raise CLIError(f"{', '.join(shaping)} shape(s) sampling, and greedy decoding would ignore them: add --sample")
    threads = None if args.threads is None else check_threads(args.threads, CLIError)
    try:
        args.prompt.encode("utf-8")
    except UnicodeEncodeError:  # bytes the terminal's encoding could not decode arrive as surrogates
        raise CLIError("--prompt is not valid UTF-8 text: give the prompt in UTF-8") from None
    onnx = args.model.suffix.lower() == ".onnx"
    if not onnx and not args.model.is_dir():
        raise CLIError(f"{str(args.model)!r} is neither a checkpoint folder nor an .onnx file: give the folder "
                       "mpsolve train / build wrote or the file mpsolve export wrote")
    if onnx:
        model: Any = merino_model.onnx_session(args.model, threads)
        tokenizer = merino_model.onnx_tokenizer(model)
        if args.tokenizer is not None:
            if tokenizer is not None:
                raise CLIError(f"{str(args.model)!r} records the tokenizer it was exported with: drop --tokenizer, "
                               "which is for .onnx files that record none")
            if args.tokenizer.is_dir() and not (args.tokenizer / "config.json").is_file():  # else bytes, unsaid
                raise CLIError(f"--tokenizer {str(args.tokenizer)!r} is not a checkpoint folder (no config.json): "
                               f"give the folder {str(args.model)!r} was exported from")
            tokenizer = merino_model.checkpoint_tokenizer(args.tokenizer)
        if tokenizer is None:
            raise CLIError(f"{str(args.model)!r} records no tokenizer (it was not written by mpsolve export): pass "
                           "--tokenizer with the checkpoint folder it was exported from")
        vocab = model.get_outputs()[0].shape[-1]
        if args.tokenizer is not None and isinstance(vocab, int) and len(tokenizer) > vocab:
            raise CLIError(f"--tokenizer {str(args.tokenizer)!r} has {len(tokenizer)} tokens, more than the {vocab} of "
                           f"{str(args.model)!r}: give the checkpoint folder the graph was exported from")
    else:
        if args.tokenizer is not None:  # a checkpoint's own tokenizer is the one its weights were trained with
            raise CLIError(f"--tokenizer is for an .onnx file that records no tokenizer; {str(args.model)!r} is a "
                           "checkpoint folder, whose own tokenizer is used: drop --tokenizer")
        model = _load_checkpoint(args.model)
        tokenizer = merino_model.checkpoint_tokenizer(args.model)
        vocab = model.architecture.vocab_size
    with merino_model.tokenizer_panics("the tokenizer, on --prompt,", "restore the checkpoint's tokenizer.json"):
        ids = tokenizer.encode(args.prompt, add_special_tokens=False)
    if not ids:
        raise CLIError("--prompt is empty: give some text to continue")
    temperature = 1.0 if args.temperature is None else args.temperature
    settings = {"do_sample": args.sample, "temperature": temperature, "top_k": args.top_k, "top_p": args.top_p,
                "seed": DEFAULT_SEED if args.seed is None else args.seed, "eos_token_id": tokenizer.eos_token_id}
    printer = None
    if not args.json:
        from transformers import TextStreamer

        printer = TextStreamer(tokenizer)

    def run(max_new_tokens: int, streamer: Any) -> Any:
        if onnx:
            return merino_model.onnx_generate(model, [ids], max_new_tokens, streamer=streamer, **settings)[0]
        with torch.inference_mode():
            return model.generate(torch.tensor([ids]), max_new_tokens, streamer=streamer, **settings)[0]

    clock = _Clock(printer)
    warmup = args.warmup if args.max_new_tokens else 0
    previous = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        for _ in range(warmup):
            run(min(2, args.max_new_tokens), None)
        out = run(args.max_new_tokens, clock)
    finally:
        torch.set_num_threads(previous)
    new = [int(t) for t in out[len(ids):]]
    gaps = [b - a for a, b in zip(clock.times[1:], clock.times[2:])]
    report = {
        "model": str(args.model),
        "runtime": "onnxruntime" if onnx else "torch",
        "threads": threads or previous,
        "warmup": warmup,
        "prompt_tokens": len(ids),
        "new_tokens": len(new),
        "text": tokenizer.decode(new),
        "ids": new,
        "time_to_first_token_ms": 1000 * (clock.times[1] - clock.times[0]) if new else None,
        "ms_per_token": 1000 * sum(gaps) / len(gaps) if gaps else None,
    }
    unknown = sum(t >= len(tokenizer) for t in new)
    if unknown:
        print(f"note: {unknown} of {len(new)} generated ids are not in the tokenizer's {len(tokenizer)} tokens (the "
              f"model's vocabulary has {vocab}: untrained, or trained with another tokenizer); they print as nothing",
              file=sys.stderr)
    if args.json:
        print_json(report)
        return 0
    timing = (f"{report['new_tokens']} tokens, {report['runtime']}, {report['threads']} thread(s), "
              + (f"after {warmup} warm-up run(s)" if warmup else "cold (first call's set-up included)"))
    if new:
        timing += f": first token after {report['time_to_first_token_ms']:.1f} ms ({len(ids)}-token prompt)"
    if gaps:
        timing += f", then {report['ms_per_token']:.1f} ms per token"
    print(timing, file=sys.stderr)
    return 0

