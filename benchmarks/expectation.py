"""How exact is the analytic expected entropy? (issue #14, part 1)

Compares ``analytic_entropy`` (the library's default expectation: Bartlett's exact formula
for ``log`` with a tiny eps, plus the Marchenko-Pastur mean of ``log(1 + eps / s)`` for a small
one, Marchenko-Pastur plus the Bai-Silverstein finite-size mean otherwise) with Monte-Carlo
means of direct SVDs for every matrix shape of the given spaces and several option sets, and
reports the difference in nats and in Monte-Carlo standard errors.

    python benchmarks/expectation.py                          # byte-tiny and default spaces
    python benchmarks/expectation.py --spaces small --work 2e8 # quicker
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

import mpsolve  # noqa: E402
from mpsolve.objectives import SpectrumTable, _lookup, analytic_entropy  # noqa: E402

OPTIONS = (("rate", 1.0, 1.0), ("log", 1e-6, 1.0), ("rate", 0.1, 1.0), ("log", 1e-6, 0.02), ("log", 1e-3, 1.0),
           ("log", 1e-2, 1.0), ("log", 0.1, 1.0))


def compare(space: mpsolve.SearchSpace, seed: int) -> list[dict[str, Any]]:
    shapes = sorted({SpectrumTable.key(m, n) for m, n in space.matrix_shapes()})
    table = SpectrumTable(seed=seed, cache_dir=False)
    rows = []
    for variant, eps, std in OPTIONS:
        mc = table.expected_entropy(shapes, variant, eps, std)
        se = table.standard_error(shapes, variant, eps, std)
        for (m, n), mean, err in zip(shapes, mc, se):
            a = analytic_entropy(m, n, variant, eps, std)
            rows.append({"space": space.name, "shape": [m, n], "variant": variant, "eps": eps, "init_std": std,
                         "draws": int(_lookup.draws_for(m, n, "auto")), "monte_carlo": float(mean),
                         "standard_error": float(err), "analytic": a, "diff": a - float(mean),
                         "z": (a - float(mean)) / float(err)})
    return rows


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["# Analytic expected entropy vs Monte-Carlo SVD means", "",
             f"Command: `{meta['command']}` (commit {meta['git_commit'][:10]}); Monte-Carlo work "
             f"{meta['work']:.3g} multiply-adds per shape, table seed {meta['seed']}.", "",
             "| space | variant | eps | init std | shapes | max abs diff (nats) | max abs z | mean z | worst shape |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["space"], r["variant"], r["eps"], r["init_std"]) for r in rows}, key=str)
    for key in keys:
        sub = [r for r in rows if (r["space"], r["variant"], r["eps"], r["init_std"]) == key]
        worst = max(sub, key=lambda r: abs(r["diff"]))
        lines.append(f"| {key[0]} | {key[1]} | {key[2]:g} | {key[3]:g} | {len(sub)} | "
                     f"{max(abs(r['diff']) for r in sub):.4f} | {max(abs(r['z']) for r in sub):.1f} | "
                     f"{np.mean([r['z'] for r in sub]):+.2f} | {worst['shape'][0]}x{worst['shape'][1]} "
                     f"({worst['diff']:+.4f}, {worst['draws']} draws) |")
    lines += ["", "z = (analytic - Monte-Carlo mean) / standard error of that mean. |z| within about 3 means "
              "the two agree within the Monte-Carlo error; a larger |z| with a small difference in nats is the "
              "O(1/n) remainder of the asymptotic expansion (largest for square shapes at small eps / std).", ""]
    return "\n".join(lines)


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spaces", default="byte-tiny,default", type=C.names("space", "byte-tiny,default"),
                   help="search spaces, comma-separated")
    p.add_argument("--work", type=C.positive, default=float(_lookup.AUTO_WORK), help="SVD multiply-adds per shape")
    p.add_argument("--seed", type=C.at_least(0), default=1, help="Monte-Carlo seed (the library's table uses 0)")
    p.add_argument("--out", default=str(C.RESULTS), help="output folder (default benchmarks/results)")
    args = p.parse_args(argv)
    C.check_outputs({f"--out file {name}": Path(args.out) / name for name in ("expectation.json", "expectation.md")})
    spaces = [mpsolve.get_space(s) for s in args.spaces]  # an unknown space is refused before any work
    work, _lookup.AUTO_WORK = _lookup.AUTO_WORK, int(args.work)
    t0 = time.time()
    try:
        rows = [r for space in spaces for r in compare(space, args.seed)]
    finally:  # the library's own rule again for the rest of the process (main may run inside another program)
        _lookup.AUTO_WORK = work
    meta = {"command": C.command_line("expectation.py", argv), "git_commit": C.git_commit(), "work": args.work,
            "seed": args.seed, "elapsed_s": time.time() - t0}
    C.write_json(Path(args.out) / "expectation.json", {**meta, "rows": rows})
    text = markdown(rows, meta)
    (Path(args.out) / "expectation.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
