"""Constraints (budgets, width order, effectiveness, predicates) and the cost models they bound."""

from mpsolve.constraints._constraints import (
    Budget,
    Constraint,
    Effectiveness,
    NonDecreasingWidths,
    Predicate,
    format_quantity,
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
from mpsolve.constraints._latency import LatencyCost, LatencyProfileError, profile_latency

__all__ = [
    "COSTS",
    "Budget",
    "Constraint",
    "CostModel",
    "Effectiveness",
    "FlopsCost",
    "LatencyCost",
    "LatencyProfileError",
    "MemoryCost",
    "NonDecreasingWidths",
    "ParamsCost",
    "Predicate",
    "batch_of",
    "format_quantity",
    "get_cost",
    "graph_totals",
    "operator_graph",
    "parse_quantity",
    "profile_latency",
    "register_cost",
]
