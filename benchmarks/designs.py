"""Design quality end to end: the paper's Figure 5 in miniature (issue #6, part 4).

For each FLOPs budget, four designs of the byte-level ``byte-tiny`` space are trained from
scratch under the same token budget and compared by validation perplexity:

- ``entropy``: the entropy-optimal design, ``mpsolve.solve(Problem(space, MeRinoEntropy(...),
  [Budget('flops', X, seq_len=256)]), 'ea', seed=0)`` (options from ``--entropy-options``),
- ``entropy_provisional``: the same with the spec's provisional options (before calibration),
- ``params``: the design of the parameter-count proxy (``objective='params'``), same solver,
- ``uniform``: a naive scaled model, four identical blocks, the largest uniform design within
  the budget (ties: the widest).

Runs are cached as ``<out>/design_runs/<hash>.json``; re-running resumes.

    python benchmarks/designs.py                              # budgets 300M and 800M FLOPs
    python benchmarks/designs.py --entropy-options '{"penalty": "exp", "gamma": 8}'
    python benchmarks/designs.py --quick                      # smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

import mpsolve  # noqa: E402
from mpsolve.costs import FlopsCost  # noqa: E402

SPACE = "byte-tiny"
FLOPS_SEQ_LEN = 256


def uniform_design(budget: float) -> mpsolve.Architecture:
    """Four identical blocks: the largest FLOPs within ``budget`` (ties: widest, then deepest)."""
    space = mpsolve.get_space(SPACE)
    best = None
    for e in space.embed_dims:
        for r in space.ffn_ratios:
            for n in space.layers:
                blocks = tuple(mpsolve.Block(int(e), float(r), int(n)) for _ in range(space.num_blocks))
                arch = mpsolve.Architecture(blocks, vocab_size=space.vocab_size, embed_proj_dim=space.embed_proj_dim,
                                            max_positions=space.max_positions)
                f = FlopsCost(seq_len=FLOPS_SEQ_LEN).of(arch)
                if f <= budget and (best is None or (f, e, n) > best[0]):
                    best = ((f, e, n), arch)
    if best is None:
        raise SystemExit(f"no uniform design fits {budget:.3g} FLOPs")
    return best[1]


def designs(budget: float, entropy_options: dict[str, Any], seed: int) -> dict[str, mpsolve.Architecture]:
    space = mpsolve.get_space(SPACE)
    found = {}
    objectives = (("entropy", mpsolve.MeRinoEntropy(**entropy_options)),
                  ("entropy_provisional", mpsolve.MeRinoEntropy(**C.SPEC_PROVISIONAL_ENTROPY)), ("params", "params"))
    for label, objective in objectives:
        problem = mpsolve.Problem(space, objective, [mpsolve.Budget("flops", budget, seq_len=FLOPS_SEQ_LEN)])
        found[label] = mpsolve.solve(problem, "ea", seed=seed).architecture
    found["uniform"] = uniform_design(budget)
    return found


def plot(path: Path, rows: list[dict[str, Any]], budgets: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ("entropy", "entropy_provisional", "params", "uniform")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.2
    for j, label in enumerate(labels):
        vals = [np.mean([r["val_ppl"] for r in rows if r["budget"] == b and r["design"] == label] or [np.nan])
                for b in budgets]
        ax.bar(np.arange(len(budgets)) + (j - 1.5) * width, vals, width, label=label)
    ax.set_xticks(np.arange(len(budgets)), [f"{b / 1e6:g}M FLOPs" for b in budgets])
    ax.set_ylabel("validation perplexity (bytes)")
    lo = np.nanmin([r["val_ppl"] for r in rows]) if rows else 1
    ax.set_ylim(max(1.0, lo * 0.95), None)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=C.DEFAULT_CORPUS,
                   help="UTF-8 text file or folder, or 'python-docs' (default: the stdlib's English docs)")
    p.add_argument("--out", default=str(C.RESULTS), help="output folder (runs cached in OUT/design_runs)")
    p.add_argument("--budgets", default="300M,800M", help=f"FLOPs budgets (forward pass, seq {FLOPS_SEQ_LEN})")
    p.add_argument("--entropy-options", default="{}", help="JSON options of MeRinoEntropy (default: its defaults)")
    p.add_argument("--tokens", default="4M", help="training tokens (bytes) per model, same for all")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    p.add_argument("--solver-seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="training processes (one thread each)")
    p.add_argument("--quick", action="store_true", help="smoke test: one budget, a few steps")
    args = p.parse_args(argv)
    args.budgets = [float(C.parse_count(b)) for b in str(args.budgets).split(",")]
    args.seeds = [int(s) for s in str(args.seeds).split(",")]
    args.entropy_options = json.loads(args.entropy_options)
    if args.quick:
        args.budgets, args.tokens, args.seq_len, args.batch_size = [300e6], "6144", 64, 8
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = C.command_line("designs.py", argv)
    t0 = time.time()
    cfg = C.train_config(args)
    corpus = C.load_corpus(args.corpus)
    out = Path(args.out)
    jobs = []
    chosen = {}
    for budget in args.budgets:
        for label, arch in designs(budget, args.entropy_options, args.solver_seed).items():
            chosen[(budget, label)] = arch
            tags = {"budget": budget, "design": label}
            jobs += [C.Job(arch.to_dict(), cfg.to_dict(), s, args.corpus, str(out / "design_runs"), tags)
                     for s in args.seeds]
    results = {j.key: None for j in jobs}
    for r in C.run_jobs(jobs, workers=args.workers, desc="design runs"):
        results[r["key"]] = r
    flops = FlopsCost(seq_len=FLOPS_SEQ_LEN)
    rows = []
    for j in jobs:
        r = results[j.key]
        if r is None:
            continue
        rows.append({"budget": j.tags["budget"], "design": j.tags["design"], "seed": j.seed, "arch": r["arch_str"],
                     "params": r["params"],
                     "flops": flops.of(mpsolve.Architecture.from_dict(r["arch"])), "depth": r["depth"],
                     "val_loss": r["val_loss"],
                     "val_ppl": r["val_ppl"], "train_time_s": r["train_time_s"], "key": r["key"]})
    result = {"command": command, "train_config": cfg.to_dict(), "corpus": corpus.describe(),
              "entropy_options": mpsolve.MeRinoEntropy(**args.entropy_options).options(), "budgets": args.budgets,
              "flops_seq_len": FLOPS_SEQ_LEN, "git_commit": C.git_commit(), "runs": rows}
    stem = "designs_quick" if args.quick else "designs"
    C.write_json(out / f"{stem}.json", result)
    plot(out / f"{stem}.png", rows, args.budgets)
    lines = ["# Design quality end to end", "", f"Command: `{command}`", "",
             f"{cfg.tokens:,} training tokens per model on `{corpus.name}`; entropy options "
             f"`{json.dumps(args.entropy_options) or '{}'}` (library defaults where not given).", "",
             "| budget | design | architecture | params | MFLOPs | depth | val loss | val ppl |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['budget'] / 1e6:g}M | {r['design']} (seed {r['seed']}) | {r['arch']} | "
                     f"{r['params'] / 1e6:.2f}M | {r['flops'] / 1e6:.0f} | {r['depth']} | {r['val_loss']:.4f} | "
                     f"{r['val_ppl']:.3f} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[6:]))
    print(f"report in {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
