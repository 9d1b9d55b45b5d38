"""Workflows built on :func:`mpsolve.solve`: Pareto fronts across budgets, sweeps over
problems x budgets x solvers x seeds (locally or on Dask), and problem files (a whole run as
TOML). Library code only: the command line that drives them lives in :mod:`mpsolve.cli`.
"""

from mpsolve.workflows.pareto import ParetoFront, pareto, plot_fronts, write_csv
from mpsolve.workflows.problem_file import (
    ProblemFileError,
    ProblemSpec,
    load_problem_file,
    loads_problem,
    problem_from_dict,
    problem_to_dict,
    problem_to_toml,
    result_to_problem_toml,
)
from mpsolve.workflows.sweep import FailedRunsWarning, SweepError, SweepTask, run_sweep, run_task, sweep, sweep_tasks

__all__ = [
    "FailedRunsWarning",
    "ParetoFront",
    "ProblemFileError",
    "ProblemSpec",
    "SweepError",
    "SweepTask",
    "load_problem_file",
    "loads_problem",
    "pareto",
    "plot_fronts",
    "problem_from_dict",
    "problem_to_dict",
    "problem_to_toml",
    "result_to_problem_toml",
    "run_sweep",
    "run_task",
    "sweep",
    "sweep_tasks",
    "write_csv",
]
