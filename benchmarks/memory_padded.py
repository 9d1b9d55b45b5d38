"""The memory cost of a padded batch against measured peaks: the analysis pre-registered in
``preregistration/memory_padded.md``.

Reads two ``benchmarks/memory.py`` runs of the same designs, lengths and batch size, one ``--padded`` and one
not, and reports per length: the padded run's ratio measured / predicted (``MemoryCost(padded=True)``); per
design, what padding added, measured (padded peak - unpadded peak) over what the cost adds (padded cost -
unpadded cost), with today's cost (the boolean mask and SDPA's float copy of it) and with the cost before it
(the boolean mask alone); and the registered expectations P1-P2, each judged met or not.

    python benchmarks/memory_padded.py                 # results/memory_padded_s46.json and memory_unpadded_s46.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

from mpsolve import Architecture  # noqa: E402
from mpsolve.costs import MemoryCost  # noqa: E402


def added(padded: dict[str, Any], unpadded: dict[str, Any], batch: int) -> dict[str, Any]:
    """What padding added to one design at one length: measured, and as today's cost and the mask alone count it."""
    arch, n = Architecture.from_dict(padded["arch"]), padded["seq_len"]
    base = MemoryCost(seq_len=n, batch_size=batch).of(arch)
    cost = MemoryCost(seq_len=n, batch_size=batch, padded=True).of(arch) - base
    mask = float(batch * n * n)  # the cost before it counted the boolean mask alone
    measured = padded["peak"] - unpadded["peak"]
    return {"measured": measured, "cost": cost, "mask": mask, "copy_counted": bool(cost > mask),
            "over_cost": measured / cost, "over_mask": measured / mask}


def analyse(padded: dict[str, Any], unpadded: dict[str, Any], seed: int) -> dict[str, Any]:
    key = [(r["arch_str"], r["seq_len"]) for r in padded["rows"]]
    if key != [(r["arch_str"], r["seq_len"]) for r in unpadded["rows"]] or \
            padded.get("batch_size") != unpadded.get("batch_size"):
        raise SystemExit("error: the two runs measured other designs, lengths or batch sizes: give two runs of one "
                         "sample")
    batch = padded["batch_size"]
    out: dict[str, Any] = {"lengths": [], "expectations": {}}
    for n in sorted({r["seq_len"] for r in padded["rows"]}):
        pairs = [(a, b) for a, b in zip(padded["rows"], unpadded["rows"]) if a["seq_len"] == n]
        adds = [added(a, b, batch) for a, b in pairs]
        counted = [x for x in adds if x["copy_counted"]]
        out["lengths"].append({
            "seq_len": n, "designs": len(pairs),
            "ratio": C.median_summary([a["ratio"] for a, _ in pairs], seed),
            "unpadded_ratio": C.median_summary([b["ratio"] for _, b in pairs], seed),
            "copy_counted": len(counted),
            "added_over_cost": C.median_summary([x["over_cost"] for x in counted], seed) if counted else None,
            "added_over_mask": C.median_summary([x["over_mask"] for x in counted], seed) if counted else None,
            "added_over_cost_all": C.median_summary([x["over_cost"] for x in adds], seed),
            "rows": adds})
    e = out["lengths"]
    out["expectations"] = {
        "P1": bool(all(0.97 <= x["ratio"]["median"] <= 1.03 and 0.94 <= x["ratio"]["min"]
                       and x["ratio"]["max"] <= 1.05 for x in e)),
        "P2": bool(all(x["added_over_cost"] is not None and 0.8 <= x["added_over_cost"]["median"] <= 1.2
                       and x["added_over_mask"]["median"] > 1.5 for x in e)),
    }
    return out


def markdown(padded: dict[str, Any], unpadded: dict[str, Any], result: dict[str, Any], command: str) -> str:
    def fmt(s: dict[str, Any] | None, digits: int = 3) -> str:
        return "n/a" if s is None else (f"{s['median']:.{digits}f} [{s['ci95'][0]:.{digits}f}, "
                                        f"{s['ci95'][1]:.{digits}f}], {s['min']:.{digits}f}-{s['max']:.{digits}f}")

    batch = padded["batch_size"]
    lines = ["# The memory cost of a padded batch against measured peaks", "",
             f"Command: `{command}` (commit {result['git_commit']}), on `{padded['command']}` (commit "
             f"{padded['git_commit']}) and `{unpadded['command']}` (commit {unpadded['git_commit']}). "
             f"{padded['machine']}. {padded['note']}", "",
             f"{padded['designs']} random designs of `{padded['space']}` (seed {padded['seed']}), one measurement "
             f"each in a fresh process: torch fp32, {batch} prompts, one thread, glibc's mmap threshold fixed at "
             f"{padded['mmap_threshold']} B (the live tensors), peak resident memory through a prefill over the "
             "process's baseline; padded: an attention mask with the first prompt left-padded by a quarter. "
             "Median [95 % percentile bootstrap interval], range. Added by padding: measured (padded peak - "
             "unpadded peak) over the cost's (padded cost - unpadded cost); today's cost counts the boolean mask "
             f"({batch} x seq_len^2 bytes) and SDPA's float copy of it (seq_len values a token beside 5 E, where "
             "that is the largest working set: 'copy counted'); the cost before it, the mask alone.", "",
             "| seq_len | padded: measured / predicted | unpadded: measured / predicted | copy counted | added / "
             "today's cost (copy counted) | added / mask alone (copy counted) | added / today's cost (all) |",
             "|---|---|---|---|---|---|---|"]
    for e in result["lengths"]:
        lines.append(f"| {e['seq_len']} | {fmt(e['ratio'])} | {fmt(e['unpadded_ratio'])} | {e['copy_counted']} of "
                     f"{e['designs']} | {fmt(e['added_over_cost'])} | {fmt(e['added_over_mask'])} | "
                     f"{fmt(e['added_over_cost_all'])} |")
    said = {"P1": "padded: at every length the median ratio within 0.97-1.03 and every design within 0.94-1.05",
            "P2": "where the copy is counted: at every length the median of added / today's cost within 0.8-1.2, "
                  "and of added / the mask alone above 1.5"}
    lines += ["", "Registered expectations (`preregistration/memory_padded.md`):", ""]
    lines += [f"- {k} ({said[k]}): **{'met' if v else 'not met'}**" for k, v in result["expectations"].items()]
    lines += ["", "| design | seq_len | unpadded MB | padded MB | added MB | today's cost adds MB | mask alone MB |",
              "|---|---|---|---|---|---|---|"]
    for e in result["lengths"]:
        for a, b, x in zip((r for r in padded["rows"] if r["seq_len"] == e["seq_len"]),
                           (r for r in unpadded["rows"] if r["seq_len"] == e["seq_len"]), e["rows"]):
            lines.append(f"| {a['arch_str']} | {a['seq_len']} | {b['peak'] / 1e6:.1f} | {a['peak'] / 1e6:.1f} | "
                         f"{x['measured'] / 1e6:.1f} | {x['cost'] / 1e6:.1f} | {x['mask'] / 1e6:.1f} |")
    return "\n".join(lines) + "\n"


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--padded", type=Path, default=C.RESULTS / "memory_padded_s46.json", help="the padded run")
    p.add_argument("--unpadded", type=Path, default=C.RESULTS / "memory_unpadded_s46.json", help="the unpadded run")
    p.add_argument("--seed", type=C.at_least(0), default=46, help="the bootstrap's seed (default 46, the sample's)")
    p.add_argument("--out", type=C.output_stem, default=str(C.RESULTS / "memory_padded"),
                   help="output stem: OUT.json and OUT.md (default benchmarks/results/memory_padded)")
    args = p.parse_args(argv)
    C.check_outputs({"--out .json": args.out + ".json", "--out .md": args.out + ".md"},
                    {"--padded": args.padded, "--unpadded": args.unpadded})
    padded, unpadded = C.read_runs("memory run", args.padded, args.unpadded)
    if not padded.get("padded") or unpadded.get("padded") or padded.get("runtime") != "torch":
        raise SystemExit("error: --padded and --unpadded must be torch memory.py runs, with and without --padded")
    result = {"git_commit": C.git_commit(), **analyse(padded, unpadded, args.seed)}
    command = C.command_line("memory_padded.py", argv)
    C.write_analysis(args.out, command, result, markdown(padded, unpadded, result, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
