"""mpsolve: design small generative language models by mathematical programming (MeRino).

Score a transformer by an analytical entropy, maximise it under parameter / FLOPs /
latency budgets with a pluggable solver, and build the winner as a torch model::

    import mpsolve
    problem = mpsolve.Problem("default", constraints=[mpsolve.Budget("flops", "160G")])
    result = mpsolve.solve(problem, solver="ea", seed=0)
    print(result.architecture, result.objective)
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
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

# Imported on first use (PEP 562): `import mpsolve` stays cheap, so the command's Ctrl-C handling is
# in place before the heavy imports (numpy, scipy, networkx) run.
_HOMES = {
    "mpsolve.constraints": ("Budget", "Effectiveness", "NonDecreasingWidths", "Predicate"),
    "mpsolve.core": ("Evaluation", "Problem", "Result", "SolveContext", "Solver"),
    "mpsolve.objectives": ("DecoderParamsObjective", "MeRinoEntropy", "ParamsObjective"),
    "mpsolve.solvers": ("get_solver", "list_solvers", "register_solver", "solve"),
    "mpsolve.spaces": ("Architecture", "Block", "SearchSpace", "get_architecture", "get_space"),
    "mpsolve.utils.errors": ("ArchitectureError", "InfeasibleError", "MpsolveError", "MpsolveWarning", "SolverError",
                             "SpaceError"),
    "mpsolve.workflows.pareto": ("ParetoFront", "pareto"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> _Any:
    """A public name from its module, or a subpackage (``mpsolve.costs``), imported on first use."""
    if name in _HOME:
        value = getattr(_importlib.import_module(_HOME[name]), name)
    elif not name.isidentifier() or name.startswith("_"):  # no dotted paths, no private modules
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    else:
        try:
            value = _importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
