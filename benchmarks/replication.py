"""The pre-registered replication of the proxy correlation (issue #14, part 3).

Reads every setting from ``benchmarks/preregistration/replication.toml`` (committed before the
first run), trains the pre-registered architecture sample on the pre-registered corpus, and
reports exactly the pre-registered analysis: within-group Spearman of the frozen entropy and of
the baselines, paired differences with bootstrap intervals and permutation p-values, and the
decision rule. Nothing here chooses options; a partial report draws no conclusion.

Runs are cached as ``<out>/runs/<hash>.json``; re-running resumes.

    python benchmarks/replication.py                  # train (resumable) and report
    python benchmarks/replication.py --no-train       # report on the runs finished so far
    python benchmarks/replication.py --quick          # smoke test (seconds, not the registered analysis)
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

#: the registered plan, relative to the repository (found from any working folder)
PLAN = "benchmarks/preregistration/replication.toml"
#: what a run writes into ``--out`` besides the cached runs
REPORT_FILES = ("architectures.json", "proxy_scores.json", "report.json", "report.md")
#: what a plan must register, by table
PLAN_KEYS = {"frozen": ("entropy",), "sample": ("targets", "per_group", "tolerance", "sample_seed", "second_seed"),
             "corpus": ("name",), "training": ("tokens", "seq_len", "batch_size", "lr"),
             "analysis": ("primary_score", "primary_baseline", "secondary_baselines", "descriptive", "bootstrap",
                          "permutations", "seed")}


def decision(ci: list[float]) -> str:
    if ci[0] > 0:
        return "entropy better"
    if ci[1] < 0:
        return "baseline better"
    return "no detectable difference"


def analyse(plan: dict[str, Any], selection: list[dict[str, Any]], runs: dict[tuple[str, int], dict[str, Any]],
            corpus: C.Corpus, cfg: C.TrainConfig, out: Path) -> dict[str, Any]:
    """The registered analysis of the finished seed-0 runs."""
    a = plan["analysis"]
    keys = [C.run_key(s["arch"], cfg.to_dict(), 0, corpus.fingerprint) for s in selection]
    done = [i for i, k in enumerate(keys) if (k, 0) in runs and np.isfinite(runs[(k, 0)]["val_loss"])]
    result: dict[str, Any] = {"finished": len(done), "planned": len(selection), "partial": len(done) < len(selection)}
    result["runs"] = [{"arch": runs[(keys[i], 0)]["arch_str"], "group": selection[i]["group"],
                       "depth": runs[(keys[i], 0)]["depth"], "params": runs[(keys[i], 0)]["params"],
                       "val_loss": runs[(keys[i], 0)]["val_loss"],
                       "val_loss_seed1": runs[(keys[i], 1)]["val_loss"] if (keys[i], 1) in runs else None}
                      for i in done]
    groups = np.array([selection[i]["group"] for i in done])
    if min((np.sum(groups == g) for g in np.unique(groups)), default=0) < 3:
        result["note"] = "fewer than 3 finished runs in some group: no analysis yet"
        return result
    archs = [Architecture.from_dict(selection[i]["arch"]) for i in done]
    quality = -np.array([runs[(keys[i], 0)]["val_ppl"] for i in done])
    # the registered objective is the Monte-Carlo table the library used when the plan was frozen
    frozen = MeRinoEntropy(**{"expectation": "monte-carlo", **plan["frozen"]["entropy"]})
    scores = P.study_scores(archs, frozen)
    # secondary row the plan announces: the same options under the deterministic expectation
    scores["entropy_analytic"] = P.study_scores(archs, MeRinoEntropy(**{**frozen.options(), "expectation": "analytic",
                                                                        "draws": "auto"}))["entropy"]
    scores.update(P.torch_proxies([selection[i]["arch"] for i in done], corpus, out / "proxy_scores.json"))
    names = [a["primary_score"], a["primary_baseline"], *a["secondary_baselines"], "entropy_analytic",
             *a["descriptive"]]
    result["scores"] = {n: {"iso_spearman": P.grouped(P.spearman, scores[n], quality, groups),
                            "iso_spearman_ci": P.bootstrap(P.spearman, scores[n], quality, groups, a["bootstrap"],
                                                           a["seed"]),
                            "iso_kendall": P.grouped(P.kendall, scores[n], quality, groups),
                            "per_group": {int(g): P.spearman(scores[n][groups == g], quality[groups == g])
                                          for g in np.unique(groups)}} for n in names}
    result["paired"] = {}
    for base in [a["primary_baseline"], *a["secondary_baselines"]]:
        diff = P.paired_bootstrap(P.spearman, scores[a["primary_score"]], scores[base], quality, groups,
                                  a["bootstrap"], a["seed"])
        diff["permutation_p"] = P.paired_permutation_p(scores[a["primary_score"]], scores[base], quality, groups,
                                                       a["permutations"], a["seed"])
        diff["decision"] = decision(diff["ci"]) if not result["partial"] else "partial: no conclusion"
        result["paired"][base] = diff
    pairs = [(r["val_loss"], r["val_loss_seed1"]) for r in result["runs"] if r["val_loss_seed1"] is not None]
    if pairs:
        diff = np.abs(np.subtract(*np.array(pairs).T))
        sds = [np.std([r["val_loss"] for r in result["runs"] if r["group"] == g], ddof=1) for g in np.unique(groups)]
        result["seed_noise"] = {"pairs": len(pairs), "mean_abs_diff_nats": float(diff.mean()),
                                "max_abs_diff_nats": float(diff.max()),
                                "within_group_sd_nats": [float(s) for s in sds]}
    return result


def markdown(result: dict[str, Any], meta: dict[str, Any]) -> str:
    status = f"PARTIAL: {result['finished']} of {result['planned']} runs, no conclusion" if result["partial"] \
        else "complete"
    lines = ["# Pre-registered replication", "",
             f"Status: **{status}**. Plan: `{meta['plan']}` (committed before the first run). Corpus "
             f"`{meta['corpus']['name']}` (fingerprint {meta['corpus']['fingerprint']}). Commit "
             f"{meta['git_commit'][:10]}.", "", f"Command: `{meta['command']}`", ""]
    if "scores" not in result:
        return "\n".join(lines + [result.get("note", ""), ""])
    lines += ["Quality = -validation perplexity; within-group (iso-FLOPs) Spearman, mean over groups, 95 % "
              "bootstrap interval over architectures resampled within groups.", "",
              "| score | iso Spearman | iso Kendall | per group |", "|---|---|---|---|"]
    for n, s in result["scores"].items():
        per = ", ".join(P.fmt(v) for v in s["per_group"].values())
        lines.append(f"| {n} | {P.fmt(s['iso_spearman'], s['iso_spearman_ci'])} | {P.fmt(s['iso_kendall'])} | "
                     f"{per} |")
    lines += ["", "## Paired differences (registered tests)", "",
              "| entropy - baseline | difference [95 % CI] | permutation p | decision |", "|---|---|---|---|"]
    for base, d in result["paired"].items():
        lines.append(f"| {base} | {P.fmt(d['mean'], d['ci'])} | {d['permutation_p']:.4f} | {d['decision']} |")
    if "seed_noise" in result:
        s = result["seed_noise"]
        lines += ["", f"Seed noise: {s['pairs']} architectures with seeds 0 and 1, mean |diff| "
                  f"{s['mean_abs_diff_nats']:.4f} nats (max {s['max_abs_diff_nats']:.4f}); within-group sd of the "
                  f"validation loss {', '.join(f'{v:.3f}' for v in s['within_group_sd_nats'])} nats."]
    lines += ["", "## Runs", "", "| group | architecture | depth | params | val loss (seed 0 / 1) |",
              "|---|---|---|---|---|"]
    for r in sorted(result["runs"], key=lambda r: (r["group"], r["val_loss"])):
        second = f" / {r['val_loss_seed1']:.3f}" if r["val_loss_seed1"] is not None else ""
        lines.append(f"| {r['group']} | {r['arch']} | {r['depth']} | {r['params'] / 1e6:.2f}M | "
                     f"{r['val_loss']:.3f}{second} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plan", default=None, help=f"the pre-registration file (default {PLAN})")
    C.add_out_arg(p, "runs", C.RESULTS / "replication")
    C.add_run_args(p, workers=1, quick="one small group, a few steps, python-docs")
    args = p.parse_args(argv)
    args.out = C.output_folder(args.out, args.quick, C.RESULTS / "replication")
    return args


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan_path = Path(args.plan) if args.plan else C.ROOT / PLAN
    out = args.out
    C.check_outputs({f"--out file {name}": out / name for name in REPORT_FILES}, {"--plan": plan_path})
    command = C.command_line("replication.py", argv)
    t0 = time.time()
    plan = parse_data(read_text_bounded(plan_path, "--plan"), "toml", MpsolveError, str(plan_path))
    missing = [f"{table}.{key}" for table, keys in PLAN_KEYS.items() for key in keys
               if not (isinstance(plan.get(table), dict) and key in plan[table])]
    if missing:
        raise MpsolveError(f"--plan {str(plan_path)!r} lacks {', '.join(missing)}: every key of {PLAN} is needed")
    s, t = plan["sample"], plan["training"]
    if args.quick:
        s = {**s, "targets": [300e6], "per_group": 3, "second_seed": 1}
        t = {**t, "tokens": 6144, "seq_len": 64}
        plan["analysis"] = {**plan["analysis"], "bootstrap": 50, "permutations": 50}
        plan["corpus"] = {"name": C.DEFAULT_CORPUS}
    cfg = C.TrainConfig(tokens=int(t["tokens"]), seq_len=t["seq_len"], batch_size=t["batch_size"], lr=t["lr"],
                        **({"eval_tokens": 4096} if args.quick else {}))
    corpus = C.load_corpus(plan["corpus"]["name"])
    selection = P.select_architectures(list(s["targets"]), s["per_group"], s["tolerance"], s["sample_seed"])
    C.write_json(out / "architectures.json", selection)
    jobs = P.plan_jobs(selection, cfg, plan["corpus"]["name"], str(out / "runs"), s["second_seed"])
    runs = C.run_planned(jobs, args.no_train, args.max_runs, args.workers, "replication runs", args.device)
    result = analyse(plan, selection, runs, corpus, cfg, out)
    meta = {"command": command, "plan": args.plan or PLAN, "git_commit": C.git_commit(),
            "corpus": corpus.describe(), "train_config": cfg.to_dict()}
    C.write_json(out / "report.json", {**meta, **result})
    (out / "report.md").write_text(markdown(result, meta))
    print(f"{result['finished']}/{result['planned']} runs finished; report in {out}/report.md "
          f"({time.time() - t0:.0f} s)")
    for base, d in result.get("paired", {}).items():
        print(f"  entropy - {base}: {P.fmt(d['mean'], d['ci'])}, permutation p {d['permutation_p']:.4f}: "
              f"{d['decision']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
