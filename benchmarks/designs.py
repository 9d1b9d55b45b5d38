"""Design quality end to end: the paper's Figure 5 in miniature, with training seeds and controls.

For each FLOPs budget, designs of the byte-level ``byte-tiny`` space are trained from scratch
under the same token budget, each with several training seeds, and compared by validation loss:

- ``entropy``: the entropy-optimal design (``MeRinoEntropy(**--entropy-options)``),
- ``params``: the parameter-count proxy's design (``objective='params'``),
- ``uniform``: a naive scaled model, four identical blocks, the largest within the budget,
- ``entropy_noproj`` / ``params_noproj``: the same objectives restricted to designs whose
  blocks all have one width, so the model has no width projections. They separate "no
  projections" from the objective's choice (an entropy design without projections is compared
  with the parameter proxy's best design without projections); a control equal to its parent
  design is the same run and is reported once,
- ``entropy_provisional`` (on request): the spec's provisional options, before calibration.

Designs are solved with the ``exact`` backend, so each is a proved optimum; where several designs
tie at the optimum, the backend's canonical choice is trained (the report says which tie).
Runs are paired by training seed (same initialisation seed and data order). Every run in the
cache is reported, including runs of earlier option sets or solvers that this plan no longer
trains. Runs are cached as ``<out>/design_runs/<hash>.json``; re-running resumes.

    python benchmarks/designs.py                       # budgets 300M and 800M, seeds 0,1,2
    python benchmarks/designs.py --max-runs 2          # train two more runs, then report
    python benchmarks/designs.py --no-train            # report on the runs cached so far
    python benchmarks/designs.py --quick               # smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

import mpsolve  # noqa: E402
from mpsolve.costs import FlopsCost, ParamsCost  # noqa: E402
from mpsolve.spaces import SearchSpace  # noqa: E402

SPACE = "byte-tiny"
FLOPS_SEQ_LEN = 256
DESIGNS = ("entropy", "params", "uniform", "entropy_noproj", "params_noproj", "entropy_provisional")
DEFAULT_DESIGNS = "entropy,params,uniform,entropy_noproj,params_noproj"


def uniform_design(space: SearchSpace, budget: float) -> mpsolve.Architecture:
    """Four identical blocks: the largest FLOPs within ``budget`` (ties: widest, then deepest)."""
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


def optimum(space: SearchSpace, objective: Any, budget: float) -> mpsolve.Result:
    problem = mpsolve.Problem(space, objective, [mpsolve.Budget("flops", budget, seq_len=FLOPS_SEQ_LEN)])
    result = mpsolve.solve(problem, "exact")
    if result.status != "optimal":
        raise SystemExit(f"exact did not prove the {budget:.3g}-FLOPs design optimal (status {result.status})")
    return result


def single_width_optimum(space: SearchSpace, objective: Any, budget: float) -> mpsolve.Architecture:
    """The best design whose blocks share one width (no projections), over every width that fits."""
    best = None
    for e in space.embed_dims:
        sub = SearchSpace.from_dict({**space.to_dict(), "name": f"{space.name}-E{e}", "embed_dims": [int(e)]})
        try:
            result = optimum(sub, objective, budget)
        except mpsolve.InfeasibleError:
            continue
        if best is None or result.objective > best.objective:
            best = result
    if best is None:
        raise SystemExit(f"no single-width design fits {budget:.3g} FLOPs")
    return best.architecture


def designs(budget: float, entropy_options: dict[str, Any], wanted: list[str]) -> dict[str, mpsolve.Architecture]:
    space = mpsolve.get_space(SPACE)
    objectives = {"entropy": mpsolve.MeRinoEntropy(**entropy_options), "params": "params",
                  "entropy_provisional": mpsolve.MeRinoEntropy(**C.SPEC_PROVISIONAL_ENTROPY)}
    found = {}
    for label in wanted:
        if label == "uniform":
            found[label] = uniform_design(space, budget)
        elif label.endswith("_noproj"):
            found[label] = single_width_optimum(space, objectives[label.removesuffix("_noproj")], budget)
        else:
            found[label] = optimum(space, objectives[label], budget).architecture
    return found


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sd and a 95 % t-interval of the validation loss over seeds."""
    v = np.array([r["val_loss"] for r in runs])
    out = {"n": len(v), "mean": float(v.mean()) if len(v) else None,
           "sd": float(v.std(ddof=1)) if len(v) > 1 else None, "ci": None}
    if len(v) > 1:
        out["ci"] = [float(x) for x in stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))]
    return out


def paired(a: dict[int, float], b: dict[int, float]) -> dict[str, Any] | None:
    """``a - b`` over the seeds both have: mean, sd, 95 % t-interval and the seeds' differences."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    d = np.array([a[s] - b[s] for s in seeds])
    out = {"seeds": seeds, "diffs": d.tolist(), "mean": float(d.mean()), "sd": None, "ci": None}
    if len(d) > 1:
        out["sd"] = float(d.std(ddof=1))
        out["ci"] = [float(x) for x in stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))]
    return out


def plot(path: Path, table: list[dict[str, Any]], budgets: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(t["design"] for t in table))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(len(labels), 1)
    for j, label in enumerate(labels):
        shown = False  # each design in the legend once, by its first bar drawn
        for i, b in enumerate(budgets):
            row = next((t for t in table if t["budget"] == b and t["design"] == label), None)
            if row is None or not row["runs"]:
                continue
            x = i + (j - (len(labels) - 1) / 2) * width
            losses = [r["val_loss"] for r in row["runs"]]
            ax.bar(x, np.mean(losses), width, color=f"C{j}", alpha=0.5, label=None if shown else label)
            shown = True
            ax.plot([x] * len(losses), losses, "k.", ms=4)
    ax.set_xticks(np.arange(len(budgets)), [f"{b / 1e6:g}M FLOPs" for b in budgets])
    ax.set_ylabel("validation loss (nats/byte)")
    losses = [r["val_loss"] for t in table for r in t["runs"]]
    if losses:  # no runs yet (e.g. --no-train before any): an empty figure, no legend
        ax.set_ylim(min(losses) * 0.97, max(losses) * 1.02)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars: no search
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=C.DEFAULT_CORPUS,
                   help="UTF-8 text file or folder, or 'python-docs' (default: the stdlib's English docs)")
    C.add_out_arg(p, "design_runs")
    p.add_argument("--budgets", default="300M,800M", type=C.quantities(),
                   help=f"FLOPs budgets (forward pass, seq {FLOPS_SEQ_LEN})")
    p.add_argument("--designs", default=DEFAULT_DESIGNS, help=f"comma-separated, of {', '.join(DESIGNS)}")
    p.add_argument("--entropy-options", default="{}", help="JSON options of MeRinoEntropy (default: its defaults)")
    C.add_recipe_args(p)
    p.add_argument("--seeds", default="0,1,2", type=C.seeds, help="training seeds, comma-separated")
    C.add_run_args(p, workers=1, quick="one budget, a few steps")
    args = p.parse_args(argv)
    args.budgets = [float(C.parse_count(b)) for b in args.budgets]
    args.out = C.output_folder(args.out, args.quick)
    args.designs = [d.strip() for d in str(args.designs).split(",")]
    unknown = sorted(set(args.designs) - set(DESIGNS))
    if unknown:
        p.error(f"unknown design(s) {', '.join(unknown)}; choose from {', '.join(DESIGNS)}")
    try:
        args.entropy_options = json.loads(args.entropy_options)
        mpsolve.MeRinoEntropy(**args.entropy_options)
    except (ValueError, TypeError) as exc:  # MpsolveError is a ValueError
        p.error(f"--entropy-options: {exc}; give a JSON object of MeRinoEntropy options, e.g. '{{\"beta\": 0.1}}'")
    if args.quick:
        args.budgets, args.tokens, args.seq_len, args.seeds = [300e6], "6144", 64, [0, 1]
    return args


def report(out: Path, command: str, meta: dict[str, Any], table: list[dict[str, Any]],
           others: list[dict[str, Any]]) -> str:
    lines = ["# Design quality end to end", "",
             f"Command: `{command}` (commit {meta['git_commit'][:10]}).", "",
             f"{meta['train_config']['tokens']:,} training bytes per model on `{meta['corpus']['name']}`; entropy "
             f"options `{json.dumps(meta['entropy_options_given'])}` (library defaults where not given). Designs are "
             "proved optima of the `exact` backend (ties: its canonical choice); `_noproj` designs are restricted "
             "to one width in every block (no width projections). Validation loss in nats per byte; intervals "
             "are 95 % t-intervals over training seeds (few seeds: wide by construction).", ""]
    for budget in meta["budgets"]:
        rows = [t for t in table if t["budget"] == budget]
        lines += [f"## {budget / 1e6:g}M FLOPs", "",
                  "| design | architecture | params | MFLOPs | depth | seeds | val loss mean ± sd [95 % CI] | runs |",
                  "|---|---|---|---|---|---|---|---|"]
        for t in rows:
            s = t["summary"]
            if s["n"] == 0:
                stat = "not trained yet"
            elif s["n"] == 1:
                stat = f"{s['mean']:.4f}"
            else:
                stat = f"{s['mean']:.4f} ± {s['sd']:.4f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}]"
            same = f" (= {t['same_as']})" if t["same_as"] else ""
            runs = ", ".join(f"s{r['seed']} {r['val_loss']:.4f}" for r in t["runs"])
            lines.append(f"| {t['design']}{same} | {t['arch']} | {t['params'] / 1e6:.2f}M | {t['flops'] / 1e6:.0f} "
                         f"| {t['depth']} | {s['n']} | {stat} | {runs} |")
        lines += ["", "Paired by seed, design - entropy (negative: the design beats the entropy's):", "",
                  "| design | seeds | mean difference | sd | 95 % CI |", "|---|---|---|---|---|"]
        for t in rows:
            d = t["vs_entropy"]
            if t["design"] == "entropy" or t["same_as"] == "entropy" or d is None:
                continue
            sd = f"{d['sd']:.4f}" if d["sd"] is not None else "-"
            ci = f"[{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]" if d["ci"] else "-"
            lines.append(f"| {t['design']} | {len(d['seeds'])} | {d['mean']:+.4f} | {sd} | {ci} |")
        lines.append("")
    lines += ["## Every other run in the cache", "",
              "Runs of designs this plan no longer trains (earlier option sets, EA tie choices, other configs):", "",
              "| tags | architecture | seed | tokens | val loss | commit |", "|---|---|---|---|---|---|"]
    for r in others:
        lines.append(f"| {json.dumps(r.get('tags', {}))} | {r['arch_str']} | {r['seed']} | {r['tokens']:,} | "
                     f"{r['val_loss']:.4f} | {str(r.get('git_commit', ''))[:10]} |")
    text = "\n".join(lines) + "\n"
    (out / "designs.md").write_text(text)
    return text


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out
    C.check_outputs({f"--out file {name}": out / name for name in ("designs.json", "designs.png", "designs.md")},
                    {"--corpus": args.corpus})
    command = C.command_line("designs.py", argv)
    t0 = time.time()
    cfg = C.train_config(args)
    corpus = C.load_corpus(args.corpus)
    cache = out / "design_runs"
    chosen: list[tuple[float, str, mpsolve.Architecture]] = []
    for budget in args.budgets:
        chosen += [(budget, label, arch) for label, arch in designs(budget, args.entropy_options, args.designs).items()]
    jobs: dict[str, C.Job] = {}
    for seed in args.seeds:  # seed-major: every design gets its first seeds before any gets its third
        for budget, label, arch in chosen:
            tags = {"budget": budget, "design": label}
            job = C.Job(arch.to_dict(), cfg.to_dict(), seed, args.corpus, str(cache), tags)
            jobs.setdefault(job.key, job)
    done = C.run_planned(list(jobs.values()), args.no_train, args.max_runs, args.workers, "design runs", args.device)
    flops = FlopsCost(seq_len=FLOPS_SEQ_LEN)
    table = []
    for budget, label, arch in chosen:
        key0 = C.run_key(arch.to_dict(), cfg.to_dict(), 0, corpus.fingerprint)
        runs = [done[(key0, s)] for s in args.seeds if (key0, s) in done]
        same = next((t["design"] for t in table if t["budget"] == budget and t["arch"] == str(arch)), None)
        table.append({"budget": budget, "design": label, "arch": str(arch), "architecture": arch.to_dict(),
                      "params": ParamsCost().of(arch), "flops": flops.of(arch), "depth": arch.depth,
                      "same_as": same, "runs": [{"seed": r["seed"], "val_loss": r["val_loss"], "key": r["key"],
                                                 "train_time_s": r["train_time_s"]} for r in runs],
                      "summary": summarise(runs)})
    for t in table:
        ref = next(e for e in table if e["budget"] == t["budget"] and e["design"] == "entropy") \
            if "entropy" in args.designs else None
        t["vs_entropy"] = None if ref is None else paired({r["seed"]: r["val_loss"] for r in t["runs"]},
                                                          {r["seed"]: r["val_loss"] for r in ref["runs"]})
    planned = {r["key"] for t in table for r in t["runs"]}
    records = (C.read_run(p) for p in cache.glob("*.json") if p.stem not in planned)
    others = sorted((r for r in records if r is not None),
                    key=lambda r: (json.dumps(r.get("tags", {}), sort_keys=True), r["arch_str"], r["seed"]))
    meta = {"command": command, "git_commit": C.git_commit(), "train_config": cfg.to_dict(),
            "corpus": corpus.describe(), "entropy_options_given": args.entropy_options,
            "entropy_options": mpsolve.MeRinoEntropy(**args.entropy_options).options(), "budgets": args.budgets,
            "flops_seq_len": FLOPS_SEQ_LEN, "seeds": args.seeds, "solver": "exact"}
    C.write_json(out / "designs.json", {**meta, "designs": table,
                                        "other_runs": [{k: r[k] for k in ("key", "tags", "arch_str", "seed", "tokens",
                                                                          "val_loss", "git_commit") if k in r}
                                                       for r in others]})
    plot(out / "designs.png", table, args.budgets)
    print(report(out, command, meta, table, others))
    print(f"report in {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
