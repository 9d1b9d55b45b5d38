"""Optuna TPE backend (seeded, constraint-aware, with an optional persistent storage)."""

from __future__ import annotations

import numpy as np

from mpsolve.core.checkpoint import CheckpointError, replay_point
from mpsolve.core.solver import SolveContext, Solver
from mpsolve.solvers._registry import register_solver
from mpsolve.spaces import SearchSpace
from mpsolve.utils.clock import DeadlineReached
from mpsolve.utils.errors import SolverError
from mpsolve.utils.validation import check_bool, check_integer

try:
    import optuna
    from optuna.trial import TrialState
except ImportError:  # pragma: no cover - depends on the installation
    raise SolverError("solver 'tpe' needs Optuna: pip install 'mpsolve[solvers]' (or optuna)") from None

__all__ = ["TPESolver"]

#: the study user attribute naming the problem (its fingerprint) a stored study's trials belong to
_OWNER = "mpsolve_fingerprint"


@register_solver
class TPESolver(Solver):
    """Tree-structured Parzen estimator (Optuna's ``TPESampler``) over the integer encoding.

    Every block's width index is suggested over the whole grid and the widths are sorted
    afterwards (so no suggestion's range depends on another one, the case TPE models badly);
    ratio and depth indices are suggested directly. Budgets and other constraints are the
    trials' constraints (``Trial.set_constraint``, relative violations; Optuna 5 replaces
    ``constraints_func`` by it), so TPE prefers feasible designs.

    Args:
        n_trials: the study's completed trials in all: a new study runs ``n_trials``, a
            continued one (from a checkpoint or a storage) runs until it holds ``n_trials``.
        n_startup_trials: random trials before TPE starts modelling.
        multivariate: model the parameters jointly (Optuna's multivariate TPE).
        storage: an Optuna storage URL (``sqlite:///study.db``, ...); ``None`` keeps the study
            in memory. The completed trials a stored study already holds are re-scored by
            this problem and count: the result is the best feasible design of all of them.
        study_name: the study's name in ``storage`` (an existing study is continued); default
            ``mpsolve-<problem fingerprint>``, so re-running a problem continues its study. A
            study holds one problem: its fingerprint is stored as the study's user attribute
            ``mpsolve_fingerprint``, and a study of another problem is refused.
        polish: after the trials, climb from each of the ``polish_starts`` best feasible trials
            and as many random feasible corner designs (the cheapest of their width orders) to the
            best feasible design one or two grid steps away until none is better
            (vectorised, a few thousand evaluations in all; TPE alone often stops a few per
            cent short of the optimum under a binding budget).
        polish_starts: how many best trials (and corner designs) the polish starts from.
    """

    name = "tpe"
    resumable = True

    def __init__(
        self,
        n_trials: int = 500,
        n_startup_trials: int = 50,
        multivariate: bool = True,
        storage: str | None = None,
        study_name: str | None = None,
        polish: bool = True,
        polish_starts: int = 10,
    ) -> None:
        for label, v in (
            ("n_trials", n_trials),
            ("n_startup_trials", n_startup_trials),
            ("polish_starts", polish_starts),
        ):
            check_integer(v, f"tpe: {label}", error=SolverError)
        if storage is not None and not isinstance(storage, str):
            raise SolverError(
                f"tpe: storage must be an Optuna storage URL such as 'sqlite:///study.db', got {storage!r}"
            )
        self.n_trials = int(n_trials)
        self.n_startup_trials = int(n_startup_trials)
        self.multivariate = check_bool(multivariate, "tpe: multivariate", SolverError)
        if study_name is not None and not (isinstance(study_name, str) and study_name):
            raise SolverError(f"tpe: study_name must be a non-empty string or None, got {study_name!r}")
        self.storage = storage
        self.study_name = study_name
        self.polish = check_bool(polish, "tpe: polish", SolverError)
        self.polish_starts = int(polish_starts)

    def _solve(self, ctx: SolveContext) -> None:
        problem, space = ctx.problem, ctx.problem.space
        # A checkpoint holds data only: a resumed in-memory study replays its seeded trials
        # (without re-counting them) from the run's first RNG state; a study in a storage
        # continues from the trials the storage holds.
        state = ctx.resume_state["solver_state"] if ctx.resume_state is not None else None
        if state is not None:
            most = self.n_trials if self.storage is None else None  # a shared study's trials count in all
            replay, rng_start = replay_point(state, "trials", self.name, most)
            if state.get("polished") is True and replay < self.n_trials:  # a run polishes after its last trial
                raise CheckpointError(f"the tpe checkpoint is malformed: it records a polish after {replay} of the "
                                      f"run's {self.n_trials} trials")
            ctx.rng.bit_generator.state = rng_start
            replay = replay if self.storage is None else 0
        else:
            replay, rng_start = 0, ctx.rng.bit_generator.state
        sampler = optuna.samplers.TPESampler(
            seed=int(ctx.rng.integers(0, 2**31 - 1)),
            n_startup_trials=self.n_startup_trials,
            multivariate=self.multivariate,
        )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study_name = self.study_name or (None if self.storage is None else f"mpsolve-{ctx.fingerprint}")
        try:
            study = optuna.create_study(
                storage=self.storage,
                sampler=sampler,
                study_name=study_name,
                direction="maximize",
                load_if_exists=self.storage is not None,
            )
        except Exception as exc:  # noqa: BLE001 - Optuna raises many types for a bad storage URL
            reason = (str(exc).splitlines() or [""])[0]  # SQLAlchemy adds a line of its own ("Background on ...")
            raise SolverError(f"tpe: cannot open storage {self.storage!r}: {type(exc).__name__}: {reason}") from None
        if self.storage is not None:
            _claim(study, ctx.fingerprint, self.storage)
        if state is not None and self.storage is not None:  # the trials an interrupt left unfinished
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                study.tell(t.number, state=TrialState.FAIL)
        grids = [(f"{v}{i}", int(space.upper[3 * i + j])) for i in range(space.num_blocks) for j, v in enumerate("erl")]
        distributions = {name: optuna.distributions.IntDistribution(0, hi) for name, hi in grids}

        stored = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        done = len(stored)
        if self.storage is not None and stored:  # a continued study's trials count, re-scored by this problem
            ctx.evaluate(_encodings(stored, grids, space))
        # a finished run's checkpoint says it was polished: resuming it polishes (and counts) nothing again
        polished = bool(state is not None and state.get("polished") is True)
        ctx.set_state(lambda: {"trials": done, "rng_start": rng_start, "polished": polished})
        ctx.progress(self.n_trials)
        while done < self.n_trials and not ctx.time_up():
            trial = study.ask(distributions)
            x = space.repair(np.array([[trial.params[name] for name, _ in grids]], dtype=np.int64))
            ev = problem.evaluate(x) if done < replay else ctx.evaluate(x)
            for i, v in enumerate(problem.relative_violations(ev)[0]):
                trial.set_constraint(f"c{i}", float(v))
            study.tell(trial, float(ev.objective[0]))
            done += 1
            if done >= replay:
                ctx.maybe_checkpoint()
        if self.polish and done >= self.n_trials and not polished:
            feasible = [
                t
                for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if all(v <= 0 for v in t.constraints.values())
            ]
            feasible.sort(key=lambda t: t.value, reverse=True)
            X = _encodings(feasible, grids, space)
            X = X[np.sort(np.unique(X, axis=0, return_index=True)[1])][: self.polish_starts]
            corners = ctx.feasible_seeds[ctx.rng.permutation(len(ctx.feasible_seeds))[: self.polish_starts]]
            _hill_climb(ctx, np.concatenate([X, corners]))
            polished = True


def _encodings(trials: list[optuna.trial.FrozenTrial], grids: list[tuple[str, int]], space: SearchSpace) -> np.ndarray:
    """The repaired ``(n, n_var)`` encodings of ``trials``."""
    X = np.array([[t.params[name] for name, _ in grids] for t in trials], dtype=np.int64)
    return space.repair(X.reshape(-1, space.n_var))


def _claim(study: optuna.Study, fingerprint: str, storage: str) -> None:
    """Mark a stored ``study`` as the problem ``fingerprint``'s, or refuse a study of another problem."""
    had_trials = bool(study.get_trials(deepcopy=False))  # read before the owner: a concurrent run claims first
    owner = study.user_attrs.get(_OWNER)
    if owner is None and not had_trials:
        study.set_user_attr(_OWNER, fingerprint)
    elif owner != fingerprint:
        of = f"problem {owner}" if owner is not None else "a problem it does not name (made outside mpsolve)"
        raise SolverError(
            f"tpe: study {study.study_name!r} in {storage!r} holds trials of {of}, not of this problem "
            f"({fingerprint}): give another study_name, or none for this problem's own study"
        )


def _hill_climb(ctx: SolveContext, starts: np.ndarray) -> None:
    """From each start, move to the best feasible design one or two grid steps away (in one or
    two variables) until none is better."""
    space = ctx.problem.space
    n = space.n_var
    steps = [np.eye(n, dtype=np.int64)[j] * d for j in range(n) for d in (-1, 1)]
    moves = np.array(steps + [a + b for i, a in enumerate(steps) for b in steps[i + 1 :] if np.any(a + b)])
    for x in starts:
        f = -np.inf
        while True:
            if ctx.time_up():  # cut mid-polish: a checkpoint keeps the point before it, to polish again in full
                raise DeadlineReached
            Y = x + moves
            Y = np.unique(space.repair(Y[np.all((Y >= 0) & (Y <= space.upper), axis=1)]), axis=0)
            if len(Y) == 0:  # a one-design space
                break
            ev = ctx.evaluate(Y)
            g = np.where(ev.feasible, ev.objective, -np.inf)
            i = int(np.argmax(g))
            if g[i] <= f:
                break
            x, f = Y[i], g[i]
