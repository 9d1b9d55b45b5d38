"""The torch-side subcommands: ``build`` and ``profile-latency``.

Importing this module is cheap: torch and transformers load only when a command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mpsolve import merino_model
from mpsolve.cli.parsing import CLIError
from mpsolve.costs import ParamsCost
from mpsolve.spaces import load_space, resolve_architecture
from mpsolve.utils.files import atomic_write, check_writable

__all__ = ["add_subcommands", "cmd_build", "cmd_profile_latency"]


def add_subcommands(subparsers: Any) -> None:
    """Add ``build`` and ``profile-latency``; each sets ``func(args) -> int``."""
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
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="checkpoint directory to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the weight initialisation (default 0)")
    p.add_argument("--init-std", type=float, default=0.02, help="std of the Gaussian weights (default 0.02)")
    p.set_defaults(func=cmd_build)

    p = subparsers.add_parser(
        "profile-latency",
        help="measure per-layer latencies on this machine for latency budgets",
        description="Time one application of every (E, F) layer of a search space, every projection, "
        "the embeddings and the LM head (prefill of --seq-len tokens, last-position logits), and write a "
        "device profile for latency budgets (--latency-profile FILE). Needs the [torch] extra.",
    )
    p.add_argument("--space", default="default", help="a preset space or a TOML space file (default: default)")
    p.add_argument("--seq-len", type=int, default=128, help="prompt length (default 128)")
    p.add_argument("--batch", type=int, default=1, help="prompts per forward (default 1)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs per entry; the median is kept (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs per entry (default 3)")
    p.add_argument(
        "--statistic",
        choices=("median", "min"),
        default="median",
        help="summary of the timed runs (default median; min on a machine busy with other work)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="device profile JSON to write")
    p.set_defaults(func=cmd_profile_latency)


def cmd_build(args: argparse.Namespace) -> int:
    """``mpsolve build``: write an untrained checkpoint and print a one-line summary."""
    if args.out.exists() and not args.out.is_dir():
        raise CLIError(f"--out {str(args.out)!r} is a file; a checkpoint is a folder: give a new or existing folder")
    check_writable(args.out / "config.json", "--out")
    arch = resolve_architecture(args.architecture)
    config = merino_model.MeRinoConfig.from_architecture(arch, initializer_range=args.init_std, init_seed=args.seed)
    merino_model.MeRinoHFForCausalLM(config).save_pretrained(args.out)
    print(f"wrote {args.out}: MeRino {arch} with {ParamsCost().of(arch) / 1e6:.2f}M parameters (seed {args.seed})")
    return 0


def cmd_profile_latency(args: argparse.Namespace) -> int:
    """``mpsolve profile-latency``: write a device profile and print where it went."""
    check_writable(args.out, "--out")
    profile = merino_model.profile_latency(
        load_space(args.space),
        seq_len=args.seq_len,
        batch=args.batch,
        threads=args.threads,
        repeats=args.repeats,
        warmup=args.warmup,
        progress=True,
        seed=args.seed,
        statistic=args.statistic,
    )
    atomic_write(args.out, json.dumps(profile, indent=2) + "\n")
    print(
        f"wrote {args.out}: {len(profile['layers'])} layer shapes, {len(profile['projections'])} projections, "
        f"{profile['threads']} thread(s), {profile['device']['cpu']}"
    )
    return 0
