"""Constraints (budgets, width order, effectiveness, predicates) and the cost models they bound."""

from mpsolve.constraints._constraints import (
    Budget,
    Constraint,
    Effectiveness,
    NonDecreasingWidths,
    Predicate,
    parse_quantity,
)
from mpsolve.constraints._costs import (
    COSTS,
    CostModel,
    FlopsCost,
    MemoryCost,
    ParamsCost,
    batch_of,
    get_cost,
    register_cost,
)
from mpsolve.constraints._graph import graph_totals, operator_graph

__all__ = [
    "COSTS",
    "Budget",
    "Constraint",
    "CostModel",
    "Effectiveness",
    "FlopsCost",
    "MemoryCost",
    "NonDecreasingWidths",
    "ParamsCost",
    "Predicate",
    "batch_of",
    "get_cost",
    "graph_totals",
    "operator_graph",
    "parse_quantity",
    "register_cost",
]
