"""Does a higher entropy score mean a better model after training? (spec section 6, issue #6)

Samples architectures of the byte-level ``byte-tiny`` space in iso-FLOPs groups (each group
within +-10 % of one FLOPs target, stratified over depth), trains every one from scratch on
the same English text for the same number of tokens, and correlates each training-free score
(the entropy under every option combination, parameter count, LTS decoder-params, TE-NAS NTK
condition number, TF-TAS DSS-Score, depth) with negative validation perplexity, across all
architectures and within the iso-FLOPs groups. The entropy's options are chosen by
leave-one-group-out cross-validation and reported on the held-out groups.

Finished runs are cached as ``<out>/proxy_runs/<hash>.json``; re-running resumes.

    python benchmarks/proxy_correlation.py                 # the full benchmark
    python benchmarks/proxy_correlation.py --quick         # smoke test (3 models, seconds)
    python benchmarks/proxy_correlation.py --no-train      # report on the runs finished so far
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

from mpsolve import Architecture, MeRinoEntropy, get_space  # noqa: E402
from mpsolve.costs import FlopsCost  # noqa: E402
from mpsolve.objectives import DecoderParamsObjective, ParamsObjective  # noqa: E402

SPACE = "byte-tiny"
FLOPS_SEQ_LEN = 256  # FLOPs of the groups are counted at the training context of the full run
#: penalties every backend handles exactly (CP-SAT's model covers these, not ``exp``): the
#: library default is chosen among these option sets
EXACT_PENALTIES = ("linear", "none")
BASELINES = ("params", "decoder_params", "flops", "ntk", "dss", "neg_depth")
#: ablations of the library default entropy (see ``study_scores``)
ABLATIONS = ("entropy_no_penalty", "penalty_only", "mean_log2_width")
#: what a run writes into ``--out`` besides the cached runs
REPORT_FILES = ("proxy_architectures.json", "proxy_scores.json", "proxy_correlation.json", "proxy_correlation.png",
                "proxy_correlation.md")


# -- architectures -----------------------------------------------------------------------
def select_architectures(targets: list[float], per_group: int, tolerance: float, seed: int) -> list[dict[str, Any]]:
    """``per_group`` architectures within ``+-tolerance`` of each FLOPs target, spread over depth.

    Within a group, the depths are evenly spaced between the smallest and largest depth the
    group allows, and each depth's architecture is drawn at random (widths and FFN ratios
    follow from the FLOPs target).
    """
    space = get_space(SPACE)
    X = np.concatenate(list(space.enumerate()))
    batch = space.decode_batch(X)
    flops = FlopsCost(seq_len=FLOPS_SEQ_LEN).evaluate(batch, space)
    depth = batch.layers.sum(axis=1)
    rng = np.random.default_rng(seed)
    chosen = []
    for g, target in enumerate(targets):
        members = np.flatnonzero(np.abs(flops / target - 1) <= tolerance)
        if len(members) < per_group:
            raise SystemExit(f"only {len(members)} architectures lie within {tolerance:.0%} of {target:.3g} FLOPs")
        depths = np.unique(depth[members])
        wanted = np.round(np.linspace(depths.min(), depths.max(), per_group)).astype(int)
        taken: set[int] = set()
        for d in wanted:
            pool = [i for i in members[depth[members] == depths[np.argmin(np.abs(depths - d))]] if i not in taken]
            pool = pool or [i for i in members if i not in taken]
            i = int(rng.choice(pool))
            taken.add(i)
            arch = space.decode(X[i])
            chosen.append({"arch": arch.to_dict(), "group": g, "target_flops": target})
    return chosen


def spread_order(n: int) -> list[int]:
    """``0 .. n-1`` reordered so that every prefix spreads over the range (extremes first).

    Groups are trained cheapest first and, within a group, in this order of depth (with the
    second-seed runs after the first four), so an interrupted benchmark leaves usable results.
    """
    order = [0, n - 1][:n]
    while len(order) < n:
        rest = [i for i in range(n) if i not in order]
        order.append(max(rest, key=lambda i: (min(abs(i - j) for j in order), -i)))
    return order


# -- scores ------------------------------------------------------------------------------
def entropy_grid() -> dict[str, dict[str, Any]]:
    """Every option combination of the entropy that the benchmark scores."""
    bases = [("log", 1e-6, 1.0), ("log", 1e-6, 0.02), ("rate", 0.1, 1.0), ("rate", 1.0, 1.0)]
    alphas = [(1.0, 1.0), (1.0, 0.5), (0.5, 1.0)]
    penalties = [("none", 0.0, 0.0)]
    penalties += [("linear", b, 0.0) for b in (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2)]
    penalties += [("exp", 1 / 16, g) for g in (2.0, 4.0, 8.0, 16.0, 32.0)]
    grid = {}
    for (variant, eps, std), alpha, (penalty, beta, gamma) in itertools.product(bases, alphas, penalties):
        name = f"{variant} eps={eps:g} std={std:g} a={alpha[0]:g},{alpha[1]:g} {penalty}"
        name += {"none": "", "linear": f" b={beta:g}", "exp": f" g={gamma:g}"}[penalty]
        grid[name] = {"variant": variant, "eps": eps, "init_std": std, "alpha": alpha, "beta": beta or 1 / 16,
                      "effectiveness": penalty != "none", "penalty": "linear" if penalty == "none" else penalty,
                      "gamma": gamma or 4.0}
    return grid


def analytic_scores(archs: list[Architecture]) -> dict[str, np.ndarray]:
    """Entropy of every grid option, the ablations of the library default and the simple proxies."""
    space = get_space(SPACE)
    batch = space.decode_batch(np.stack([space.encode(a) for a in archs]))
    scores = {name: MeRinoEntropy(**opts).evaluate(batch, space) for name, opts in entropy_grid().items()}
    study = study_scores(archs, MeRinoEntropy())
    scores.update({n: study[n] for n in ("params", "flops", "neg_depth", *ABLATIONS)})
    scores["decoder_params"] = DecoderParamsObjective().evaluate(batch, space)
    return scores


def torch_proxies(archs: list[dict[str, Any]], corpus: C.Corpus, cache: Path) -> dict[str, np.ndarray]:
    """NTK and DSS of every architecture (cached in ``cache``, keyed by architecture)."""
    from proxies import proxy_scores
    from tqdm import tqdm

    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):  # missing or damaged: the scores are computed again (deterministic)
        known = {}
    known = known if isinstance(known, dict) else {}
    key = corpus.fingerprint
    for a in tqdm(archs, desc="NTK/DSS", unit="model", file=sys.stderr):
        k = C.run_key(a, {}, 0, key)
        if not (isinstance(known.get(k), dict) and {"ntk", "dss"} <= set(known[k])):
            known[k] = proxy_scores(a, corpus.train)
            C.write_json(cache, known)
    rows = [known[C.run_key(a, {}, 0, key)] for a in archs]
    return {name: np.array([r[name] for r in rows]) for name in ("ntk", "dss")}


# -- statistics --------------------------------------------------------------------------
def spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.kendalltau(x, y).statistic)


def grouped(fn, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Mean over groups (of at least 3 members) of ``fn`` within each group."""
    values = [fn(x[groups == g], y[groups == g]) for g in np.unique(groups) if np.sum(groups == g) >= 3]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def bootstrap(fn, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, n: int, seed: int = 0) -> list[float]:
    """95 % percentile interval of ``fn`` over architecture resamples (within groups if given)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        if groups is None:
            idx = rng.integers(0, len(x), len(x))
            values.append(fn(x[idx], y[idx]))
        else:
            members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
            idx = np.concatenate([rng.choice(m, len(m)) for m in members])
            values.append(grouped(fn, x[idx], y[idx], groups[idx]))
    values = np.array([v for v in values if np.isfinite(v)])
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if len(values) else [math.nan] * 2


def paired_bootstrap(fn, a: np.ndarray, b: np.ndarray, y: np.ndarray, groups: np.ndarray | None, n: int,
                     seed: int = 0) -> dict[str, Any]:
    """``fn(a, y) - fn(b, y)`` (within groups if given) and its 95 % interval over shared resamples."""
    def diff(idx: np.ndarray) -> float:
        if groups is None:
            return fn(a[idx], y[idx]) - fn(b[idx], y[idx])
        return grouped(fn, a[idx], y[idx], groups[idx]) - grouped(fn, b[idx], y[idx], groups[idx])

    rng = np.random.default_rng(seed)
    members = [np.arange(len(y))] if groups is None else [np.flatnonzero(groups == g) for g in np.unique(groups)]
    values = np.array([diff(np.concatenate([rng.choice(m, len(m)) for m in members])) for _ in range(n)])
    values = values[np.isfinite(values)]
    ci = [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if len(values) else [math.nan] * 2
    return {"mean": diff(np.arange(len(y))), "ci": ci}


def paired_permutation_p(a: np.ndarray, b: np.ndarray, y: np.ndarray, groups: np.ndarray, n: int,
                         seed: int = 0) -> float:
    """Two-sided p-value of the mean within-group Spearman difference ``a - b`` against ``y``.

    Under the null hypothesis the two scores rank equally well, so within each architecture
    their within-group ranks are exchangeable: each permutation swaps them with probability 1/2.
    """
    def ranks(v: np.ndarray) -> np.ndarray:
        out = np.empty(len(v))
        for g in np.unique(groups):
            m = groups == g
            out[m] = stats.rankdata(v[m])
        return out

    ra, rb, ry = ranks(a), ranks(b), ranks(y)
    labels = [g for g in np.unique(groups) if np.sum(groups == g) >= 3]

    def statistic(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:  # rows: permutations
        diffs = []
        for g in labels:
            m = groups == g
            yc = ry[m] - ry[m].mean()
            corr = [((x[:, m] - x[:, m].mean(axis=1, keepdims=True)) @ yc)
                    / (np.linalg.norm(x[:, m] - x[:, m].mean(axis=1, keepdims=True), axis=1) * np.linalg.norm(yc))
                    for x in (xa, xb)]
            diffs.append(corr[0] - corr[1])
        return np.mean(diffs, axis=0)

    observed = statistic(ra[None], rb[None])[0]
    swap = np.random.default_rng(seed).random((n, len(y))) < 0.5
    perm = statistic(np.where(swap, rb, ra), np.where(swap, ra, rb))
    return float((np.sum(np.abs(perm) >= abs(observed) - 1e-12) + 1) / (n + 1))


def study_scores(archs: list[Architecture], entropy: MeRinoEntropy) -> dict[str, np.ndarray]:
    """The scores the evidence studies follow: an entropy, its ablations, and simple proxies."""
    space = get_space(SPACE)
    batch = space.decode_batch(np.stack([space.encode(a) for a in archs]))
    unpenalised = MeRinoEntropy(**{**entropy.options(), "effectiveness": False, "penalty": "none"})
    parts = entropy.parts(batch)
    return {
        "entropy": parts["entropy"],
        "entropy_no_penalty": unpenalised.evaluate(batch, space),
        # the depth penalty's factors alone, weighted like the entropy's two parts
        "penalty_only": entropy.alpha[0] * entropy.penalty_factor(parts["rho_mhsa"])
        + entropy.alpha[1] * entropy.penalty_factor(parts["rho_ffn"]),
        "entropy_provisional": MeRinoEntropy(**C.SPEC_PROVISIONAL_ENTROPY).evaluate(batch, space),
        "params": ParamsObjective().evaluate(batch, space),
        "flops": FlopsCost(seq_len=FLOPS_SEQ_LEN).evaluate(batch, space),
        "neg_depth": -batch.layers.sum(axis=1).astype(float),
        # layer-weighted mean log2 width: a zero-parameter score
        "mean_log2_width": np.sum(batch.layers * np.log2(batch.embed_dims), axis=1) / batch.layers.sum(axis=1),
    }


def plan_jobs(selection: list[dict[str, Any]], cfg: C.TrainConfig, corpus: str, cache: str,
              second_seed: int) -> list[C.Job]:
    """Training jobs, cheapest group first; within a group spread over depth, second seeds after four."""
    jobs = []
    for g in sorted({s["group"] for s in selection}):
        members = [s for s in selection if s["group"] == g]
        seed0 = [C.Job(members[i]["arch"], cfg.to_dict(), 0, corpus, cache, {"group": g})
                 for i in spread_order(len(members))]
        picks = np.round(np.linspace(0, len(members) - 1, second_seed)).astype(int) if second_seed else []
        seed1 = [C.Job(members[i]["arch"], cfg.to_dict(), 1, corpus, cache, {"group": g}) for i in picks]
        jobs += seed0[:4] + seed1 + seed0[4:]
    return jobs


def correlations(score: np.ndarray, quality: np.ndarray, groups: np.ndarray, n_boot: int) -> dict[str, Any]:
    out = {
        "spearman": spearman(score, quality),
        "kendall": kendall(score, quality),
        "iso_spearman": grouped(spearman, score, quality, groups),
        "iso_kendall": grouped(kendall, score, quality, groups),
        "iso_spearman_per_group": {int(g): spearman(score[groups == g], quality[groups == g])
                                   for g in np.unique(groups)},
    }
    if n_boot:
        out["spearman_ci"] = bootstrap(spearman, score, quality, None, n_boot)
        out["kendall_ci"] = bootstrap(kendall, score, quality, None, n_boot)
        out["iso_spearman_ci"] = bootstrap(spearman, score, quality, groups, n_boot)
        out["iso_kendall_ci"] = bootstrap(kendall, score, quality, groups, n_boot)
    return out


def cross_validate(scores: dict[str, np.ndarray], quality: np.ndarray, groups: np.ndarray,
                   names: list[str]) -> dict[str, Any]:
    """Leave-one-group-out choice of the entropy options by within-group Spearman.

    For each held-out group, the option combination with the best mean within-group Spearman
    on the other groups is chosen and its Spearman on the held-out group recorded.
    """
    folds = []
    labels = [g for g in np.unique(groups) if np.sum(groups == g) >= 3]
    for g in labels:
        train = groups != g
        if len(np.unique(groups[train])) == 0 or np.sum(train) < 3:
            continue
        fit = {n: grouped(spearman, scores[n][train], quality[train], groups[train]) for n in names}
        fit = {n: v for n, v in fit.items() if np.isfinite(v)}
        if not fit:
            continue
        best = max(fit, key=fit.get)
        test = groups == g
        folds.append({"held_out_group": int(g), "chosen": best, "train_iso_spearman": fit[best],
                      "held_out_spearman": spearman(scores[best][test], quality[test]),
                      "held_out_kendall": kendall(scores[best][test], quality[test])})
    held = [f["held_out_spearman"] for f in folds if np.isfinite(f["held_out_spearman"])]
    return {"folds": folds, "held_out_mean_spearman": float(np.mean(held)) if held else math.nan}


def grid_name(entropy: MeRinoEntropy) -> str | None:
    """The grid name of ``entropy``'s options (``None`` if they are not in the grid)."""
    options = entropy.options()
    return next((n for n, o in entropy_grid().items() if MeRinoEntropy(**o).options() == options), None)


#: the sanity layer: a default must design a plausible language model at paper scale. A
#: convention, not evidence: the published MeRino designs have 8-11 layers of widths 512-1024,
#: so at 165 GFLOPs an option set must design at least 6 layers and a largest width of 512.
PLAUSIBLE_MIN_DEPTH, PLAUSIBLE_MIN_WIDTH = 6, 512


def paper_scale_design(name: str, budget: float, iterations: int) -> Architecture:
    """The EA optimum of grid option set ``name`` in the ``default`` space at ``budget`` FLOPs."""
    import mpsolve

    problem = mpsolve.Problem("default", MeRinoEntropy(**entropy_grid()[name]), [mpsolve.Budget("flops", budget)])
    return mpsolve.solve(problem, "ea", seed=0, iterations=iterations).architecture


def plausible(name: str, iterations: int) -> bool:
    arch = paper_scale_design(name, 165e9, iterations)
    return arch.depth >= PLAUSIBLE_MIN_DEPTH and max(b.embed_dim for b in arch.blocks) >= PLAUSIBLE_MIN_WIDTH


def paper_scale_optima(names: list[str], iterations: int = 20_000) -> dict[str, dict[str, str]]:
    """The EA optimum of each entropy option set in the ``default`` space at 60 G and 165 G FLOPs.

    The published designs are 8-11 layers deep with widths 512-1024; this shows which option
    sets reproduce that shape.
    """
    out = {}
    for name in (n for n in names if n in entropy_grid()):
        out[name] = {}
        for budget in (60e9, 165e9):
            arch = paper_scale_design(name, budget, iterations)
            out[name][f"{budget / 1e9:g}G"] = f"depth {arch.depth}: {arch}"
    return out


# -- report ------------------------------------------------------------------------------
def fmt(v: float, ci: list[float] | None = None) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci and all(np.isfinite(ci)) else "")


def scatter(path: Path, scores: dict[str, np.ndarray], names: list[str], quality: np.ndarray, groups: np.ndarray,
            corr: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        for g in np.unique(groups):
            m = groups == g
            ax.scatter(scores[name][m], quality[m], s=18, label=f"group {g}")
        c = corr[name]
        ax.set_title(f"{name}\nSpearman {fmt(c['spearman'])}, iso {fmt(c['iso_spearman'])}", fontsize=7)
        ax.set_ylabel("-val ppl (bytes)", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6, loc="lower right")  # a fixed place: "best" searches, and warns under load
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(args: argparse.Namespace, selection: list[dict[str, Any]], runs: dict[tuple[str, int], dict[str, Any]],
           corpus: C.Corpus, cfg: C.TrainConfig, command: str) -> dict[str, Any]:
    """Correlations of every score with the finished runs; writes JSON, Markdown and PNG."""
    out = Path(args.out)
    keys = [C.run_key(s["arch"], cfg.to_dict(), 0, corpus.fingerprint) for s in selection]
    done = [i for i, k in enumerate(keys) if (k, 0) in runs and np.isfinite(runs[(k, 0)]["val_loss"])]
    partial = len(done) < len(selection)
    result: dict[str, Any] = {
        "command": command, "partial": partial, "finished": len(done), "planned": len(selection),
        "space": SPACE, "flops_seq_len": FLOPS_SEQ_LEN, "targets": args.targets, "tolerance": args.tolerance,
        "train_config": cfg.to_dict(), "corpus": corpus.describe(), "git_commit": C.git_commit(),
        "provisional_entropy": grid_name(MeRinoEntropy(**C.SPEC_PROVISIONAL_ENTROPY)),
    }
    archs = [Architecture.from_dict(selection[i]["arch"]) for i in done]
    rows = [runs[(keys[i], 0)] for i in done]
    result["runs"] = [{"arch": r["arch_str"], "group": selection[i]["group"], "params": r["params"],
                       "flops": r["flops"], "depth": r["depth"], "val_loss": r["val_loss"], "val_ppl": r["val_ppl"],
                       "checkpoints": {str(c["fraction"]): c["val_loss"] for c in r["checkpoints"]},
                       "train_time_s": r["train_time_s"], "key": r["key"]} for i, r in zip(done, rows)]
    if len(done) < 3:
        result["note"] = "fewer than 3 finished runs: no correlations yet"
        C.write_json(out / "proxy_correlation.json", result)
        return result
    groups = np.array([selection[i]["group"] for i in done])
    quality = -np.array([r["val_ppl"] for r in rows])
    scores = analytic_scores(archs)
    scores.update(torch_proxies([selection[i]["arch"] for i in done], corpus, out / "proxy_scores.json"))
    options = entropy_grid()
    grid = list(options)
    exact = [n for n in grid if MeRinoEntropy(**options[n]).penalty in EXACT_PENALTIES]
    corr = {n: correlations(scores[n], quality, groups, 0) for n in grid}
    cv = cross_validate(scores, quality, groups, grid)
    cv_exact = cross_validate(scores, quality, groups, exact)

    def best(names: list[str]) -> str:  # within-group Spearman first, then across groups
        return max(names, key=lambda n: (np.nan_to_num(corr[n]["iso_spearman"], nan=-9), corr[n]["spearman"]))

    best_all = best(grid)
    iterations = 2_000 if args.quick else 20_000
    ranked = sorted(exact, key=lambda n: (np.nan_to_num(corr[n]["iso_spearman"], nan=-9), corr[n]["spearman"]),
                    reverse=True)
    skipped = []
    for chosen in ranked:  # the best exactly solvable option set that designs a plausible model
        if plausible(chosen, iterations):
            break
        skipped.append(chosen)
    library = grid_name(MeRinoEntropy())
    main = [result["provisional_entropy"], *([library] if library else []), chosen, best_all,
            *[f["chosen"] for f in cv["folds"] + cv_exact["folds"]], *ABLATIONS, *BASELINES]
    main = list(dict.fromkeys(main))
    for n in main:
        corr[n] = correlations(scores[n], quality, groups, args.bootstrap)
    result["correlations"] = {n: corr[n] for n in main}
    # paired within-group differences to params: is an entropy's advantage beyond resampling noise?
    result["paired_minus_params"] = {n: paired_bootstrap(spearman, scores[n], scores["params"], quality, groups,
                                                         args.bootstrap) for n in dict.fromkeys([library, chosen])
                                     if n}
    result["entropy_grid"] = {n: {k: corr[n][k] for k in ("spearman", "kendall", "iso_spearman", "iso_kendall")}
                              for n in grid}
    result["entropy_options"] = entropy_grid()
    result["best_entropy_in_sample"] = best_all
    result["cross_validation"] = cv
    result["cross_validation_exact_family"] = cv_exact
    result["chosen_default"] = {"name": chosen, "options": options[chosen], "family": list(EXACT_PENALTIES),
                                "plausibility": {"min_depth_165G": PLAUSIBLE_MIN_DEPTH,
                                                 "min_max_width_165G": PLAUSIBLE_MIN_WIDTH}}
    result["library_default"] = library
    result["paper_scale_optima"] = paper_scale_optima(main + skipped, iterations)
    result["implausible_skipped"] = skipped
    # ranking at 50 / 75 / 100 % of the token budget: does short training penalise depth?
    by_fraction = {}
    for frac in cfg.checkpoints:
        q = -np.exp([next(c["val_loss"] for c in r["checkpoints"] if c["fraction"] == frac) for r in rows])
        by_fraction[str(frac)] = {n: {"spearman": spearman(scores[n], q), "iso_spearman": grouped(spearman, scores[n],
                                      q, groups)} for n in main}
    result["by_checkpoint"] = by_fraction
    # seed-to-seed noise of the ranking
    pairs = [(runs[(keys[i], 0)], runs[(keys[i], 1)]) for i in done if (keys[i], 1) in runs]
    if pairs:
        a = np.array([p[0]["val_loss"] for p in pairs])
        b = np.array([p[1]["val_loss"] for p in pairs])
        result["seed_noise"] = {"pairs": len(pairs), "spearman_seed0_vs_seed1": spearman(a, b),
                                "kendall_seed0_vs_seed1": kendall(a, b),
                                "mean_abs_diff_nats": float(np.mean(np.abs(a - b))),
                                "max_abs_diff_nats": float(np.max(np.abs(a - b))),
                                "loss_spread_nats": float(np.ptp([r["val_loss"] for r in rows])),
                                "pairs_val_loss": [{"arch": p[0]["arch_str"], "depth": p[0]["depth"],
                                                    "seed0": p[0]["val_loss"], "seed1": p[1]["val_loss"]}
                                                   for p in pairs]}
    C.write_json(out / "proxy_correlation.json", result)
    scatter(out / "proxy_correlation.png", scores, main, quality, groups, corr)
    (out / "proxy_correlation.md").write_text(markdown(result, main))
    return result


def markdown(result: dict[str, Any], names: list[str]) -> str:
    c = result["correlations"]
    status = f"PARTIAL: {result['finished']} of {result['planned']} runs" if result["partial"] else "complete"
    cfg = result["train_config"]
    lines = [
        "# Proxy correlation", "",
        f"Status: **{status}**. Corpus `{result['corpus']['name']}` ({result['corpus']['train_bytes']:,} train / "
        f"{result['corpus']['val_bytes']:,} val bytes). {cfg['tokens']:,} training tokens per model, "
        f"context {cfg['seq_len']}, batch {cfg['batch_size']}, AdamW lr {cfg['lr']:g}. "
        f"Commit {result['git_commit'][:10]}.",
        "", f"Command: `{result['command']}`", "",
        "Quality = negative validation perplexity (bytes). `iso` = mean Spearman within the iso-FLOPs groups "
        f"(targets {', '.join(f'{t / 1e6:g}M' for t in result['targets'])} at seq {result['flops_seq_len']}, "
        f"+-{result['tolerance']:.0%}); brackets: 95 % bootstrap intervals over architectures.", "",
        "| score | Spearman | Kendall | iso Spearman | iso Kendall |", "|---|---|---|---|---|",
    ]
    for n in names:
        s = c[n]
        label = n + (" (spec's provisional default)" if n == result["provisional_entropy"] else "")
        label += " (chosen default)" if n == result["chosen_default"]["name"] else ""
        label += " (library default)" if n == result["library_default"] else ""
        lines.append(f"| {label} | {fmt(s['spearman'], s.get('spearman_ci'))} | "
                     f"{fmt(s['kendall'], s.get('kendall_ci'))} | {fmt(s['iso_spearman'], s.get('iso_spearman_ci'))} | "
                     f"{fmt(s['iso_kendall'], s.get('iso_kendall_ci'))} |")
    lines += ["", "Paired within-group difference to params (same bootstrap resamples): " + "; ".join(
        f"`{n}` {fmt(d['mean'], d['ci'])}" for n, d in result["paired_minus_params"].items()) + ". In sample: the "
        "option sets were chosen on these runs."]
    lines += ["", "## Entropy options by leave-one-group-out cross-validation", "",
              "For each held-out group, the option set with the best mean within-group Spearman on the "
              "other groups is chosen and scored on the held-out group: over all "
              f"{len(result['entropy_grid'])} option sets, and over "
              f"the family every backend solves exactly (penalty {' or '.join(EXACT_PENALTIES)}; CP-SAT does "
              "not model `exp`), the family the library default is chosen from.", "",
              "| family | held-out group | chosen on the other groups | train iso Spearman | held-out Spearman |",
              "|---|---|---|---|---|"]
    for label, key in (("all", "cross_validation"), ("exact", "cross_validation_exact_family")):
        for f in result[key]["folds"]:
            lines.append(f"| {label} | {f['held_out_group']} | {f['chosen']} | {fmt(f['train_iso_spearman'])} | "
                         f"{fmt(f['held_out_spearman'])} |")
        if not result[key]["folds"]:
            lines.append(f"| {label} | - | needs at least two groups of three finished runs | | |")
    chosen = result["chosen_default"]["name"]
    lines += ["", f"Mean held-out Spearman: {fmt(result['cross_validation']['held_out_mean_spearman'])} (all), "
              f"{fmt(result['cross_validation_exact_family']['held_out_mean_spearman'])} (exact family). "
              f"Best in sample over all option sets (not a held-out figure): `{result['best_entropy_in_sample']}`; "
              f"in the exact family, the chosen default: `{chosen}`. The library's current default: "
              f"`{result['library_default']}`.", "",
              "## What each entropy option set designs at paper scale (default space, EA, seq 1024)", "",
              f"Sanity layer (a convention): the chosen default must design at least {PLAUSIBLE_MIN_DEPTH} layers "
              f"and a largest width of at least {PLAUSIBLE_MIN_WIDTH} at 165 GFLOPs. Better-ranked option sets "
              "skipped by it: " + (", ".join(f"`{n}`" for n in result["implausible_skipped"]) or "none") + ".", "",
              "| options | 60 G FLOPs | 165 G FLOPs |", "|---|---|---|"]
    for n, d in result["paper_scale_optima"].items():
        lines.append(f"| {n} | {d['60G']} | {d['165G']} |")
    lines += ["",
              "## Ranking along training (iso Spearman at 50 / 75 / 100 % of the tokens)", "",
              "| score | " + " | ".join(f"{float(f):.0%}" for f in result["by_checkpoint"]) + " |",
              "|---|" + "---|" * len(result["by_checkpoint"])]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(fmt(v[n]["iso_spearman"]) for v in result["by_checkpoint"].values())
                     + " |")
    if "seed_noise" in result:
        s = result["seed_noise"]
        lines += ["", f"Seed noise ({s['pairs']} architectures trained with seeds 0 and 1): Spearman of the two "
                  f"rankings {fmt(s['spearman_seed0_vs_seed1'])}, mean |diff| {s['mean_abs_diff_nats']:.4f} nats "
                  f"(max {s['max_abs_diff_nats']:.4f}) against a spread of {s['loss_spread_nats']:.3f} nats across "
                  "architectures."]
        lines += ["", "| architecture | depth | val loss seed 0 | seed 1 |", "|---|---|---|---|"]
        lines += [f"| {q['arch']} | {q['depth']} | {q['seed0']:.3f} | {q['seed1']:.3f} |" for q in s["pairs_val_loss"]]
    lines += ["", "## Runs", "", "| group | architecture | params | MFLOPs | depth | val loss (50/75/100 %) | ppl |",
              "|---|---|---|---|---|---|---|"]
    for r in sorted(result["runs"], key=lambda r: (r["group"], r["val_loss"])):
        ck = "/".join(f"{v:.3f}" for v in r["checkpoints"].values())
        lines.append(f"| {r['group']} | {r['arch']} | {r['params'] / 1e6:.2f}M | {r['flops'] / 1e6:.0f} | "
                     f"{r['depth']} | {ck} | {r['val_ppl']:.3f} |")
    return "\n".join(lines) + "\n"


# -- main --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=C.DEFAULT_CORPUS,
                   help="UTF-8 text file or folder, or 'python-docs' (default: the stdlib's English docs)")
    C.add_out_arg(p, "proxy_runs")
    p.add_argument("--targets", default="300M,500M,800M", type=C.quantities(),
                   help=f"FLOPs targets of the iso-cost groups (forward pass, seq {FLOPS_SEQ_LEN})")
    p.add_argument("--per-group", type=C.at_least(1), default=8, help="architectures per group (K = groups x this)")
    p.add_argument("--tolerance", type=C.positive, default=0.1, help="relative FLOPs tolerance of a group")
    C.add_recipe_args(p)
    p.add_argument("--second-seed", type=C.at_least(0), default=2,
                   help="architectures per group also trained with seed 1")
    p.add_argument("--bootstrap", type=C.at_least(1), default=1000, help="bootstrap resamples for the intervals")
    p.add_argument("--sample-seed", type=C.at_least(0), default=0, help="seed of the architecture sample")
    C.add_run_args(p, workers=2, quick="3 architectures, a few steps")
    args = p.parse_args(argv)
    args.targets = [float(C.parse_count(t)) for t in args.targets]
    args.out = C.output_folder(args.out, args.quick)
    if args.quick:
        args.targets, args.per_group, args.second_seed, args.bootstrap = [300e6], 3, 1, 50
        args.tokens, args.seq_len, args.batch_size = "6144", 64, 8
    return args


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out
    C.check_outputs({f"--out file {name}": out / name for name in REPORT_FILES}, {"--corpus": args.corpus})
    command = C.command_line("proxy_correlation.py", argv)
    t0 = time.time()
    cfg = C.train_config(args)
    corpus = C.load_corpus(args.corpus)
    selection = select_architectures(args.targets, args.per_group, args.tolerance, args.sample_seed)
    C.write_json(out / "proxy_architectures.json", selection)
    cache = str(out / "proxy_runs")
    jobs = plan_jobs(selection, cfg, args.corpus, cache, args.second_seed)
    runs = C.run_planned(jobs, args.no_train, args.max_runs, args.workers, "proxy runs", args.device)
    result = report(args, selection, runs, corpus, cfg, command)
    print(f"{result['finished']}/{result['planned']} runs finished; report in {out} ({time.time() - t0:.0f} s)")
    if "correlations" in result:
        for n, c in result["correlations"].items():
            print(f"  {n:45s} spearman {fmt(c['spearman'])}  iso {fmt(c['iso_spearman'])}")
        print(f"chosen default (penalty {' or '.join(EXACT_PENALTIES)}): {result['chosen_default']['name']}; "
              f"library default: {result['library_default']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
