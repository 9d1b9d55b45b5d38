"""The solver abstraction and the run context every backend uses.

A backend subclasses :class:`Solver`, takes its options in ``__init__`` and implements
``_solve(ctx)``: it proposes encodings, scores them with ``ctx.evaluate`` (which keeps the
best feasible design, the history, the evaluation count and the progress bar), stops when
``ctx.time_up()``, and may set ``ctx.status``/``ctx.bound`` when it proves something.
:meth:`Solver.solve` does the rest identically for every backend: feasibility check, time
limit, best-so-far on Ctrl-C, checkpoints, and the :class:`Result`.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mpsolve.core.checkpoint import check_checkpoint_target, checkpoint_lock, dumps_checkpoint, load_checkpoint
from mpsolve.core.problem import Evaluation, Problem, corner_chunks
from mpsolve.core.result import Result
from mpsolve.utils.clock import DeadlineReached, deadline
from mpsolve.utils.errors import MpsolveError, SolverError, shown, warn
from mpsolve.utils.files import atomic_write, check_writable
from mpsolve.utils.jsonable import jsonable
from mpsolve.utils.params import constructor_options
from mpsolve.utils.random import check_random_state, fresh_seed
from mpsolve.utils.signals import on_ctrl_c
from mpsolve.utils.validation import check_bool, check_integer, check_time_limit, is_finite_number

__all__ = ["Solver", "SolveContext", "check_run", "run_clock"]

#: when the next run's clock started, where its caller started it (:func:`run_clock`); ``None``: at ``Solver.solve``
_RUN_START: ContextVar[float | None] = ContextVar("mpsolve_run_start", default=None)


@contextlib.contextmanager
def run_clock() -> Iterator[None]:
    """Start the clock of the next :meth:`Solver.solve` in this context now, so that its time limit covers what
    comes first (``mpsolve.solve`` loading the backend: OR-Tools takes ~0.6 s on first use)."""
    token = _RUN_START.set(time.perf_counter())
    try:
        yield
    finally:
        _RUN_START.reset(token)


class SolveContext:
    """What a backend sees during one run: the problem, its RNG, the clock and the incumbent."""

    def __init__(
        self,
        problem: Problem,
        solver: Solver,
        seed: int | None,
        time_limit: float | None,
        progress: bool = False,
        callback: Callable[[SolveContext], Any] | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: float = 30.0,
        resume_state: dict[str, Any] | None = None,
        start: float | None = None,
    ) -> None:
        self.problem = problem
        self.solver = solver
        self.seed = seed
        self.rng = check_random_state(seed)
        self.time_limit = time_limit
        self.start = time.perf_counter() if start is None else start
        self._deadline = math.inf if time_limit is None else self.start + time_limit
        self.callback = callback
        self.n_evals = 0
        self.best_x: np.ndarray | None = None
        self.best_f = -math.inf
        self.history: list[tuple[float, int, float]] = []
        self.status: str | None = None
        self.bound: float | None = None
        self.pareto: list[dict[str, Any]] | None = None
        self.feasible_seeds = np.empty((0, problem.n_var), dtype=np.int64)
        self.checkpoint_path = None if checkpoint is None else Path(checkpoint)
        self.checkpoint_every = checkpoint_every
        self.resume_state = resume_state
        self._last_checkpoint = time.perf_counter()
        self._state_fn: Callable[[], dict[str, Any]] | None = None
        self._boundary: bytes | None = None
        # a resumed run keeps its checkpoint file until the backend marks a step beyond it: a
        # backend that replays its steps marks none while replaying, and an interrupt or the end
        # of the run there must not write the replay's earlier step over the file
        self._resumed_pending = resume_state is not None
        self.fingerprint = problem.fingerprint()
        self._bar = None
        self._progress = progress
        self._read_clock = False  # whether the backend asked for the time (a plug-in may never)
        self._in_callback = False  # the user's callback reading the clock is not the backend reading it
        self.stopped = False
        if resume_state is not None:
            self.rng.bit_generator.state = resume_state["rng"]
            self.n_evals = resume_state["n_evals"]
            self.best_x = resume_state["best_x"]
            self.best_f = resume_state["best_f"]
            self.history = list(resume_state["history"])
            self._elapsed_before = resume_state["elapsed"]
        else:
            self._elapsed_before = 0.0

    # -- clock -------------------------------------------------------------------------------
    @property
    def deadline(self) -> float:
        """``time.perf_counter()`` at which the run must stop (``inf``: no limit); read-only."""
        self._clock_read()
        return self._deadline

    @deadline.setter
    def deadline(self, value: float) -> None:
        raise AttributeError("ctx.deadline is read-only: end a run early with ctx.stop()")

    def elapsed(self) -> float:
        """Seconds of this run, including time spent before a resume."""
        self._clock_read()
        return self._elapsed()

    def _clock_read(self) -> None:
        if not self._in_callback:
            self._read_clock = True

    def _elapsed(self) -> float:
        return self._elapsed_before + time.perf_counter() - self.start

    def time_left(self) -> float:
        self._clock_read()
        return self._deadline - time.perf_counter()

    def time_up(self) -> bool:
        self._clock_read()
        return time.perf_counter() >= self._deadline

    def stop(self) -> None:
        """End the run early, as its time limit would: the backend stops at its next
        :meth:`time_up` and the best design so far is the answer (e.g. from a callback, after no
        improvement for a while, as Optuna's ``study.stop()``). Nothing is proved of a stopped run."""
        self.stopped = True
        self._deadline = -math.inf

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, X: np.ndarray) -> Evaluation:
        """Score a batch (or one design), count it, and keep the best feasible design."""
        X = np.asarray(X)
        X = X[None] if X.ndim == 1 else X  # one design: a batch of one
        ev = self.problem.evaluate(X)
        self.n_evals += len(ev.objective)
        if np.any(ev.feasible):
            f = np.where(ev.feasible, ev.objective, -np.inf)
            i = int(np.argmax(f))
            self._take(X[i], float(f[i]))
        if self._bar is not None:
            self._bar.update(len(ev.objective))
        if self.callback is not None:
            outer, self._in_callback = self._in_callback, True  # a callback may evaluate too
            try:
                self.callback(self)
            finally:
                self._in_callback = outer
        return ev

    def evaluate_while_time_left(self, X: np.ndarray) -> tuple[np.ndarray, Evaluation]:
        """Score a large batch (the feasible corners: up to ~10^5 designs) in growing chunks
        (:func:`~mpsolve.core.problem.corner_chunks`), the first always and the others while time is left:
        the designs scored and their evaluation."""
        X = np.asarray(X)
        X = X[None] if X.ndim == 1 else X  # one design: a batch of one, as evaluate takes it
        parts = [self.evaluate(X[part]) for part in corner_chunks(len(X), self.time_up)]
        if not parts:
            return X, self.problem.evaluate(X)  # no rows: the empty evaluation, nothing counted
        n = sum(len(p.objective) for p in parts)
        return X[:n], Evaluation.concatenate(parts)

    def offer(self, x: np.ndarray, f: float) -> None:
        """Propose a feasible design with objective ``f`` as the incumbent (a design found without
        :meth:`evaluate`). It is scored again here, not counted as an evaluation.

        Raises:
            SolverError: the design violates a constraint, its objective is not ``f``, ``x`` is not one
                design or ``f`` not a number (an encoding that is not integer: ``ArchitectureError``).
        """
        name = self.solver.name
        x = np.asarray(x)  # as given: the scoring refuses what is not an integer encoding (a cast truncated it)
        if x.ndim != 1:
            raise SolverError(f"solver {name!r} offered an array of shape {x.shape}: offer one design's encoding "
                              "(ctx.evaluate takes a batch)")
        if isinstance(f, bool) or not isinstance(f, (int, float, np.integer, np.floating)):
            raise SolverError(f"solver {name!r} offered objective {shown(f)}: offer the number ctx.evaluate returns")
        feasible, true, same = self._rescore(x, float(f))
        if not feasible:
            raise SolverError(f"solver {name!r} offered {self.problem.space.decode(x)}, which violates the "
                              "constraints: offer only feasible designs (ctx.evaluate checks them)")
        if not same:
            raise SolverError(f"solver {name!r} offered objective {f!r} for a design whose objective is {true!r}: "
                              "offer the value ctx.evaluate returns")
        self._take(x, true)

    def _rescore(self, x: np.ndarray, f: float, ev: Evaluation | None = None) -> tuple[bool, float, bool]:
        """Score one design again, uncounted (or read ``ev``, its evaluation): whether it is feasible, its
        objective, and whether that is ``f`` (to a relative 1e-9: one batch or another may round it differently)."""
        ev = self.problem.evaluate(np.asarray(x)[None]) if ev is None else ev
        true = float(ev.objective[0])
        return bool(ev.feasible[0]), true, math.isclose(f, true, rel_tol=1e-9, abs_tol=1e-12)

    def _take(self, x: np.ndarray, f: float) -> None:
        """Make ``x`` (feasible, objective ``f``) the incumbent when it beats it."""
        if f > self.best_f:
            self.best_f, self.best_x = f, np.array(x, dtype=np.int64)
            self.history.append((self._elapsed(), self.n_evals, f))
            if self._bar is not None:
                self._bar.set_postfix(best=f"{f:.6g}", refresh=False)

    def progress(self, total: int | None, unit: str = "eval") -> None:
        """Show a progress bar of ``total`` evaluations (when the run asked for one)."""
        if self._progress and self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit=unit, desc=self.solver.name, leave=False, dynamic_ncols=True)
            self._bar.update(self.n_evals if total is not None else 0)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # -- checkpoints -----------------------------------------------------------------------
    def set_state(self, state_fn: Callable[[], dict[str, Any]]) -> None:
        """Register how to capture the solver's state, at a consistent point of the run.

        The backend then calls :meth:`maybe_checkpoint` after every step; the state is
        serialised there (when the run has a checkpoint file), so later changes to the objects
        it returns do not leak into the saved step.
        """
        self._state_fn = state_fn
        if not self._resumed_pending:
            self.maybe_checkpoint(write=False)

    def maybe_checkpoint(self, force: bool = False, write: bool = True) -> None:
        """Mark a consistent point of the run (a step boundary) and write it every
        ``checkpoint_every`` seconds, or now with ``force``.

        An interrupt writes the last marked point, so a resumed run replays the interrupted
        step exactly as the uninterrupted run did.
        """
        if self.checkpoint_path is None or self._state_fn is None:
            return
        self._resumed_pending = False
        self._boundary = dumps_checkpoint(self, self._state_fn())
        now = time.perf_counter()
        if write and (force or now - self._last_checkpoint >= self.checkpoint_every):
            atomic_write(self.checkpoint_path, self._boundary)
            self._last_checkpoint = now

    def checkpoint_last_boundary(self) -> bool:
        """Write the last consistent point of the run (on interrupt); whether there was one to write."""
        if self.checkpoint_path is None or self._boundary is None:
            return False
        atomic_write(self.checkpoint_path, self._boundary)
        return True

    def write_checkpoint(self, solver_state: dict[str, Any]) -> None:
        """Atomically write the run's state now (a crash mid-write keeps the previous file)."""
        atomic_write(self.checkpoint_path, dumps_checkpoint(self, solver_state))


def check_run(seed: Any = None, time_limit: Any = None, progress: Any = False, callback: Any = None) -> None:
    """A one-line :class:`SolverError` for a bad seed, time limit, ``progress`` or ``callback`` of a run."""
    check_time_limit(time_limit, SolverError)
    check_integer(seed, "seed", minimum=0, error=SolverError, optional=True)
    check_bool(progress, "progress", SolverError)
    if callback is not None and not callable(callback):
        raise SolverError(f"callback must be a function of the run context or None, got {callback!r}")


class Solver(ABC):
    """Base class of every backend (one abstract base, as Optuna's ``BaseSampler``).

    Subclasses set ``name``, store each option of ``__init__`` in an attribute of the same
    name (scikit-learn's convention) and implement ``_solve``; state of a run lives on the
    :class:`SolveContext` (or in ``_solve``'s locals), never on the solver.
    """

    name: ClassVar[str] = ""
    #: whether the seed changes the run (the conformance suite checks that other seeds give other runs, or,
    #: when False, the same answer)
    stochastic: ClassVar[bool] = True
    #: whether a run can be checkpointed and resumed
    resumable: ClassVar[bool] = False

    def get_options(self) -> dict[str, Any]:
        """The constructor arguments (scikit-learn's ``get_params``): each parameter of
        ``__init__``, read from the attribute of the same name."""
        return constructor_options(self, SolverError)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_options().items())})"

    def solve(
        self,
        problem: Problem,
        seed: int | None = None,
        time_limit: float | None = None,
        *,
        progress: bool = False,
        callback: Callable[[SolveContext], Any] | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: float = 30.0,
        resume: str | Path | None = None,
    ) -> Result:
        """Solve ``problem`` and return the best design found.

        Args:
            problem: the mathematical program.
            seed: seed of the run's RNG (same seed, same answer); ``None`` draws one from fresh entropy, which the
                result records.
            time_limit: wall-clock seconds; the best design so far is returned when it expires.
            progress: show a progress bar on stderr.
            callback: called with the run context after every evaluated batch; it may end the
                run early with ``ctx.stop()``.
            checkpoint: file the run's state is written to periodically and on interrupt (an existing file
                that holds no checkpoint is refused, not written over).
            checkpoint_every: seconds between periodic checkpoints.
            resume: a checkpoint of the same problem and solver to continue from.

        Raises:
            InfeasibleError: when no design of the space can meet the budgets.
        """
        # the time limit covers all that follows, lookup-table builds included, and what run_clock() started it before
        start = _RUN_START.get()
        _RUN_START.set(None)  # a run started within this one has a clock of its own
        start = time.perf_counter() if start is None else start
        if not isinstance(problem, Problem):
            raise SolverError(f"solve needs a Problem, e.g. Problem('small', constraints=[...]), got {problem!r}")
        check_run(seed, time_limit, progress, callback)
        if not (is_finite_number(checkpoint_every) and checkpoint_every >= 0):
            raise SolverError(f"checkpoint_every must be a number of seconds >= 0, got {checkpoint_every!r}")
        options = jsonable(self.get_options())  # read now: a run must not change them (checked in _result)
        if (checkpoint is not None or resume is not None) and not self.resumable:
            raise SolverError(f"solver {self.name!r} does not support checkpoints: run it without checkpoint and "
                              "resume, or use a resumable backend (ea, cpsat, nsga2, tpe)")
        for path, what in ((checkpoint, "checkpoint"), (resume, "resumed checkpoint")):
            if path is not None:
                try:
                    check_writable(path, what)
                except MpsolveError as exc:
                    raise SolverError(str(exc)) from None
        if checkpoint is not None:
            check_checkpoint_target(checkpoint)
        with _time_limited(start, time_limit):
            feasible_seeds = problem.check_feasible()
            state = None if resume is None else load_checkpoint(resume, problem, self)
            if state is not None:
                if seed is not None and seed != state["seed"]:
                    raise SolverError(
                        f"seed {seed} conflicts with the checkpoint's seed {state['seed']}: a resumed run keeps its "
                        "seed (omit the seed)"
                    )
                seed = state["seed"]
            elif seed is None:  # fresh entropy, recorded: the result (its checkpoint, its problem file) reruns it
                seed = fresh_seed()
            target = checkpoint if checkpoint is not None else resume
            ctx = SolveContext(
                problem,
                self,
                seed,
                time_limit,
                progress,
                callback,
                checkpoint=target,
                checkpoint_every=checkpoint_every,
                resume_state=state,
                start=start,
            )
            ctx.feasible_seeds = feasible_seeds
            interrupted = cut = False
            lock = checkpoint_lock(Path(target)) if target is not None else contextlib.nullcontext()
            with lock, _watch_ctrl_c() as ctrl_c:
                try:
                    self._solve(ctx)
                except KeyboardInterrupt:
                    interrupted = True
                    ctx.checkpoint_last_boundary()
                except DeadlineReached:  # the time limit struck mid-step (the lookup table, the exact bounds)
                    cut = True
                    ctx.checkpoint_last_boundary()
                except Exception as exc:
                    if not ctrl_c[0]:  # an error of the run's own (a callback's, a plug-in's): its work so far is kept
                        self._keep_work(ctx, exc)
                        raise
                    interrupted = True  # a Ctrl-C that a library reported as another error
                    ctx.checkpoint_last_boundary()
                finally:
                    ctx.close()
                if not (interrupted or cut or ctx._resumed_pending):  # nothing beyond a resumed file: keep it
                    ctx.maybe_checkpoint(force=True)
            if not (interrupted or cut):
                self._warn_unheeded(ctx, time_limit)
            timed_out = cut or (ctx.time_up() and not ctx.stopped)
            if state is not None and timed_out and not interrupted and ctx.n_evals == state["n_evals"]:
                warn(f"the time limit of {time_limit:g} s ran out before the resumed run evaluated a new design (it "
                     f"first rebuilds the run so far from {str(target)!r}; NSGA-II and TPE replay its steps): nothing "
                     "was added to it; resume it with a longer time limit")  # else each resume is a silent no-op
            if ctx.best_x is None and len(feasible_seeds):  # scored by the feasibility check: the best known
                ctx.evaluate_while_time_left(feasible_seeds)
            if ctx.best_x is None and not interrupted:
                if ctx.stopped:
                    raise SolverError("the run was stopped (ctx.stop()) before a feasible design was found: stop it "
                                      "later")
                if cut or ctx.time_up():
                    raise SolverError(f"the time limit of {time_limit:g} s ran out before a feasible design was "
                                      "found: allow more time")
            return self._result(ctx, interrupted, options)

    @staticmethod
    def _keep_work(ctx: SolveContext, exc: Exception) -> None:
        """Write the run's last consistent point to its checkpoint file, if it has one, and say so on ``exc``."""
        try:
            written = ctx.checkpoint_last_boundary()
        except OSError:  # the error itself may be the full disk: it is the one to report
            return
        if written:
            exc.add_note(f"mpsolve: the run so far is saved in {str(ctx.checkpoint_path)!r}: resume=that file "
                         "continues it")

    def _warn_unheeded(self, ctx: SolveContext, time_limit: float | None) -> None:
        """Say when a run that ended by itself ignored its time limit or checkpoint file (a plug-in
        that never reads ``ctx.time_up()`` or never calls ``ctx.set_state``): nothing else would."""
        if time_limit is not None and not ctx._read_clock and time.perf_counter() >= ctx.start + time_limit:
            warn(f"solver {self.name!r} ran {ctx._elapsed():.3g} s, past its time limit of {time_limit:g} s, and "
                 "never checked ctx.time_up(): a backend stops when ctx.time_up() is true")
        if ctx.stopped and not ctx._read_clock:
            warn(f"solver {self.name!r} never checked ctx.time_up(), so ctx.stop() did not end it early: a backend "
                 "stops when ctx.time_up() is true")
        if ctx.checkpoint_path is not None and ctx._state_fn is None:
            warn(f"solver {self.name!r} never registered its state with ctx.set_state, so no checkpoint was written "
                 f"to {str(ctx.checkpoint_path)!r}: a resumable backend calls ctx.set_state and ctx.maybe_checkpoint")

    def _result(self, ctx: SolveContext, interrupted: bool, options: dict[str, Any]) -> Result:
        problem = ctx.problem
        changed = [k for k, v in self.get_options().items() if jsonable(v) != options.get(k)]
        if changed:  # the result would record the changed values, and the solver's next run would differ
            raise SolverError(f"solver {self.name!r} changed its option(s) {', '.join(changed)} during the run: a "
                              "backend keeps a run's state on the ctx or in _solve's locals, never on the solver")
        if ctx.status not in (None, "optimal", "feasible"):
            raise SolverError(f"solver {self.name!r} set ctx.status to {ctx.status!r}: a backend may set 'optimal' "
                              "(proved) or leave it unset")
        if problem.fingerprint() != ctx.fingerprint:
            raise SolverError(f"solver {self.name!r} changed the problem it was given (its constraints, objective or "
                              "space): a backend may only read it")
        if ctx.best_x is not None:  # set by ctx.evaluate / ctx.offer, or by hand: checked again either way
            feasible, true, same = ctx._rescore(ctx.best_x, ctx.best_f, _check_deterministic(problem, ctx.best_x))
            if not (feasible and same):
                raise SolverError(
                    f"solver {self.name!r} returns a design that is " + ("infeasible" if not feasible else
                    f"scored {true:.6g}, not {ctx.best_f:.6g}") + ": report designs through "
                    "ctx.evaluate or ctx.offer, not by setting ctx.best_x"
                )
        bound = ctx.bound
        if bound is not None:  # a plug-in's, by hand: the gap and the CLI's report read it
            number = not isinstance(bound, bool) and isinstance(bound, (int, float, np.integer, np.floating))
            if not number or math.isnan(bound):
                raise SolverError(f"solver {self.name!r} set ctx.bound to {shown(bound)}: a bound is a number, a "
                                  "proven upper bound on the optimum, or None")
            bound = float(bound)
            if bound == math.inf:  # bounds nothing: no gap (max(0, inf / inf) made it 0, as a proof's)
                bound = None
            elif ctx.best_x is not None and bound < ctx.best_f - 1e-9 * max(1.0, abs(ctx.best_f)):
                raise SolverError(f"solver {self.name!r} set ctx.bound to {bound:.6g}, below its design's objective "
                                  f"{ctx.best_f:.6g}: a bound is a proven upper bound on the optimum, or None")
        if ctx.best_x is None:
            status = "interrupted" if interrupted else "infeasible"
            arch, costs, details, objective = None, {}, {}, math.nan
        else:
            status = "interrupted" if interrupted else (ctx.status or "feasible")
            arch = problem.space.decode(ctx.best_x)  # its score and feasibility are checked above: not again
            costs = {name: cost.of(arch) for name, cost in problem.costs.items()}
            details, objective = problem.objective.details(arch), ctx.best_f
        return Result(
            architecture=arch,
            x=ctx.best_x,
            objective=objective,
            costs=costs,
            status=status,
            solver=self.name,
            wall_time=ctx._elapsed(),
            n_evals=ctx.n_evals,
            history=ctx.history,
            bound=bound,
            details=details,
            pareto=ctx.pareto,
            problem=problem.to_dict(),
            seed=ctx.seed,
            options=self.get_options(),
            proved=ctx.status == "optimal" and not interrupted,  # a complete search, with or without a design
        )

    @abstractmethod
    def _solve(self, ctx: SolveContext) -> None:
        """Search, reporting designs through ``ctx.evaluate`` / ``ctx.offer``."""


def _check_deterministic(problem: Problem, x: np.ndarray) -> Evaluation:
    """Score ``x`` twice, its evaluation: a plug-in objective or cost that gives one design two values would
    have the answer's re-check blame the backend, or report costs other than those its feasibility was judged on."""
    first, second = (problem.evaluate(np.asarray(x)[None]) for _ in range(2))
    values = {f"objective {problem.objective.name!r}": (first.objective, second.objective)}
    values.update({f"cost {k!r}": (first.costs[k], second.costs[k]) for k in first.costs})
    for what, (a, b) in values.items():
        if not np.array_equal(a, b, equal_nan=True):
            raise MpsolveError(f"the {what} gave {float(a[0]):.6g} and then {float(b[0]):.6g} for "
                               f"{problem.space.decode(x)}: it must give a design one value (seed any randomness)")
    return second


@contextlib.contextmanager
def _watch_ctrl_c() -> Iterator[list[bool]]:
    """Record whether Ctrl-C arrived: numpy turns a ``KeyboardInterrupt`` raised inside some
    operations (the structured-array comparison of ``np.unique(..., axis=0)``) into a
    ``TypeError``. Only where Python's default handler is installed, in the main thread."""
    seen = [False]

    def handler(signum: int, frame: Any) -> None:
        seen[0] = True
        signal.default_int_handler(signum, frame)

    with on_ctrl_c(handler):
        yield seen


@contextlib.contextmanager
def _time_limited(start: float, time_limit: float | None) -> Iterator[None]:
    """The run's deadline for set-up work deep below the solver (the Monte-Carlo lookup table)."""
    with deadline(math.inf if time_limit is None else start + time_limit):
        try:
            yield
        except DeadlineReached:
            raise SolverError(
                f"the time limit of {time_limit:g} s ran out before any design was scored (building the entropy "
                "lookup table; the shapes built so far are cached): rerun, or allow more time"
            ) from None
