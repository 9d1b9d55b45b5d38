"""mpsolve: design small generative language models by mathematical programming (MeRino).

Score a transformer by an analytical entropy, maximise it under parameter / FLOPs /
latency budgets with a pluggable solver, and build the winner as a torch model::

    import mpsolve
    problem = mpsolve.Problem("default", constraints=[mpsolve.Budget("flops", "160G")])
    result = mpsolve.solve(problem, solver="ea", seed=0)
    print(result.architecture, result.objective)
"""

from mpsolve.constraints import Budget, Effectiveness, NonDecreasingWidths, Predicate
from mpsolve.core import Evaluation, Problem, Result, SolveContext, Solver
from mpsolve.objectives import DecoderParamsObjective, MeRinoEntropy, ParamsObjective
from mpsolve.solvers import get_solver, list_solvers, register_solver, solve
from mpsolve.spaces import Architecture, Block, SearchSpace, get_architecture, get_space
from mpsolve.utils.errors import (
    ArchitectureError,
    InfeasibleError,
    MpsolveError,
    MpsolveWarning,
    SolverError,
    SpaceError,
)
from mpsolve.workflows.pareto import ParetoFront, pareto

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "ArchitectureError",
    "Block",
    "Budget",
    "DecoderParamsObjective",
    "Effectiveness",
    "Evaluation",
    "InfeasibleError",
    "MeRinoEntropy",
    "MpsolveError",
    "MpsolveWarning",
    "NonDecreasingWidths",
    "ParetoFront",
    "ParamsObjective",
    "Predicate",
    "Problem",
    "Result",
    "SearchSpace",
    "SolveContext",
    "Solver",
    "SolverError",
    "SpaceError",
    "get_architecture",
    "get_solver",
    "get_space",
    "list_solvers",
    "pareto",
    "register_solver",
    "solve",
]
