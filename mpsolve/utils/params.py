"""Constructor arguments as options (scikit-learn's ``get_params`` convention)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from mpsolve.utils.errors import MpsolveError

__all__ = ["construct", "constructor_options", "option_names"]

T = TypeVar("T")


def option_names(cls: type) -> list[str]:
    """The explicit parameters of ``cls.__init__`` (scikit-learn's ``_get_param_names``)."""
    if cls.__init__ is object.__init__:
        return []
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def constructor_options(obj: Any, error: type[MpsolveError] = MpsolveError) -> dict[str, Any]:
    """Each parameter of ``type(obj).__init__``, read from the attribute of the same name, or a
    one-line ``error`` naming the class when one is not stored."""
    names = option_names(type(obj))
    init = type(obj).__init__
    variadic = init is not object.__init__ and any(
        p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in inspect.signature(init).parameters.values())
    if variadic:  # its options would be recorded as none: results, comparisons and reruns would lose them
        raise error(f"{type(obj).__name__}.__init__ takes *args or **kwargs: name each option as a parameter of "
                    "__init__ (scikit-learn's convention), so that results, problem files and comparisons see it")
    missing = [name for name in names if not hasattr(obj, name)]
    if missing:
        raise error(f"{type(obj).__name__} does not keep its argument(s) {', '.join(missing)}: store each argument "
                    "of __init__ in the attribute of the same name (scikit-learn's convention), so that results, "
                    "problem files and comparisons see it")
    return {name: getattr(obj, name) for name in names}


def construct(cls: type[T], options: Mapping[str, Any], what: str, error: type[MpsolveError] = MpsolveError) -> T:
    """``cls(**options)``, or a one-line ``error`` ("bad options for ``what``") naming the options ``cls`` takes
    when ``options`` do not fit the signature of its ``__init__`` (an unknown or a missing keyword). An error
    raised inside ``__init__`` is its own: a plug-in's bug (a ``TypeError`` among them) is not blamed on the
    options, nor its traceback hidden."""
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise error(f"bad options for {what}: {exc}; its options: {', '.join(option_names(cls)) or 'none'}") from None
    return cls(**options)
