"""Objectives: the MeRino entropy (with its lookup table) and simple alternatives."""

from __future__ import annotations

from typing import Any

from mpsolve._errors import MpsolveError
from mpsolve.objectives._base import Objective
from mpsolve.objectives._entropy import DecoderParamsObjective, MeRinoEntropy, ParamsObjective, effectiveness
from mpsolve.objectives._lookup import SpectrumTable, analytic_entropy, default_cache_dir, exact_entropy

__all__ = [
    "OBJECTIVES",
    "DecoderParamsObjective",
    "MeRinoEntropy",
    "Objective",
    "ParamsObjective",
    "SpectrumTable",
    "analytic_entropy",
    "default_cache_dir",
    "effectiveness",
    "exact_entropy",
    "get_objective",
]

OBJECTIVES: dict[str, type[Objective]] = {
    "entropy": MeRinoEntropy,
    "params": ParamsObjective,
    "decoder_params": DecoderParamsObjective,
}


def get_objective(spec: str | Objective | None = None, **options: Any) -> Objective:
    """An objective from a name (with options), an instance, or ``None`` for the entropy."""
    if isinstance(spec, Objective):
        return spec
    name = spec or "entropy"
    if name not in OBJECTIVES:
        raise MpsolveError(f"unknown objective {name!r}; known objectives: {', '.join(OBJECTIVES)}")
    try:
        return OBJECTIVES[name](**options)
    except TypeError as exc:
        raise MpsolveError(f"bad options for objective {name!r}: {exc}") from None
