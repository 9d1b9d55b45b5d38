"""Inspection subcommands: ``cost``, ``score``, ``presets`` and ``table``."""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from typing import Any

from mpsolve.cli.parsing import CLIError, budgeted_options, check_outputs, design_file, print_json
from mpsolve.costs import DecodeFlopsCost, FlopsCost, ParamsCost, graph_totals, operator_graph
from mpsolve.objectives import MeRinoEntropy
from mpsolve.solvers import list_solvers
from mpsolve.spaces import (
    ARCHITECTURES,
    SPACES,
    get_architecture,
    get_space,
    load_space,
    resolve_architecture,
)
from mpsolve.utils.errors import MpsolveError, MpsolveWarning, shown
from mpsolve.utils.files import atomic_write, check_writable
from mpsolve.utils.quantities import format_quantity
from mpsolve.workflows.problem_file import problem_from_dict

__all__ = ["add_subcommands", "cmd_cost", "cmd_score", "cmd_presets", "cmd_table"]

#: positions ``mpsolve cost`` counts without --seq-len (FlopsCost's default)
SEQ_LEN = FlopsCost().seq_len


def add_subcommands(subparsers: Any) -> None:
    """Add ``cost``, ``score``, ``presets`` and ``table``."""
    p = subparsers.add_parser("cost", help="params and FLOPs of an architecture")
    p.add_argument("arch", help="preset name or JSON file")
    p.add_argument("--seq-len", type=int, default=None,
                   help=f"positions of the pass counted (default: a cost --json output's own, else {SEQ_LEN})")
    p.add_argument("--include-lm-head", action=argparse.BooleanOptionalAction, default=None,
                   help="count the LM head in flops (default: a cost --json output's own choice, else not)")
    p.add_argument("--breakdown", action="store_true", help="per-operator costs from the operator graph")
    p.add_argument("--graphml", default=None, metavar="FILE", help="export the operator graph as GraphML")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cost, result_files=("--graphml",))

    p = subparsers.add_parser("score", help="entropy of an architecture and its parts")
    p.add_argument("arch", help="preset name or JSON file (a design result is scored with the entropy it was "
                   "solved with)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score)

    p = subparsers.add_parser("presets", help="list preset spaces, architectures and solvers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_presets)

    p = subparsers.add_parser("table", help="build the entropy lookup table for a space and verify it against SVD")
    p.add_argument("--space", default="default")
    p.add_argument("--verify", type=int, default=0, metavar="K", help="check K shapes against exact SVD")
    p.add_argument("--json", action="store_true")
    # the table is the result, saved in the cache; stdout has a summary
    p.set_defaults(func=cmd_table, saves_result="the table is saved in the cache all the same")


def cmd_cost(args: argparse.Namespace) -> int:
    if args.graphml is not None:  # an empty name is refused, not taken for no file
        check_writable(args.graphml, "--graphml")
        check_outputs({"--graphml": args.graphml}, {"architecture": args.arch})
    data = design_file(args.arch)
    arch = resolve_architecture(args.arch if data is None else data)
    seq_len, head = _workload(args, data)
    flops = FlopsCost(seq_len=seq_len, include_lm_head=head)
    decode = DecodeFlopsCost(seq_len=seq_len)
    _note_budgeted_options(data, args.arch, (flops, decode))
    beyond = [c.name for c in (flops, decode) if c.positions() > arch.max_positions]
    if beyond:
        less = " less the decoded token" if beyond == ["decode_flops"] else ""
        given = "--seq-len" if args.seq_len is not None or seq_len == SEQ_LEN else f"{args.arch}'s seq_len"
        print(f"note: {given} {seq_len} exceeds the architecture's max_positions {arch.max_positions}{less}: "
              f"the model cannot run that workload, so {' and '.join(beyond)} count a run that cannot happen",
              file=sys.stderr)
    costs = {"params": ParamsCost().of(arch), "flops": flops.of(arch), "decode_flops": decode.of(arch)}
    if args.breakdown or args.graphml is not None:
        graph = operator_graph(arch, seq_len=seq_len, include_lm_head=head)
        totals = graph_totals(graph)
        if totals["params"] != costs["params"] or abs(totals["flops"] - costs["flops"]) > 1e-9 * costs["flops"]:
            raise CLIError(f"the operator graph ({totals}) disagrees with the cost models ({costs}): please report")
        if args.graphml is not None:
            import networkx as nx

            buffer = io.BytesIO()
            nx.write_graphml(graph, buffer)
            atomic_write(args.graphml, buffer.getvalue())
    payload: dict[str, Any] = {
        "architecture": arch.to_dict(),
        "costs": costs,
        "seq_len": seq_len,
        "include_lm_head": head,
    }
    if args.breakdown:
        payload["breakdown"] = [{"node": n, **{k: v for k, v in d.items()}} for n, d in graph.nodes(data=True)]
    if args.json:
        print_json(payload)
        return 0
    print(f"{arch}")
    print(f"params {format_quantity(costs['params'])} ({costs['params']:.0f})")
    head = "in" if head else "out"
    print(f"flops  {format_quantity(costs['flops'])} (seq_len {seq_len}, lm head {head})")
    print(f"decode_flops {format_quantity(costs['decode_flops'])} per generated token ({seq_len} cached "
          "positions, lm head in)")
    if args.breakdown:
        print(f"\n{'node':<28} {'kind':<8} {'params':>12} {'flops':>12}")
        for n, d in graph.nodes(data=True):
            print(f"{n:<28} {d['kind']:<8} {d.get('params', 0):>12} {format_quantity(d.get('flops', 0)):>12}")
    return 0


def _workload(args: argparse.Namespace, data: Any) -> tuple[int, bool]:
    """``--seq-len`` and ``--include-lm-head`` as given, else those a ``cost --json`` output (``data``) was
    counted with, else the defaults."""
    recorded = data if isinstance(data, dict) and "status" not in data and "costs" in data else {}
    seq_len = args.seq_len if args.seq_len is not None else recorded.get("seq_len", SEQ_LEN)
    if args.seq_len is None and "seq_len" in recorded:
        try:
            FlopsCost(seq_len=seq_len)
        except MpsolveError as exc:  # else the error named a seq_len the user never gave, and no way out
            raise CLIError(f"{args.arch}: {exc}: fix the file or give --seq-len") from None
    head = args.include_lm_head if args.include_lm_head is not None else recorded.get("include_lm_head", False)
    if not isinstance(head, bool):
        raise CLIError(f"{args.arch}: include_lm_head must be true or false, got {shown(head)}: fix the file or give "
                       "--include-lm-head or --no-include-lm-head")
    return seq_len, head


def _note_budgeted_options(data: Any, source: str, shown: tuple[Any, ...]) -> None:
    """Note a design result whose FLOPs budgets count another workload than the one shown."""
    for name, budgeted in budgeted_options(data):
        cost = next((s for s in shown if name == s.name), None)
        if cost is not None and budgeted != cost.options():
            options = ", ".join(f"{k}={v}" for k, v in budgeted.items())
            print(f"note: {source} budgets {cost.name} with {options}; shown here with "
                  f"{', '.join(f'{k}={v}' for k, v in cost.options().items())} (--seq-len, --include-lm-head)",
                  file=sys.stderr)


def cmd_score(args: argparse.Namespace) -> int:
    data = design_file(args.arch)
    arch = resolve_architecture(args.arch if data is None else data)
    objective = _result_entropy(data, args.arch)
    details = objective.details(arch)
    if args.json:
        print_json({"architecture": arch.to_dict(), "objective": objective.options(), **details})
        return 0
    print(f"{arch}")
    for k, v in details.items():
        print(f"{k:<14} {v:.6g}")
    return 0


def _result_entropy(data: Any, source: str) -> MeRinoEntropy:
    """The entropy a design result (``data``, read from ``source``) was solved with, or that a
    ``score --json`` output was scored with; the default one for anything else."""
    problem = data.get("problem") if isinstance(data, dict) and "status" in data else None
    record = problem.get("objective") if isinstance(problem, dict) else None
    if isinstance(data, dict) and "status" not in data and "architecture" in data:  # mpsolve score --json
        record = data.get("objective")
    if not isinstance(record, dict):
        return MeRinoEntropy()
    objective = problem_from_dict({"objective": record}, source).problem.objective
    if isinstance(objective, MeRinoEntropy):
        return objective
    print(f"note: {source} was designed for the {objective.name} objective; scored here with the default entropy",
          file=sys.stderr)
    return MeRinoEntropy()


def cmd_presets(args: argparse.Namespace) -> int:
    spaces = {name: get_space(name) for name in SPACES}
    archs = {name: get_architecture(name) for name in ARCHITECTURES}
    if args.json:
        print_json(
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
    if args.verify < 0:
        raise CLIError(f"--verify takes a number of shapes (0 or more), got {args.verify}")
    space = load_space(args.space)
    objective = MeRinoEntropy()
    shapes = space.matrix_shapes()
    table = objective.table
    if table.path is not None:  # before the build: the saved table is what this command makes
        check_writable(table.path, "entropy lookup table")
    with warnings.catch_warnings():  # so a table that cannot be saved is this command's failure
        warnings.filterwarnings("error", "entropy lookup table .* cannot be saved", MpsolveWarning)
        table.spectra(shapes)
    report: dict[str, Any] = {"path": str(table.path), "shapes": len(shapes), "draws": table.draws}
    if args.verify:
        errors = table.verify(shapes[: args.verify], objective.variant, objective.eps, objective.init_std)
        report["max_relative_error"] = max(errors.values())
        report["mean_relative_error"] = sum(errors.values()) / len(errors)
        report["verified_shapes"] = len(errors)
    if args.json:
        print_json(report)
    else:
        for k, v in report.items():
            print(f"{k:<20} {v}")
    return 0
