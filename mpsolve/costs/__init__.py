"""Cost models a budget can bound: parameters, FLOPs (per prompt and per generated token), peak memory,
measured prefill and decode latency.

Every cost model maps a batch of decoded architectures to an ``(n,)`` array and registers
by name (``@register_cost``), so budgets, problem files and the CLI find it. The operator
graph gives the same counts per operator, as a readable breakdown.
"""

from mpsolve.costs._graph import graph_totals, operator_graph
from mpsolve.costs._latency import (
    PROFILE_CONSTANTS,
    PROFILE_FORMAT,
    PROFILE_PHASES,
    PROFILE_RUNTIMES,
    PROFILE_STATISTICS,
    PROFILE_VERSION,
    DecodeLatencyCost,
    LatencyCost,
    LatencyProfileError,
    latency_cost,
)
from mpsolve.costs._models import (
    COSTS,
    CostModel,
    DecodeFlopsCost,
    FlopsCost,
    MemoryCost,
    ModelConstants,
    ParamsCost,
    batch_of,
    checked_costs,
    get_cost,
    layer_params,
    projection_shapes,
    register_cost,
)

__all__ = [
    "COSTS",
    "PROFILE_CONSTANTS",
    "PROFILE_FORMAT",
    "PROFILE_PHASES",
    "PROFILE_RUNTIMES",
    "PROFILE_STATISTICS",
    "PROFILE_VERSION",
    "CostModel",
    "DecodeFlopsCost",
    "DecodeLatencyCost",
    "FlopsCost",
    "LatencyCost",
    "LatencyProfileError",
    "MemoryCost",
    "ModelConstants",
    "ParamsCost",
    "batch_of",
    "checked_costs",
    "get_cost",
    "graph_totals",
    "latency_cost",
    "layer_params",
    "operator_graph",
    "projection_shapes",
    "register_cost",
]
