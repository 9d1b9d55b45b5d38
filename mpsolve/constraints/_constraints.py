"""Constraints of the mathematical program: budgets, width order, effectiveness, predicates.

A constraint maps a batch to a violation ``(n,)`` array: ``<= 0`` satisfied, ``> 0`` by how much
it is violated (in the constraint's own unit), the convention of pymoo's ``G``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from mpsolve.costs import CostModel, ModelConstants, get_cost
from mpsolve.objectives import effectiveness
from mpsolve.spaces import Architecture, Block, DecodedBatch, model_constants
from mpsolve.utils.errors import MpsolveError, shown
from mpsolve.utils.quantities import parse_quantity
from mpsolve.utils.validation import check_bool, check_positive_number

__all__ = [
    "Constraint",
    "Budget",
    "NonDecreasingWidths",
    "Effectiveness",
    "Predicate",
]

class Constraint(ABC):
    """A constraint on architectures, vectorised over a batch."""

    name: str = ""

    @abstractmethod
    def violation(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        """``(n,)`` array: ``<= 0`` where satisfied, the amount of violation elsewhere."""

    def describe(self) -> str:
        return repr(self)

    def to_dict(self) -> dict[str, Any]:
        """A serialisable description (for results and problem files)."""
        return {"type": type(self).__name__}


def check_budget_unit(cost: CostModel, limit: Any) -> None:
    """Refuse a multiplier (K, M, G, T) on a budget of a cost in milliseconds: ``"5m"`` read as 5M ms, a budget
    no design comes near, where milliseconds were meant."""
    if cost.unit == "ms" and isinstance(limit, str) and limit.strip()[-1:].isalpha():
        raise MpsolveError(f"a {cost.name} budget is in milliseconds, without a unit (K, M, G and T multiply it): "
                           f"got {limit!r}; give a number of milliseconds, e.g. 50")


class Budget(Constraint):
    """``cost(arch) <= limit``.

    Args:
        cost: a cost name (``"params"``, ``"flops"``, ``"decode_flops"``, ``"memory"``, ``"latency"``) or a
            :class:`CostModel`.
        limit: the budget, a number or a string with a unit (``"160G"``).
        **options: options of a cost given by name (e.g. ``seq_len=128``).
    """

    def __init__(self, cost: str | CostModel, limit: float | str, **options: Any) -> None:
        self.cost = get_cost(cost, **options)
        self.limit = parse_quantity(limit)
        if not math.isfinite(self.limit) or self.limit <= 0:
            raise MpsolveError(f"budget on {self.cost.name} must be a positive finite number, got {limit!r}")
        check_budget_unit(self.cost, limit)
        self.name = f"{self.cost.name}<={self.limit:g}"

    def violation(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        return self.cost.evaluate(batch, constants) - self.limit

    def __repr__(self) -> str:
        return f"Budget({self.cost!r}, {self.limit:g})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Budget", "cost": self.cost.name, "limit": self.limit, "options": self.cost.options()}


class NonDecreasingWidths(Constraint):
    """``E_1 <= E_2 <= ... <= E_N`` (always on for search spaces; explicit for custom checks)."""

    name = "non_decreasing_widths"

    def violation(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        drops = -np.diff(batch.embed_dims, axis=1)
        return np.max(drops, axis=1, initial=0).astype(np.float64)

    def __repr__(self) -> str:
        return "NonDecreasingWidths()"


class Effectiveness(Constraint):
    """``rho <= rho_max`` for the MHSA and FFN effectiveness (DeepMAD uses 0.5).

    Args:
        rho_max: the bound ``rho_0``.
        beta: scale of ``rho``; 1/16 is the paper's (Table 1, and DeepMAD's ``rho_0``), not the
            entropy's default 1/4, so ``rho`` here is a quarter of ``details()['rho_*']``.
        parts: ``"both"``, ``"mhsa"`` or ``"ffn"``.
    """

    name = "effectiveness"

    def __init__(self, rho_max: float = 0.5, beta: float = 1 / 16, parts: str = "both") -> None:
        self.rho_max = check_positive_number(rho_max, "effectiveness rho_max")
        self.beta = check_positive_number(beta, "effectiveness beta")
        if parts not in ("both", "mhsa", "ffn"):
            raise MpsolveError(f"parts must be 'both', 'mhsa' or 'ffn', got {parts!r}")
        self.parts = parts

    def violation(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        rhos = []
        if self.parts in ("both", "mhsa"):
            rhos.append(effectiveness(batch.layers, batch.embed_dims, self.beta))
        if self.parts in ("both", "ffn"):
            rhos.append(effectiveness(batch.layers, batch.ffn_dims, self.beta))
        return np.max(rhos, axis=0) - self.rho_max

    def __repr__(self) -> str:
        return f"Effectiveness(rho_max={self.rho_max:g}, beta={self.beta:g}, parts={self.parts!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Effectiveness", "rho_max": self.rho_max, "beta": self.beta, "parts": self.parts}


class Predicate(Constraint):
    """A user-defined constraint.

    Args:
        fn: with ``vectorized=False`` (default), ``fn(arch: Architecture) -> bool`` called per
            architecture; with ``vectorized=True``, ``fn(batch: DecodedBatch) -> bool array``.
        name: a label for reports.
        vectorized: see ``fn``.
    """

    def __init__(self, fn: Callable[..., Any], name: str = "predicate", vectorized: bool = False) -> None:
        if not callable(fn):
            raise MpsolveError(f"Predicate needs a callable, got {fn!r}")
        if not (isinstance(name, str) and name):  # it labels the constraint in reports and problem files
            raise MpsolveError(f"a predicate's name must be a non-empty string, got {shown(name)}")
        # a truthy string ("no") must not make fn a vectorized one, silently
        self.fn, self.name, self.vectorized = fn, name, check_bool(vectorized, "vectorized")

    def violation(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        # only bools: None (a forgotten return) or a violation amount (pymoo's G, <= 0 allowed) would be
        # read as False or True, silently excluding or allowing designs
        if self.vectorized:
            ok = np.asarray(self.fn(batch))
            if ok.shape != (batch.embed_dims.shape[0],):
                raise MpsolveError(f"predicate {self.name!r} returned shape {ok.shape}, expected one bool per design")
            if ok.dtype != bool:
                raise MpsolveError(f"predicate {self.name!r} returned {ok.dtype} values: a vectorized predicate "
                                   "returns a bool array, True where a design is allowed")
        else:
            values = []
            for a in _architectures(batch, constants):
                value = self.fn(a)
                if not isinstance(value, (bool, np.bool_)):
                    raise MpsolveError(f"predicate {self.name!r} returned {shown(value)} for {a}: a predicate "
                                       "returns True (the design is allowed) or False")
                values.append(value)
            ok = np.array(values, dtype=bool)
        return np.where(ok, 0.0, 1.0)

    def __repr__(self) -> str:
        return f"Predicate({self.name!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Predicate", "name": self.name}



def _architectures(batch: DecodedBatch, constants: ModelConstants) -> list[Architecture]:
    kwargs = model_constants(constants)
    out = []
    for E, F, L in zip(batch.embed_dims, batch.ffn_dims, batch.layers):
        blocks = tuple(Block(int(e), float(f) / float(e), int(n)) for e, f, n in zip(E, F, L))
        out.append(Architecture(blocks=blocks, **kwargs))
    return out
