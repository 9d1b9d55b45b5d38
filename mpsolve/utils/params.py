"""Constructor arguments as options (scikit-learn's ``get_params`` convention)."""

from __future__ import annotations

import inspect
from typing import Any

from mpsolve.utils.errors import MpsolveError

__all__ = ["constructor_options", "option_names"]


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
