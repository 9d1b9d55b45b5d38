"""Does the ranking of an iso-FLOPs group move with the token budget? (issue #14, part 0)

The proxy benchmark trains every model on 4 M bytes, five orders of magnitude less than the
paper, and at that budget shallow-and-wide models win. Deeper models are known to need more
data, so this script trains one iso-FLOPs group of architectures (spanning depth) with a
separate *full* schedule (warm-up, linear decay) at each token budget, and reports how the
within-group Spearman of each training-free score against negative validation perplexity moves
with the budget, with bootstrap intervals and the paired difference entropy - params.

The default corpus is the kernel documentation (``linux-doc``, about 20 M training bytes), so
that a 16 M-byte run sees each byte at most once. Runs are trained budget by budget (every
architecture at the smallest budget first), cached as ``<out>/token_budget_runs/<hash>.json``,
and re-running resumes.

    python benchmarks/token_budget.py                     # group 0 of the proxy sample, 2/4/8/16 M
    python benchmarks/token_budget.py --no-train          # report on the runs finished so far
    python benchmarks/token_budget.py --quick             # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import proxy_correlation as P  # noqa: E402

from mpsolve import Architecture, MeRinoEntropy, MpsolveError  # noqa: E402
from mpsolve.utils.files import parse_data, read_text_bounded  # noqa: E402

#: what a run writes into ``--out`` besides the cached runs
REPORT_FILES = ("token_budget.json", "token_budget.md", "token_budget.png")


def analyse(rows: list[dict[str, Any]], n_boot: int) -> dict[str, Any]:
    """Spearman of every score against -val ppl among ``rows`` (one seed, one budget)."""
    out: dict[str, Any] = {"n": len(rows), "scores": {}}
    if len(rows) < 3:
        return out
    archs = [Architecture.from_dict(r["arch"]) for r in rows]
    quality = -np.array([r["val_ppl"] for r in rows])
    scores = P.study_scores(archs, MeRinoEntropy())
    params = "params"
    for name, score in scores.items():
        entry = {"spearman": P.spearman(score, quality), "kendall": P.kendall(score, quality)}
        if n_boot:
            entry["spearman_ci"] = P.bootstrap(P.spearman, score, quality, None, n_boot)
            if name != params:
                entry["minus_params"] = P.paired_bootstrap(P.spearman, score, scores[params], quality, None, n_boot)
        out["scores"][name] = entry
    return out


def report(args: argparse.Namespace, members: list[dict[str, Any]], runs: dict[tuple[str, int], dict[str, Any]],
           configs: dict[int, C.TrainConfig], corpus: C.Corpus, command: str) -> dict[str, Any]:
    out = Path(args.out)
    result: dict[str, Any] = {"command": command, "git_commit": C.git_commit(), "corpus": corpus.describe(),
                              "group": args.group, "budgets": {}, "architectures": []}
    for m in members:
        arch = Architecture.from_dict(m["arch"])
        losses = {}
        for tokens, cfg in configs.items():
            for seed in (0, 1):
                r = runs.get((C.run_key(m["arch"], cfg.to_dict(), 0, corpus.fingerprint), seed))
                if r is not None:
                    losses[f"{tokens}/{seed}"] = r["val_loss"]
        result["architectures"].append({"arch": str(arch), "depth": arch.depth, "val_loss": losses,
                                        **C.arch_costs(arch, configs[min(configs)].seq_len)})
    for tokens, cfg in configs.items():
        rows = [runs[k] for k in ((C.run_key(m["arch"], cfg.to_dict(), 0, corpus.fingerprint), 0) for m in members)
                if k in runs and np.isfinite(runs[k]["val_loss"])]
        entry = analyse(rows, args.bootstrap)
        entry["complete"] = len(rows) == len(members)
        pairs = [(runs[(k, 0)]["val_loss"], runs[(k, 1)]["val_loss"])
                 for k in (C.run_key(m["arch"], cfg.to_dict(), 0, corpus.fingerprint) for m in members)
                 if (k, 0) in runs and (k, 1) in runs]
        if pairs:
            diff = np.abs(np.subtract(*np.array(pairs).T))
            entry["seed_noise"] = {"pairs": len(pairs), "mean_abs_diff_nats": float(diff.mean()),
                                   "max_abs_diff_nats": float(diff.max())}
        if rows:
            entry["loss_sd_nats"] = float(np.std([r["val_loss"] for r in rows], ddof=1)) if len(rows) > 1 else None
        result["budgets"][str(tokens)] = entry
    C.write_json(out / "token_budget.json", result)
    (out / "token_budget.md").write_text(markdown(result))
    plot(out / "token_budget.png", result, configs)
    return result


def markdown(result: dict[str, Any]) -> str:
    budgets = result["budgets"]
    lines = ["# Token-budget study", "",
             f"Corpus `{result['corpus']['name']}` (fingerprint {result['corpus']['fingerprint']}, "
             f"{result['corpus']['train_bytes']:,} train / {result['corpus']['val_bytes']:,} val bytes); "
             f"architectures: group {result['group']} of `proxy_architectures.json`; a full schedule per budget. "
             f"Commit {result['git_commit'][:10]}.", "", f"Command: `{result['command']}`", "",
             "Spearman of each score against -validation perplexity within the group, 95 % bootstrap "
             "interval over architectures; `- params`: paired bootstrap of the Spearman difference to params "
             "(same resamples).", ""]
    names = next((list(b["scores"]) for b in budgets.values() if b["scores"]), [])
    head = " | ".join(f"{int(t) / 1e6:g} M bytes ({b['n']} runs{'' if b['complete'] else ', partial'})"
                      for t, b in budgets.items())
    lines += [f"| score | {head} |", "|---|" + "---|" * len(budgets)]
    for name in names:
        cells = []
        for b in budgets.values():
            s = b["scores"].get(name)
            if s is None:
                cells.append("n/a")
                continue
            cell = P.fmt(s["spearman"], s.get("spearman_ci"))
            if "minus_params" in s:
                cell += f"; - params {P.fmt(s['minus_params']['mean'], s['minus_params']['ci'])}"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| budget | within-group sd of val loss | seed noise (abs(seed 0 - seed 1), mean / max) |",
              "|---|---|---|"]
    for t, b in budgets.items():
        noise = b.get("seed_noise")
        cell = f"{noise['mean_abs_diff_nats']:.4f} / {noise['max_abs_diff_nats']:.4f} nats ({noise['pairs']} pairs)" \
            if noise else "n/a"
        sd = b.get("loss_sd_nats")
        lines.append(f"| {int(t) / 1e6:g} M | {'n/a' if sd is None else f'{sd:.3f} nats'} | {cell} |")
    lines += ["", "## Validation loss (nats/byte) per architecture, budget and seed", "",
              "| architecture | depth | params | " + " | ".join(f"{int(t) / 1e6:g} M" for t in budgets) + " |",
              "|---|---|---|" + "---|" * len(budgets)]
    for a in sorted(result["architectures"], key=lambda a: a["depth"]):
        cells = []
        for t in budgets:
            vals = [f"{a['val_loss'][f'{t}/{s}']:.3f}" for s in (0, 1) if f"{t}/{s}" in a["val_loss"]]
            cells.append(" / ".join(vals) or "-")
        lines.append(f"| {a['arch']} | {a['depth']} | {a['params'] / 1e6:.2f}M | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(path: Path, result: dict[str, Any], configs: dict[int, C.TrainConfig]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for a in result["architectures"]:
        pts = [(t / 1e6, a["val_loss"][f"{t}/0"]) for t in configs if f"{t}/0" in a["val_loss"]]
        if pts:
            x, y = zip(*pts)
            ax.plot(x, y, marker="o", label=f"depth {a['depth']}, {a['params'] / 1e6:.2f}M params")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training bytes (M), full schedule each")
    ax.set_ylabel("validation loss (nats/byte)")
    ax.legend(fontsize=6, loc="upper right")  # above the losses reached with the most bytes: no search
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=C.LINUX_DOC, help="'linux-doc' (default), 'python-docs', or a text file/folder")
    C.add_out_arg(p, "token_budget_runs")
    p.add_argument("--architectures", default=str(C.RESULTS / "proxy_architectures.json"),
                   help="the architecture sample (JSON written by proxy_correlation.py; read, also with --quick, "
                        "from the committed results by default)")
    p.add_argument("--group", type=C.at_least(0), default=0, help="which iso-FLOPs group of the sample to train")
    p.add_argument("--budgets", default="2M,4M,8M,16M", type=C.quantities(),
                   help="training bytes per model, one full schedule each")
    p.add_argument("--second-seed", type=C.at_least(0), default=2,
                   help="architectures also trained with seed 1 (depth extremes)")
    C.add_recipe_args(p, tokens=None)
    p.add_argument("--bootstrap", type=C.at_least(1), default=2000, help="bootstrap resamples for the intervals")
    C.add_run_args(p, workers=1, quick="3 architectures, tiny budgets")
    args = p.parse_args(argv)
    args.budgets = sorted({C.parse_count(b) for b in args.budgets})
    args.out = C.output_folder(args.out, args.quick)
    if args.quick:
        args.budgets, args.second_seed, args.bootstrap, args.seq_len = [4096, 8192], 1, 50, 64
    return args


def _group(sample: object, group: int, path: str) -> list[dict]:
    """The members of ``group`` in an architectures file (a list of ``{"group", "arch"}`` records),
    each architecture checked, so a bad file stops before any training."""
    if not isinstance(sample, list) or not all(isinstance(s, dict) and "group" in s and "arch" in s for s in sample):
        raise MpsolveError(f"--architectures {path!r} must be a JSON list of {{\"group\": N, \"arch\": {{...}}}} "
                           "records, as benchmarks/proxy_correlation.py writes")
    members = [s for s in sample if s["group"] == group]
    for m in members:
        Architecture.from_dict(m["arch"])
    return members


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    C.check_outputs({f"--out file {name}": args.out / name for name in REPORT_FILES},
                    {"--architectures": args.architectures, "--corpus": args.corpus})
    command = C.command_line("token_budget.py", argv)
    t0 = time.time()
    sample = parse_data(read_text_bounded(Path(args.architectures), "--architectures"), "json", MpsolveError,
                        args.architectures)
    members = _group(sample, args.group, args.architectures)
    corpus = C.load_corpus(args.corpus)
    if args.quick:
        members = members[:3]
    if len(members) < 3:
        raise SystemExit(f"group {args.group} of {args.architectures} has {len(members)} architectures; need 3")
    members.sort(key=lambda m: Architecture.from_dict(m["arch"]).depth)
    configs = {}
    for tokens in args.budgets:
        ns = argparse.Namespace(tokens=str(tokens), seq_len=args.seq_len, batch_size=args.batch_size, lr=args.lr,
                                quick=args.quick)
        configs[tokens] = C.train_config(ns)
    cache = str(args.out / "token_budget_runs")
    picks = np.round(np.linspace(0, len(members) - 1, args.second_seed)).astype(int) if args.second_seed else []
    jobs = []
    for tokens, cfg in configs.items():
        tags = {"group": args.group, "budget": tokens}
        jobs += [C.Job(members[i]["arch"], cfg.to_dict(), 0, args.corpus, cache, tags)
                 for i in P.spread_order(len(members))]
        jobs += [C.Job(members[i]["arch"], cfg.to_dict(), 1, args.corpus, cache, tags) for i in picks]
    runs = C.run_planned(jobs, args.no_train, args.max_runs, args.workers, "token-budget runs", args.device)
    result = report(args, members, runs, configs, corpus, command)
    print(f"{len(runs)} runs; report in {args.out}/token_budget.md ({time.time() - t0:.0f} s)")
    for t, b in result["budgets"].items():
        cells = ", ".join(f"{n.split(' (')[0]} {P.fmt(s['spearman'])}" for n, s in b["scores"].items())
        print(f"  {int(t) / 1e6:g} M bytes ({b['n']} runs): {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
