"""The abstractions every backend and workflow shares (as pymoo's ``core``).

:class:`Problem` and :class:`Evaluation` (``problem``), :class:`Result` (``result``),
:class:`Solver` and :class:`SolveContext` (``solver``), the checkpoint format (``checkpoint``)
and the non-dominated filter and hypervolume of Pareto fronts (``front``). Concrete backends live in
:mod:`mpsolve.solvers`, with the registry that finds them by name.
"""

from mpsolve.core.checkpoint import CheckpointError, load_checkpoint
from mpsolve.core.problem import Evaluation, Problem
from mpsolve.core.result import Result
from mpsolve.core.solver import SolveContext, Solver

__all__ = ["CheckpointError", "Evaluation", "Problem", "Result", "SolveContext", "Solver", "load_checkpoint"]
