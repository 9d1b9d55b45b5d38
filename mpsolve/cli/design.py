"""``mpsolve design``: the best architecture of a space under budgets, or of a problem file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mpsolve.cli.parsing import (
    CLIError,
    check_not_profiles,
    check_outputs,
    check_time_limit_flag,
    parse_budget,
    parse_options,
    print_json,
)
from mpsolve.constraints import Effectiveness
from mpsolve.core.checkpoint import check_checkpoint_target, holds_checkpoint
from mpsolve.core.problem import Problem
from mpsolve.objectives import effectiveness
from mpsolve.solvers import solve
from mpsolve.spaces import SPACES, load_space
from mpsolve.utils.quantities import format_quantity
from mpsolve.utils.random import DEFAULT_SEED
from mpsolve.utils.validation import first_repeat
from mpsolve.workflows.problem_file import load_problem_file

__all__ = ["add_subcommands", "cmd_design"]


def add_subcommands(subparsers: Any) -> None:
    """Add ``design``."""
    p = subparsers.add_parser("design", help="find the best architecture under budgets")
    p.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="e.g. flops=160G, params=64M, memory=512M, latency_ms=50, decode_ms=5 (units K, M, G, T)",
    )
    p.add_argument("--space", default=None, help=f"preset ({', '.join(SPACES)}; default: default) or a TOML file")
    p.add_argument("--objective", default=None, help="entropy (default), params or decoder_params")
    p.add_argument("--solver", default=None, help="backend name (default: ea, or the --problem file's solver, "
                   "whose options in the file apply to it only)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a solver option")
    p.add_argument("--seed", type=int, default=None, help="seed of the run (default 0)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="wall-clock limit in seconds")
    p.add_argument("--latency-profile", default=None, metavar="FILE", help="prefill device profile for latency_ms")
    p.add_argument("--decode-profile", default=None, metavar="FILE", help="decode device profile for decode_ms")
    p.add_argument("--problem", default=None, metavar="FILE.toml", help="a whole problem as a TOML file")
    p.add_argument("--checkpoint", default=None, metavar="PATH", help="write the run's state here")
    p.add_argument("--resume", default=None, metavar="PATH", help="continue from a checkpoint")
    p.add_argument("--allow-storage", action="store_true",
                   help="let the --problem file set a TPE storage URL (a database it creates or opens)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_design)


def cmd_design(args: argparse.Namespace) -> int:
    check_time_limit_flag(args.time_limit)
    options = parse_options(args.option)
    if args.problem == "":  # else taken for no --problem, and the run went on without it
        raise CLIError("--problem is an empty name: give a problem file, e.g. --problem run.toml")
    if args.objective is not None and not args.objective.strip():  # else taken for the default, entropy
        raise CLIError("--objective is empty: name one, e.g. --objective entropy (or params, decoder_params)")
    if args.solver is not None and not args.solver.strip():
        raise CLIError("--solver is empty: name a backend, e.g. --solver ea")
    if args.resume and args.seed is not None:
        raise CLIError("--seed and --resume cannot be combined: a resumed run keeps the checkpoint's seed")
    check_outputs({"--checkpoint": args.checkpoint}, {"--problem": args.problem, "--space": args.space,
                                                       "--latency-profile": args.latency_profile,
                                                       "--decode-profile": args.decode_profile})
    held = None if args.checkpoint is None else holds_checkpoint(args.checkpoint)
    if held and not (args.resume is not None and Path(args.resume).resolve() == Path(args.checkpoint).resolve()):
        raise CLIError(f"--checkpoint {args.checkpoint!r} holds an earlier run's checkpoint, which this run would "
                       f"write over: continue that run with --resume {args.checkpoint}, or give another --checkpoint")
    if args.problem:
        given = [f for f, v in (("--space", args.space), ("--objective", args.objective),
                                ("--latency-profile", args.latency_profile),
                                ("--decode-profile", args.decode_profile)) if v is not None]
        if given:
            raise CLIError(f"{', '.join(given)} and --problem cannot be combined: set them in the problem file")
        spec = load_problem_file(args.problem, allow_storage=args.allow_storage)
        problem = spec.problem
        check_not_profiles({"--checkpoint": args.checkpoint}, problem)
        solver = args.solver or spec.solver
        # the file's options are its own solver's (as in a sweep); another --solver starts from its defaults
        if solver != spec.solver and spec.solver_options:
            print(f"note: the problem file's {spec.solver} options ({', '.join(spec.solver_options)}) do not apply "
                  f"to --solver {solver}; pass them with --option", file=sys.stderr)
        options = {**(spec.solver_options if solver == spec.solver else {}), **options}
        # a resumed run keeps the checkpoint's seed (the file's seed may be its unwritten default)
        seed = args.seed if args.seed is not None else None if args.resume else spec.seed
        time_limit = args.time_limit if args.time_limit is not None else spec.time_limit
        if args.budget:
            raise CLIError("--budget and --problem cannot be combined: put the budgets in the problem file")
    else:
        if not args.budget:
            raise CLIError("give at least one budget, e.g. --budget flops=160G (or a --problem FILE.toml)")
        space = load_space("default" if args.space is None else args.space)
        constraints = [parse_budget(b, args.latency_profile, args.decode_profile) for b in args.budget]
        repeated = first_repeat([c.cost.name for c in constraints])
        if repeated is not None:  # both limits would apply, the lower one binding, without a word
            given = ", ".join(b.strip() for b, c in zip(args.budget, constraints) if c.cost.name == repeated)
            raise CLIError(f"--budget {repeated} is given twice ({given}): give each cost one budget")
        budgeted = {c.cost.name for c in constraints}
        for flag, value, cost, example in (("--latency-profile", args.latency_profile, "latency", "latency_ms=50"),
                                           ("--decode-profile", args.decode_profile, "decode", "decode_ms=5")):
            if value is not None and cost not in budgeted:
                print(f"note: {flag} is unused without a {cost} budget; add one, e.g. --budget {example}",
                      file=sys.stderr)
        problem = Problem(space, args.objective or "entropy", constraints)
        solver = args.solver or "ea"
        seed = args.seed if args.seed is not None else None if args.resume else DEFAULT_SEED  # the checkpoint's
        time_limit = args.time_limit
    if held is False:  # another file (the user's notes), once no input of the problem is it
        check_checkpoint_target(args.checkpoint, "--checkpoint")
    progress = not args.json and sys.stderr.isatty()
    before = _stamp(args.checkpoint)  # to tell this run's checkpoint from an older file at that path
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
    code = _report(result, problem, args.json)
    if result.status == "interrupted":  # the best design so far is shown; the status says the run was cut
        written = args.checkpoint is not None and _stamp(args.checkpoint) not in (None, before)
        saved = args.checkpoint if written else args.resume  # a resumed file stays a valid start
        shown = "no feasible design yet" if result.architecture is None else "the best design so far is shown"
        where = (f"; continue it with --resume {saved} (the same problem and solver, no --seed)" if saved else
                 "; it stopped before its first checkpoint: run it again" if args.checkpoint else "")
        print(f"mpsolve: interrupted: {shown}{where}", file=sys.stderr)
        return 130
    return code


def _stamp(path: str | None) -> tuple[int, int] | None:
    """When and how large the file at ``path`` was last written (``None``: no file)."""
    if path is None:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _report_effectiveness(arch: Any, problem: Problem) -> None:
    """Each effectiveness constraint's own rho beside its limit: with its beta (1/16 by default), not the entropy's
    (1/4) that the objective's ``rho_*`` use, so those looked above the limit."""
    layers = np.array([[b.layers for b in arch.blocks]])
    widths = {"mhsa": [[b.embed_dim for b in arch.blocks]], "ffn": [[b.ffn_dim for b in arch.blocks]]}
    for con in (c for c in problem.constraints if isinstance(c, Effectiveness)):
        parts = ("mhsa", "ffn") if con.parts == "both" else (con.parts,)
        rhos = ", ".join(f"rho_{p} {effectiveness(layers, np.array(widths[p]), con.beta)[0]:.6g}" for p in parts)
        print(f"effectiveness {rhos} <= {con.rho_max:g} (the constraint's beta {con.beta:g})")


def _report(result: Any, problem: Problem, as_json: bool) -> int:
    """Print the result (a table, or JSON); 1 when it holds no design (either way)."""
    if as_json:
        print_json(result.to_dict())
        return 0 if result.architecture is not None else 1
    print(f"status     {result.status}")
    print(f"solver     {result.solver} (seed {result.seed}, {result.n_evals} evaluations, {result.wall_time:.2f} s)")
    if result.architecture is None:
        print("no design meets the constraints (proved by a complete search)" if result.proved
              else "no feasible design found")
        return 1
    print(f"objective  {result.objective:.6g} ({problem.objective.name})")
    if result.gap is not None:
        print(f"bound      {result.bound:.6g} (gap {100 * result.gap:.4f} %)")
    for k, v in result.details.items():
        if k != problem.objective.name:
            print(f"  {k:<16} {v:.6g}")
    _report_effectiveness(result.architecture, problem)
    print("costs      " + ", ".join(f"{k}={format_quantity(v)}" for k, v in result.costs.items()))
    print("block  embed_dim  ffn_ratio  ffn_dim  layers")
    for i, b in enumerate(result.architecture.blocks):
        print(f"{i:>5}  {b.embed_dim:>9}  {b.ffn_ratio:>9g}  {b.ffn_dim:>7}  {b.layers:>6}")
    a = result.architecture
    print(
        f"vocab {a.vocab_size}, embed_proj_dim {a.embed_proj_dim}, max_positions {a.max_positions}, shared {a.shared}"
    )
    return 0
