"""Optuna TPE backend (seeded, constraint-aware, with an optional persistent storage)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mpsolve._errors import SolverError
from mpsolve._solver import SolveContext, Solver, register_solver
from mpsolve.constraints import Budget

try:
    import optuna
    from optuna.trial import TrialState
except ImportError:  # pragma: no cover - depends on the installation
    raise SolverError("solver 'tpe' needs Optuna: pip install 'mpsolve[solvers]' (or optuna)") from None

__all__ = ["TPESolver"]


@register_solver
class TPESolver(Solver):
    """Tree-structured Parzen estimator (Optuna's ``TPESampler``) over the integer encoding.

    Every block's width index is suggested over the whole grid and the widths are sorted
    afterwards (so no suggestion's range depends on another one, the case TPE models badly);
    ratio and depth indices are suggested directly. Budgets and other constraints are the
    trials' constraints (``Trial.set_constraint``, relative violations; Optuna 5 replaces
    ``constraints_func`` by it), so TPE prefers feasible designs.

    Args:
        n_trials: designs evaluated.
        n_startup_trials: random trials before TPE starts modelling.
        multivariate: model the parameters jointly (Optuna's multivariate TPE).
        storage: an Optuna storage URL (``sqlite:///study.db``, ...); ``None`` keeps the study
            in memory.
        study_name: the study's name in ``storage`` (an existing study is continued).
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
    ) -> None:
        for label, v in (("n_trials", n_trials), ("n_startup_trials", n_startup_trials)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise SolverError(f"tpe: {label} must be a positive integer, got {v!r}")
        if storage is not None and not isinstance(storage, str):
            raise SolverError(
                f"tpe: storage must be an Optuna storage URL such as 'sqlite:///study.db', got {storage!r}"
            )
        self.n_trials = int(n_trials)
        self.n_startup_trials = int(n_startup_trials)
        self.multivariate = bool(multivariate)
        self.storage = storage
        self.study_name = study_name

    def _solve(self, ctx: SolveContext) -> None:
        problem, space = ctx.problem, ctx.problem.space
        limits = np.array([c.limit if isinstance(c, Budget) else 1.0 for c in problem.constraints])
        state = ctx.resume_state["solver_state"] if ctx.resume_state is not None else None
        if state is not None:
            sampler = state["sampler"]
        else:
            sampler = optuna.samplers.TPESampler(
                seed=int(ctx.rng.integers(0, 2**31 - 1)),
                n_startup_trials=self.n_startup_trials,
                multivariate=self.multivariate,
            )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = optuna.create_study(
                storage=self.storage,
                sampler=sampler,
                study_name=self.study_name,
                direction="maximize",
                load_if_exists=self.storage is not None,
            )
        except Exception as exc:  # noqa: BLE001 - Optuna raises many types for a bad storage URL
            raise SolverError(f"tpe: cannot open storage {self.storage!r}: {type(exc).__name__}: {exc}") from None
        if state is not None and self.storage is None:
            study.add_trials(state["trials"])
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(t.number, state=TrialState.FAIL)  # a trial an interrupt left unfinished
        grids = [(f"{v}{i}", int(space.upper[3 * i + j])) for i in range(space.num_blocks) for j, v in enumerate("erl")]
        distributions = {name: optuna.distributions.IntDistribution(0, hi) for name, hi in grids}

        def snapshot() -> dict[str, Any]:  # pickled at each trial's end
            trials = [] if self.storage is not None else study.get_trials(states=(TrialState.COMPLETE,))
            return {"sampler": sampler, "trials": trials}

        ctx.set_state(snapshot)
        ctx.progress(self.n_trials)
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        while done < self.n_trials and not ctx.time_up():
            trial = study.ask(distributions)
            x = space.repair(np.array([[trial.params[name] for name, _ in grids]], dtype=np.int64))
            ev = ctx.evaluate(x)
            violations = ev.violations[0, : len(limits)] / limits if len(limits) else np.zeros(0)
            for i, v in enumerate(violations):
                trial.set_constraint(f"c{i}", float(v))
            study.tell(trial, float(ev.objective[0]))
            done += 1
            ctx.maybe_checkpoint()
