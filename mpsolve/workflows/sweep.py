"""Sweeps: problems x budgets x solvers x seeds, locally or on a Dask cluster.

::

    from mpsolve.workflows.sweep import sweep
    rows = sweep({"default": Problem("default")}, budgets={"flops": ["60G", "110G"]},
                 solvers=["ea"], seeds=[0, 1], executor="dask://local")

Every task is an ordinary seeded :meth:`Solver.solve`, so a task gives the same answer on
any executor (without a time limit). Executors:

- ``"local"``: one after another in this process (the default);
- ``"process"`` / ``"process:N"``: a pool of ``N`` local processes;
- ``"dask://local"`` / ``"dask://local:N"``: a throw-away Dask ``LocalCluster`` of ``N``
  single-threaded worker processes;
- ``"dask://HOST:PORT"`` (or any Dask scheduler address such as ``tcp://HOST:PORT``): an
  existing Dask cluster whose workers have mpsolve installed;
- a ``distributed.Client``.

Tasks travel as problem files (:mod:`mpsolve.workflows.problem_file`), a few kilobytes each; a
problem a file cannot express (e.g. with a :class:`Predicate`) travels pickled.

A run whose solver refuses its problem (e.g. a space too large to enumerate, a constraint a solver
cannot model) gives a row with status ``error`` and the message, and the others go on; the sweep
warns of them at the end (:class:`FailedRunsWarning`).

A Ctrl-C stops the sweep on any executor: the runs in flight are cancelled (worker
processes started here ignore it, so only this process reacts) and :class:`SweepInterrupted`
carries the rows that finished.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from mpsolve.constraints import Budget
from mpsolve.core.problem import Problem
from mpsolve.core.result import STATUSES, Result
from mpsolve.core.solver import Solver
from mpsolve.costs import COSTS, LatencyCost, get_cost
from mpsolve.solvers import get_solver, solve
from mpsolve.spaces import load_space, space_label
from mpsolve.utils.errors import InfeasibleError, MpsolveError, MpsolveWarning, first_line, warn
from mpsolve.utils.jsonable import jsonable
from mpsolve.utils.quantities import parse_quantity
from mpsolve.utils.random import DEFAULT_SEED
from mpsolve.utils.signals import children_ignore_ctrl_c, close_pool, pool_worker, stop_pool
from mpsolve.utils.validation import check_integer, check_time_limit, is_integer
from mpsolve.workflows.problem_file import (
    ProblemFileError,
    ProblemSpec,
    problem_from_dict,
    problem_to_dict,
)

__all__ = ["FailedRunsWarning", "ROW_STATUSES", "SweepError", "SweepInterrupted", "SweepTask", "failed_runs",
           "profile_digests", "sweep", "sweep_tasks", "run_sweep", "run_task"]

#: a row's status: a :class:`Result`'s, or ``error`` for a run whose solver raised (its ``error`` says why)
ROW_STATUSES = (*STATUSES, "error")


class SweepError(MpsolveError):
    """A sweep is misconfigured (bad grid, executor or cluster address)."""


class FailedRunsWarning(MpsolveWarning):
    """Runs of a sweep whose solver raised: their rows have status ``error`` and the message."""


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C; ``rows`` are the runs that finished (in task order) of ``total``."""

    def __init__(self, rows: list[dict[str, Any]], total: int) -> None:
        super().__init__(f"sweep interrupted: {len(rows)} of {total} runs finished")
        self.rows, self.total = rows, total


@dataclass
class SweepTask:
    """One seeded run of a sweep.

    Attributes:
        index: position in the sweep (results come back in this order).
        name: the problem's label.
        problem: the problem, with the swept budgets in place.
        budgets: the swept budget values by cost name (empty when budgets are not swept).
        solver, solver_options, seed, time_limit: how to run it.
    """

    index: int
    name: str
    problem: Problem
    budgets: dict[str, float] = field(default_factory=dict)
    solver: str = "ea"
    solver_options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = DEFAULT_SEED
    time_limit: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        try:  # a problem file is a few KB; the problem object carries the whole entropy table
            state["problem"] = problem_to_dict(self.problem)
            state["report_costs"] = [(c.name, c.options()) for c in self.problem.costs.values()]  # not in the file
            # a file lists budgets first: the order the worker restores
            state["constraint_order"] = [_constraint_key(c) for c in self.problem.constraints]
        except ProblemFileError:
            pass
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["problem"], Mapping):
            with warnings.catch_warnings():  # warned of where the task was made; not again in each worker
                warnings.simplefilter("ignore", MpsolveWarning)
                p = problem_from_dict(state["problem"], f"sweep task {state['index']}").problem
                reported = [get_cost(name, **options) for name, options in state.pop("report_costs")]
                order = state.pop("constraint_order")  # the row echoes the task's own problem, as a local run's does
                rank = {key: i for i, key in reversed(list(enumerate(order)))}
                constraints = sorted(p.constraints, key=lambda c: rank.get(_constraint_key(c), len(order)))
                state["problem"] = Problem(p.space, p.objective, constraints, report_costs=reported)
        vars(self).update(state)


def _constraint_key(constraint: Any) -> str:
    """A constraint's description as text (the same before and after it travels as a problem file)."""
    return json.dumps(jsonable(constraint.to_dict()), sort_keys=True)


def sweep_tasks(
    problems: Mapping[str, Problem | ProblemSpec | str] | Sequence[Problem | ProblemSpec | str],
    budgets: Mapping[str, Sequence[float | str]] | None = None,
    solvers: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    *,
    time_limit: float | None = None,
    solver_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[SweepTask]:
    """The tasks of a sweep, in a fixed order: problem, budget combination, solver, seed.

    Args:
        problems: problems by label, or a sequence (labelled by space name); a string is a
            preset space or a TOML space file, a :class:`ProblemSpec` also brings options for
            its own solver, and its own seed and time limit where the sweep gives none.
        budgets: limits to sweep by cost name, e.g. ``{"flops": ["60G", "110G"]}`` (several
            costs: every combination; a single limit is a list of one). A swept budget
            replaces the problem's budget on that cost and keeps its options (e.g. ``seq_len``).
        solvers: backend names, each run on every problem (a single name is a list of one);
            ``None``: each :class:`ProblemSpec` with its own solver, the other problems with ``ea``.
        seeds: seeds of every run (a single integer is a list of one); ``None``: each
            :class:`ProblemSpec`'s own seed, :data:`~mpsolve.utils.random.DEFAULT_SEED` for the
            other problems (and a spec without one).
        time_limit: seconds per run (a time limit makes answers depend on machine speed);
            ``None``: each :class:`ProblemSpec`'s own (none for the other problems); ``math.inf``:
            no limit, whatever the specs say.
        solver_options: options by solver name, e.g. ``{"ea": {"iterations": 5000}}``.

    Raises:
        SweepError: for an empty grid, an argument of the wrong kind, a bad seed or time limit, a seed,
            solver name or budget given twice (the same tasks twice),
            or options of a solver that is not swept; the solvers' own errors for bad options.
            Every argument is checked before any task is made, so a sweep never stops halfway
            on bad input.
    """
    solvers = None if solvers is None else _solvers(solvers)
    seeds = None if seeds is None else _seeds(seeds)
    check_time_limit(time_limit, SweepError)
    options = _solver_options(solver_options)
    labelled = _labelled(problems)
    if not labelled or solvers == [] or seeds == []:
        raise SweepError("a sweep needs at least one problem, one solver and one seed")
    swept = solvers if solvers is not None else list(dict.fromkeys(_own_solver(item) for _, item in labelled))
    stray = set(options) - set(swept)
    if stray:
        raise SweepError(f"solver_options given for {sorted(stray)}, which are not swept (solvers: {swept})")
    grid = _budget_grid(budgets)
    tasks = []
    for name, item in labelled:
        spec = item if isinstance(item, ProblemSpec) else None
        base = spec.problem if spec else item if isinstance(item, Problem) else Problem(load_space(item))
        # what the sweep gives wins; else the spec's own (as design --problem does)
        own_seeds = seeds if seeds is not None else [spec.seed if spec and spec.seed is not None else DEFAULT_SEED]
        limit = time_limit if time_limit is not None else spec.time_limit if spec else None
        # no limit, as a row records it; else a float (a numpy one made the rows no JSON)
        limit = None if limit is None or limit == math.inf else float(limit)
        for limits in grid:
            problem = _with_budgets(base, limits)
            swept = {cost: parse_quantity(limit) for cost, limit in limits.items()}
            for solver in solvers if solvers is not None else [_own_solver(item)]:
                opts = {**(spec.solver_options if spec and spec.solver == solver else {}), **options.get(solver, {})}
                get_solver(solver, **opts)  # bad options fail before anything runs
                for seed in own_seeds:
                    tasks.append(SweepTask(len(tasks), name, problem, swept, solver, opts, seed, limit))
    return tasks


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one task; the row is ``Result.to_dict()`` plus ``index``, ``name``, ``budgets``, ``time_limit``
    (seconds, ``None`` for none) and ``profiles`` (the :func:`profile_digests` of the problem it ran).

    A budget no design can meet gives a row with status ``infeasible`` and an ``error``
    message instead of stopping the sweep; a solver that raises one of mpsolve's errors (it cannot
    model the problem, the space is too large for it) a row with status ``error``, no design, and the
    message.
    """
    error, failed = None, False
    try:
        result = solve(task.problem, task.solver, task.seed, task.time_limit, **task.solver_options)
    except MpsolveError as exc:
        error, failed = str(exc), not isinstance(exc, InfeasibleError)
        solver = get_solver(task.solver, **task.solver_options)
        result = Result.infeasible(task.problem, solver.name, seed=task.seed, options=solver.get_options())
    row = {"index": task.index, "name": task.name, "budgets": task.budgets, "time_limit": task.time_limit,
           "profiles": profile_digests(task.problem), **result.to_dict()}
    if failed:  # nothing is proved of the problem
        row.update(status="error", proved=False)
    if error is not None:
        row["error"] = error
    return row


def profile_digests(problem: Problem) -> dict[str, str]:
    """A fingerprint of the content of each device profile the problem's costs read, by cost key (a profile
    file's path says nothing of what it holds now)."""
    return {key: cost.profile_digest for key, cost in problem.costs.items() if isinstance(cost, LatencyCost)}


def run_sweep(tasks: Sequence[SweepTask], executor: Any = "local",
              on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run tasks on an executor (see the module docstring); rows come back in task order.

    Args:
        on_row: called with each row as its run finishes (in the order they finish).

    Raises:
        SweepInterrupted: on Ctrl-C, with the rows that finished.

    Warns:
        FailedRunsWarning: when runs failed (rows with status ``error``), naming how many and the first.
    """
    if on_row is not None and not callable(on_row):  # before the first run, not after it
        raise SweepError(f"on_row must be a function of one row (a dict), got {on_row!r}")
    tasks = list(tasks)
    done: dict[int, dict[str, Any]] = {}
    try:
        with _rows(tasks, executor) as rows:
            for row in rows:
                done[row["index"]] = row
                if on_row is not None:
                    on_row(row)
    except KeyboardInterrupt:
        raise SweepInterrupted([done[i] for i in sorted(done)], len(tasks)) from None
    rows = [done[t.index] for t in tasks]
    failed = failed_runs(rows)
    if failed:
        warn(failed, FailedRunsWarning)
    return rows


def failed_runs(rows: Sequence[Mapping[str, Any]], what: str = "runs", held: str = "rows",
                which: Callable[[Mapping[str, Any]], str] | None = None) -> str | None:
    """How many of ``rows`` failed (status ``error``) and why the first did, as one line; ``None``: none failed.
    ``what`` names the runs, ``held`` the rows and ``which`` says which run a row is (default: a sweep's)."""
    failed = [r for r in rows if r.get("status") == "error"]
    if not failed:
        return None
    first = failed[0]
    said = (which(first) if which is not None
            else f"problem {first.get('name')!r} with {first.get('solver')}, seed {first.get('seed')}")
    return (f"{len(failed)} of {len(rows)} {what} failed; their {held} have status 'error' (the first, {said}: "
            f"{first.get('error')})")


@contextlib.contextmanager
def _rows(tasks: list[SweepTask], executor: Any) -> Iterator[Iterator[dict[str, Any]]]:
    """The rows of ``tasks`` as they finish on ``executor``; leaving early cancels the rest."""
    if not isinstance(executor, str):
        yield _dask_rows(executor, tasks)
        return
    kind, _, target = executor.partition("://")
    if executor == "local":
        yield _local_rows(tasks)
        return
    if kind == "process" or executor.startswith("process:"):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        workers = _count(executor.partition(":")[2], executor) if ":" in executor else None
        _check_sendable(tasks)
        spawn = multiprocessing.get_context("spawn")  # forking a process that runs threads can deadlock
        # a pool that reports a dead worker (killed, out of memory) instead of waiting for it forever
        pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=pool_worker)
        try:
            with children_ignore_ctrl_c():  # the workers start with the first tasks
                futures = [pool.submit(run_task, task) for task in tasks]
            yield _process_rows(futures)
        except BaseException:  # leaving early (Ctrl-C, an error): stop the runs under way too
            stop_pool(pool)
            raise
        close_pool(pool)
        return
    if kind == "ray":
        raise SweepError(
            "Ray clusters are not supported; start a Dask cluster (`dask scheduler` and `dask worker "
            "tcp://HOST:8786` on each machine) and pass --executor dask://HOST:8786"
        )
    if kind not in ("dask", "tcp", "tls", "ucx", "inproc"):
        raise SweepError(f"unknown executor {executor!r}; use local, process[:N], dask://local[:N] or dask://HOST:PORT")
    if not (target == "local" or target.startswith("local:")):
        host, _, port = target.rpartition(":")
        if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:  # int('²') fails
            raise SweepError(f"executor {executor!r} needs a scheduler address HOST:PORT (e.g. dask://127.0.0.1:8786) "
                             "or local[:N]")
    distributed = _import_distributed()
    if kind == "dask" and (target == "local" or target.startswith("local:")):
        workers = _count(target[6:], executor) if target != "local" else min(4, os.cpu_count() or 1)
        with children_ignore_ctrl_c():
            # workers log nothing below critical: a run's error comes back with its result, cancelled runs are no
            # news, and on Ctrl-C a worker whose heartbeat met the closed scheduler logged an ERROR with a traceback
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=logging.CRITICAL,
            )
        yield from _on_dask(tasks, cluster, lambda: distributed.Client(cluster))
        return
    address = f"tcp://{target}" if kind == "dask" and "://" not in target else target if kind == "dask" else executor
    try:
        client = distributed.Client(address, timeout=30)
    except (OSError, TimeoutError) as exc:
        raise SweepError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    yield from _on_dask(tasks, client)


def sweep(
    problems: Mapping[str, Problem | ProblemSpec | str] | Sequence[Problem | ProblemSpec | str],
    budgets: Mapping[str, Sequence[float | str]] | None = None,
    solvers: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    *,
    executor: Any = "local",
    time_limit: float | None = None,
    solver_options: Mapping[str, Mapping[str, Any]] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run a sweep (:func:`sweep_tasks` then :func:`run_sweep`) and return its rows.

    ``on_row`` is called with each row as its run finishes (to save or show it at once: the runs
    may be in other processes, so a per-run solver ``callback`` cannot reach them)."""
    tasks = sweep_tasks(problems, budgets, solvers, seeds, time_limit=time_limit, solver_options=solver_options)
    return run_sweep(tasks, executor, on_row)


# -- helpers --------------------------------------------------------------------------------------
def _own_solver(item: Any) -> str:
    """The solver a problem runs with when the sweep names none: a :class:`ProblemSpec`'s own, else ea."""
    return item.solver if isinstance(item, ProblemSpec) else "ea"


def _is_solver(s: Any) -> bool:
    """A solver name, instance or class."""
    return isinstance(s, (str, Solver)) or (isinstance(s, type) and issubclass(s, Solver))


def _solvers(solvers: Any) -> list[Any]:
    if _is_solver(solvers):
        return [solvers]  # one solver, not a list of its name's characters
    if not isinstance(solvers, Iterable) or isinstance(solvers, Mapping):
        raise SweepError(f"solvers must be a list of solver names, e.g. solvers=['ea', 'cpsat'], got {solvers!r}")
    solvers = list(solvers)
    for s in solvers:
        if not _is_solver(s):
            raise SweepError(f"solvers must be solver names, e.g. solvers=['ea', 'cpsat'], got {s!r} in {solvers!r}")
    names = [s for s in solvers if isinstance(s, str)]  # instances may differ in their options
    _once(names, lambda s: f"solver {s!r} is given twice: its runs would repeat the same answers; give each solver "
                           "once")
    return solvers


def _once(values: list[Any], message: Callable[[Any], str]) -> None:
    """Refuse a value given twice (its runs would repeat the same tasks): ``message`` names the first repeat."""
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            raise SweepError(message(v))
        seen.add(v)


def _seeds(seeds: Any) -> list[int | None]:
    if is_integer(seeds):
        return [int(seeds)]  # one seed
    if isinstance(seeds, (str, Mapping)) or not isinstance(seeds, Iterable):
        raise SweepError(f"seeds must be a list of non-negative integers, e.g. seeds=[0, 1], got {seeds!r}")
    seeds = [check_integer(s, "each seed", minimum=0, error=SweepError, optional=True) for s in seeds]
    _once([s for s in seeds if s is not None], lambda s: f"seed {s} is given twice: its runs would repeat the same "
          "answers; give each seed once")  # None: unseeded runs, which differ
    return seeds


def _solver_options(solver_options: Any) -> dict[str, dict[str, Any]]:
    example = "e.g. solver_options={'ea': {'iterations': 5000}}"
    if solver_options is None:
        return {}
    if not isinstance(solver_options, Mapping):
        raise SweepError(f"solver_options must map solver names to their options, {example}, got {solver_options!r}")
    for name, opts in solver_options.items():
        if not isinstance(opts, Mapping) or not all(isinstance(k, str) for k in opts):
            raise SweepError(f"solver_options[{name!r}] must map option names to values, {example}, got {opts!r}")
    return {k: dict(v) for k, v in solver_options.items()}


def _labelled(problems: Any) -> list[tuple[str, Any]]:
    kinds = "a Problem, a ProblemSpec, a preset space name or a .toml space file"
    if isinstance(problems, Mapping):
        labelled = [(str(k), v) for k, v in problems.items()]
        _once([label for label, _ in labelled], lambda label: f"two problems are labelled {label!r} (keys "
              f"{', '.join(repr(k) for k in problems if str(k) == label)}): their rows could not be told apart; give "
              "each its own label")
        for label, item in labelled:
            if not isinstance(item, (str, Problem, ProblemSpec)):
                raise SweepError(f"problem {label!r} must be {kinds}, got {item!r}")
        return labelled
    if isinstance(problems, (str, Problem, ProblemSpec)):
        problems = [problems]
    if not isinstance(problems, Iterable):
        raise SweepError(f"problems must be a list or a mapping of problems by label, e.g. ['small'], got {problems!r}")
    out: list[tuple[str, Any]] = []
    for item in problems:
        if not isinstance(item, (str, Problem, ProblemSpec)):
            raise SweepError(f"each problem must be {kinds}, got {item!r}")
        problem = item.problem if isinstance(item, ProblemSpec) else item
        name = problem if isinstance(problem, str) else problem.space.name
        name = space_label(name)  # a space file: its space's name
        taken = {n for n, _ in out}
        out.append((name if name not in taken else f"{name}#{len(out)}", item))
    return out


def _budget_grid(budgets: Mapping[str, Sequence[float | str]] | None) -> list[dict[str, float | str]]:
    example = "e.g. budgets={'flops': ['60G', '110G']}"
    if budgets is None:
        return [{}]
    if not isinstance(budgets, Mapping):
        raise SweepError(f"budgets must map cost names to lists of limits, {example}, got {budgets!r}")
    costs = list(budgets)
    values = []
    named: dict[str, str] = {}
    for cost in costs:
        if not isinstance(cost, str):
            raise SweepError(f"budgets must be keyed by cost name (flops, params, ...), {example}, got key {cost!r}")
        name = COSTS[cost].name  # latency_ms is latency: a second key would silently replace the first's budget
        if name in named:
            raise SweepError(f"budgets[{named[name]!r}] and budgets[{cost!r}] both bound the {name} cost: give all "
                             f"its limits in one list, e.g. {{{named[name]!r}: ['50', '60']}}")
        named[name] = cost
        given = budgets[cost]
        if isinstance(given, (str, Real)):  # one limit (numpy numbers too)
            limits = [given]
        elif isinstance(given, Mapping) or not isinstance(given, Iterable):
            raise SweepError(f"budgets[{cost!r}] must be a list of limits, e.g. {{{cost!r}: ['60G', '110G']}}, "
                             f"got {given!r}")
        else:
            limits = list(given)
        if not limits:
            raise SweepError(f"no budget values for {cost!r}: give at least one, e.g. {{{cost!r}: ['160G']}}")
        given: dict[float, Any] = {}  # each limit by its value, as the caller spelled it
        for limit in limits:
            try:
                value = parse_quantity(limit)
            except MpsolveError:  # the budget itself says what is wrong with it
                continue
            if value in given:
                raise SweepError(f"budgets[{cost!r}]: {limit!r} is given twice ({given[value]!r} is the same "
                                 f"{value:g}): give each budget once")
            given[value] = limit
        values.append(limits)
    return [dict(zip(costs, combo)) for combo in itertools.product(*values)]


def _with_budgets(problem: Problem, limits: Mapping[str, float | str]) -> Problem:
    if not limits:
        return problem
    constraints = list(problem.constraints)
    for cost, limit in limits.items():
        name = COSTS[cost].name  # latency_ms is latency
        if len(problem.budgeted_costs(name)) > 1:
            raise SweepError(
                f"sweeping {cost} is ambiguous: the problem budgets {name} with several sets of options "
                f"({', '.join(problem.cost_key(c) for c in problem.budgeted_costs(name))}); keep one {name} budget"
            )
        at = [i for i, c in enumerate(constraints) if isinstance(c, Budget) and c.cost.name == name]
        if at:  # the swept budget where the first was; the others on that cost go (as in pareto)
            constraints[at[0]] = Budget(constraints[at[0]].cost, limit)
            constraints = [c for i, c in enumerate(constraints) if i not in at[1:]]
        elif issubclass(COSTS[cost], LatencyCost):
            raise SweepError(
                f"sweeping {cost} needs a device profile: sweep a problem file (--problem) with a {name} budget "
                f'and its profile, e.g. [budgets] {name} = {{ limit = 50, profile = "device.json" }}'
            )
        else:
            constraints.append(Budget(cost, limit))
    return Problem(problem.space, problem.objective, constraints, report_costs=list(problem.costs.values()))


def _count(text: str, executor: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:  # '²' is a digit that int() refuses
        raise SweepError(f"bad worker count in executor {executor!r}: expected a positive integer after ':'")
    return int(text)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise SweepError(
            "Dask executors need dask.distributed: pip install mpsolve[distributed] "
            "(or pip install 'dask[distributed]')"
        ) from None
    return distributed


# -- executors ------------------------------------------------------------------------------------
def _local_rows(tasks: list[SweepTask]) -> Iterator[dict[str, Any]]:
    for task in tasks:
        row = run_task(task)
        if row["status"] == "interrupted":  # the solver caught Ctrl-C and stopped with its best so far
            raise KeyboardInterrupt
        yield row


def _check_sendable(tasks: list[SweepTask]) -> None:
    """Refuse, before any run, a problem a worker process cannot receive (a lambda
    :class:`Predicate`): the pool would report it only when that run's row is awaited."""
    from multiprocessing.reduction import ForkingPickler  # what the pool sends tasks with

    # one task per problem, solver and options: the budgets and seeds of the others change no types
    for task in {(task.name, repr(task.solver), repr(task.solver_options)): task for task in tasks}.values():
        try:
            ForkingPickler.dumps(task)
        except Exception as exc:
            reason = first_line(exc)
            raise SweepError(f"the run of problem {task.name!r} with solver {task.solver!r} cannot be sent to a "
                             f"worker process ({reason}): define its predicates, costs, objectives and solver at "
                             "module level, not as lambdas or inside a function, or use executor='local'") from None


def _process_rows(futures: list[Any]) -> Iterator[dict[str, Any]]:
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    try:
        for future in as_completed(futures):
            yield future.result()
    except BrokenProcessPool:
        raise SweepError("a worker process died (killed, out of memory, or unable to load its task: a solver, cost "
                         "or objective of your own must be importable from a module, not defined in python -c or on "
                         "stdin); the runs that finished are kept in --out") from None


def _on_dask(tasks: list[SweepTask], *resources: Any) -> Iterator[Iterator[dict[str, Any]]]:
    """Yield the rows of ``tasks`` on the client that is the last of ``resources`` (a context
    manager or a factory of one), then close them all; a Ctrl-C closes them without the
    ``distributed`` log lines of every connection it cuts."""
    logger = logging.getLogger("distributed")
    level = logger.level
    try:
        with contextlib.ExitStack() as stack:
            for resource in resources:
                client = stack.enter_context(resource() if callable(resource) else resource)
            try:
                yield _dask_rows(client, tasks)
            except KeyboardInterrupt:
                logger.setLevel(logging.CRITICAL + 1)
                raise
    finally:
        logger.setLevel(level)


def _dask_rows(client: Any, tasks: list[SweepTask]) -> Iterator[dict[str, Any]]:
    if not hasattr(client, "map") or not hasattr(client, "gather"):
        raise SweepError(f"executor must be a string or a distributed.Client, got {client!r}")
    futures = client.map(run_task, tasks, pure=False)
    try:
        for future in _import_distributed().as_completed(futures):
            yield future.result()
    finally:
        client.cancel(futures)


