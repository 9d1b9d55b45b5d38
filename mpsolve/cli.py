"""The ``mpsolve`` command line: design, cost, score, presets, table and the plug-in commands."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mpsolve._errors import MpsolveError
from mpsolve._facade import solve
from mpsolve._problem import Problem
from mpsolve._solver import list_solvers
from mpsolve.constraints import Budget, FlopsCost, ParamsCost, format_quantity, graph_totals, operator_graph
from mpsolve.objectives import MeRinoEntropy
from mpsolve.spaces import ARCHITECTURES, SPACES, SearchSpace, get_architecture, get_space, resolve_architecture

__all__ = ["main", "build_parser", "load_space"]

#: modules that add their own subcommands through ``add_subcommands(subparsers)``
PLUGINS = ("mpsolve.merino_model._cli", "mpsolve._pareto", "mpsolve._sweep")


class CLIError(MpsolveError):
    """Bad command-line input."""


def load_space(spec: str) -> SearchSpace:
    """A preset name, or a TOML file with the :class:`SearchSpace` fields (optionally a ``[space]`` table)."""
    if spec in SPACES or not spec.endswith(".toml"):
        return get_space(spec)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(Path(spec).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CLIError(f"cannot read space file {spec!r}: {exc}") from None
    data = data.get("space", data)
    preset = data.pop("preset", None)
    base = get_space(preset).to_dict() if preset else {}
    return SearchSpace.from_dict({**base, "name": Path(spec).stem, **data})


def _parse_budget(text: str, latency_profile: str | None) -> Budget:
    if "=" not in text:
        raise CLIError(f"bad budget {text!r}: write NAME=VALUE, e.g. flops=160G or params=64M")
    name, value = (s.strip() for s in text.split("=", 1))
    if name in ("latency", "latency_ms"):
        if latency_profile is None:
            raise CLIError(
                "a latency budget needs a device profile: add --latency-profile device.json "
                "(make one with `mpsolve profile-latency --out device.json`)"
            )
        return Budget(name, value, profile=latency_profile)
    return Budget(name, value)


def _parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise CLIError(f"bad option {pair!r}: write KEY=VALUE, e.g. iterations=20000")
        key, raw = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


# -- commands -----------------------------------------------------------------------------------
def cmd_design(args: argparse.Namespace) -> int:
    options = _parse_options(args.option)
    if args.problem:
        from mpsolve._problem_file import load_problem_file

        spec = load_problem_file(args.problem)
        problem = spec.problem
        solver = args.solver or spec.solver
        options = {**spec.solver_options, **options}
        seed = args.seed if args.seed is not None else spec.seed
        time_limit = args.time_limit if args.time_limit is not None else spec.time_limit
        if args.budget:
            raise CLIError("--budget and --problem cannot be combined: put the budgets in the problem file")
    else:
        if not args.budget:
            raise CLIError("give at least one budget, e.g. --budget flops=160G (or a --problem FILE.toml)")
        space = load_space(args.space)
        constraints = [_parse_budget(b, args.latency_profile) for b in args.budget]
        problem = Problem(space, args.objective, constraints)
        solver, seed, time_limit = args.solver or "ea", args.seed if args.seed is not None else 0, args.time_limit
    progress = not args.json and sys.stderr.isatty()
    result = solve(
        problem,
        solver,
        seed=seed,
        time_limit=time_limit,
        progress=progress,
        checkpoint=args.checkpoint,
        resume=args.resume,
        **options,
    )
    if args.json:
        _print_json(result.to_dict())
        return 0
    print(f"status     {result.status}")
    print(f"solver     {result.solver} (seed {result.seed}, {result.n_evals} evaluations, {result.wall_time:.2f} s)")
    if result.architecture is None:
        print("no feasible design found")
        return 1
    print(f"objective  {result.objective:.6g} ({problem.objective.name})")
    if result.gap is not None:
        print(f"bound      {result.bound:.6g} (gap {100 * result.gap:.4f} %)")
    for k, v in result.details.items():
        if k != problem.objective.name:
            print(f"  {k:<16} {v:.6g}")
    print("costs      " + ", ".join(f"{k}={format_quantity(v)}" for k, v in result.costs.items()))
    print("block  embed_dim  ffn_ratio  ffn_dim  layers")
    for i, b in enumerate(result.architecture.blocks):
        print(f"{i:>5}  {b.embed_dim:>9}  {b.ffn_ratio:>9g}  {b.ffn_dim:>7}  {b.layers:>6}")
    a = result.architecture
    print(
        f"vocab {a.vocab_size}, embed_proj_dim {a.embed_proj_dim}, max_positions {a.max_positions}, shared {a.shared}"
    )
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    arch = resolve_architecture(args.arch)
    flops = FlopsCost(seq_len=args.seq_len, include_lm_head=args.include_lm_head)
    costs = {"params": ParamsCost().of(arch), "flops": flops.of(arch)}
    if args.breakdown or args.graphml:
        graph = operator_graph(arch, seq_len=args.seq_len, include_lm_head=args.include_lm_head)
        totals = graph_totals(graph)
        assert totals["params"] == costs["params"] and abs(totals["flops"] - costs["flops"]) <= 1e-9 * costs["flops"]
        if args.graphml:
            import networkx as nx

            nx.write_graphml(graph, args.graphml)
    payload: dict[str, Any] = {
        "architecture": arch.to_dict(),
        "costs": costs,
        "seq_len": args.seq_len,
        "include_lm_head": args.include_lm_head,
    }
    if args.breakdown:
        payload["breakdown"] = [{"node": n, **{k: v for k, v in d.items()}} for n, d in graph.nodes(data=True)]
    if args.json:
        _print_json(payload)
        return 0
    print(f"{arch}")
    print(f"params {format_quantity(costs['params'])} ({costs['params']:.0f})")
    head = "in" if args.include_lm_head else "out"
    print(f"flops  {format_quantity(costs['flops'])} (seq_len {args.seq_len}, lm head {head})")
    if args.breakdown:
        print(f"\n{'node':<28} {'kind':<8} {'params':>12} {'flops':>12}")
        for n, d in graph.nodes(data=True):
            print(f"{n:<28} {d['kind']:<8} {d.get('params', 0):>12} {format_quantity(d.get('flops', 0)):>12}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    arch = resolve_architecture(args.arch)
    details = MeRinoEntropy().details(arch)
    if args.json:
        _print_json({"architecture": arch.to_dict(), **details})
        return 0
    print(f"{arch}")
    for k, v in details.items():
        print(f"{k:<14} {v:.6g}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    spaces = {name: get_space(name) for name in SPACES}
    archs = {name: get_architecture(name) for name in ARCHITECTURES}
    if args.json:
        _print_json(
            {
                "spaces": {n: {**s.to_dict(), "size": s.size()} for n, s in spaces.items()},
                "architectures": {n: a.to_dict() for n, a in archs.items()},
            }
        )
        return 0
    print("search spaces:")
    for n, s in spaces.items():
        print(
            f"  {n:<10} {s.num_blocks} blocks, E {list(s.embed_dims)}, r {list(s.ffn_ratios)}, "
            f"L {list(s.layers)}, {s.size():.3g} designs"
        )
    print("architectures:")
    for n, a in archs.items():
        print(
            f"  {n:<10} {a}  params {format_quantity(ParamsCost().of(a))}, flops {format_quantity(FlopsCost().of(a))}"
        )
    print("solvers: " + ", ".join(list_solvers()))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    objective = MeRinoEntropy()
    shapes = space.matrix_shapes()
    table = objective.table
    table.spectra(shapes)
    report: dict[str, Any] = {"path": str(table.path), "shapes": len(shapes), "draws": table.draws}
    if args.verify:
        errors = table.verify(shapes[: args.verify])
        report["max_relative_error"] = max(errors.values())
        report["mean_relative_error"] = sum(errors.values()) / len(errors)
        report["verified_shapes"] = len(errors)
    if args.json:
        _print_json(report)
    else:
        for k, v in report.items():
            print(f"{k:<20} {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mpsolve", description=__doc__)
    parser.add_argument("--version", action="version", version="mpsolve 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("design", help="find the best architecture under budgets")
    p.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="e.g. flops=160G, params=64M, memory=512M, latency_ms=50 (units K, M, G, T)",
    )
    p.add_argument("--space", default="default", help=f"preset ({', '.join(SPACES)}) or a TOML file")
    p.add_argument("--objective", default="entropy", help="entropy (default), params or decoder_params")
    p.add_argument("--solver", default=None, help="backend name (default: ea)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a solver option")
    p.add_argument("--seed", type=int, default=None, help="seed of the run (default 0)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="wall-clock limit in seconds")
    p.add_argument("--latency-profile", default=None, metavar="FILE", help="device profile for latency budgets")
    p.add_argument("--problem", default=None, metavar="FILE.toml", help="a whole problem as a TOML file")
    p.add_argument("--checkpoint", default=None, metavar="PATH", help="write the run's state here")
    p.add_argument("--resume", default=None, metavar="PATH", help="continue from a checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("cost", help="params and FLOPs of an architecture")
    p.add_argument("arch", help="preset name or JSON file")
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--include-lm-head", action="store_true")
    p.add_argument("--breakdown", action="store_true", help="per-operator costs from the operator graph")
    p.add_argument("--graphml", default=None, metavar="FILE", help="export the operator graph as GraphML")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("score", help="entropy of an architecture and its parts")
    p.add_argument("arch", help="preset name or JSON file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("presets", help="list preset spaces, architectures and solvers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("table", help="build the entropy lookup table for a space and verify it against SVD")
    p.add_argument("--space", default="default")
    p.add_argument("--verify", type=int, default=0, metavar="K", help="check K shapes against exact SVD")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_table)

    for module in PLUGINS:
        try:
            plugin = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        plugin.add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MpsolveError as exc:
        print(f"mpsolve: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mpsolve: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
