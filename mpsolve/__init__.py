"""mpsolve: design small generative language models by mathematical programming (MeRino).

Score a transformer by an analytical entropy, maximise it under parameter / FLOPs /
latency budgets with a pluggable solver, and build the winner as a torch model::

    import mpsolve
    problem = mpsolve.Problem("default", constraints=[mpsolve.Budget("flops", "160G")])
    result = mpsolve.solve(problem, solver="ea", seed=0)
    print(result.architecture, result.objective)
"""

from mpsolve._errors import ArchitectureError, InfeasibleError, MpsolveError, SolverError, SpaceError
from mpsolve._facade import solve
from mpsolve._pareto import ParetoFront, pareto
from mpsolve._problem import Evaluation, Problem
from mpsolve._result import Result
from mpsolve._solver import SolveContext, Solver, get_solver, list_solvers, register_solver
from mpsolve.constraints import Budget, Effectiveness, NonDecreasingWidths, Predicate
from mpsolve.objectives import DecoderParamsObjective, MeRinoEntropy, ParamsObjective
from mpsolve.spaces import Architecture, Block, SearchSpace, get_architecture, get_space

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
