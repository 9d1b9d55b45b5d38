"""Objectives: the MeRino entropy (with its lookup table) and simple alternatives."""

from typing import Any as _Any

from mpsolve.objectives._base import Objective
from mpsolve.objectives._entropy import DecoderParamsObjective, MeRinoEntropy, ParamsObjective, effectiveness
from mpsolve.objectives._lookup import SpectrumTable, analytic_entropy, default_cache_dir, exact_entropy
from mpsolve.utils.errors import MpsolveError as _MpsolveError
from mpsolve.utils.params import construct as _construct
from mpsolve.utils.registry import Registry as _Registry

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
    "register_objective",
]

#: every objective by name
OBJECTIVES: _Registry[type[Objective]] = _Registry("objective")


def register_objective(cls: type[Objective], *, replace: bool = False) -> type[Objective]:
    """Class decorator that makes an objective available by its ``name`` (``Problem``,
    problem files, the CLI); a taken name (a built-in's included) is refused unless
    ``replace``."""
    if not (isinstance(cls, type) and issubclass(cls, Objective)) or not cls.name:
        raise _MpsolveError("register_objective expects an Objective subclass with a non-empty `name`")
    OBJECTIVES.add(cls.name, cls, replace)
    return cls


for _builtin in (MeRinoEntropy, ParamsObjective, DecoderParamsObjective):
    register_objective(_builtin)


def get_objective(spec: str | Objective | None = None, **options: _Any) -> Objective:
    """An objective from a name (with options), an instance, or ``None`` for the entropy."""
    if isinstance(spec, Objective):
        spec.options()  # one of your own that does not keep its arguments: refused now, not in a result
        return spec
    name = "entropy" if spec is None else spec
    cls = OBJECTIVES[name]
    return _construct(cls, options, f"objective {name!r}")
