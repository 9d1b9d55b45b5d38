"""Errors of the MeRino model package (all :class:`~mpsolve.MpsolveError` subclasses)."""

from __future__ import annotations

import math
from typing import Any

from mpsolve.utils.errors import MpsolveError

__all__ = ["CheckpointMismatchError", "MissingDependencyError", "ModelInputError", "check_id_range", "check_init_std"]


class ModelInputError(MpsolveError):
    """A model was called with inputs it cannot handle (too long, bad shapes, bad options)."""


class CheckpointMismatchError(MpsolveError):
    """A checkpoint cannot be loaded: its config and its weights disagree."""


class MissingDependencyError(MpsolveError, ImportError):
    """An optional dependency is not installed, or too old."""


def check_id_range(low: int, high: int, vocab: int) -> None:
    """Refuse token ids from ``low`` to ``high`` outside the vocabulary ``[0, vocab)``."""
    if low < 0 or high >= vocab:
        raise ModelInputError(f"token ids must be in [0, {vocab}) (the vocabulary), got ids from {low} to {high}")


def check_init_std(std: Any) -> None:
    """Refuse an init std that is not in (0, 1]: larger ones overflow the logits (GPT-2 uses 0.02)."""
    if isinstance(std, bool) or not (isinstance(std, (int, float)) and math.isfinite(std) and 0 < std <= 1):
        raise ModelInputError(f"init std must be a number in (0, 1] (GPT-2 uses 0.02), got {std!r}")


#: oldest transformers the HF integration is tested with (configs as dataclasses, the ``cache`` kwarg)
TRANSFORMERS_MIN = (5, 24)


def require(module: str, extra: str, min_version: tuple[int, ...] = ()) -> None:
    """Raise :class:`MissingDependencyError` naming the extra to install when ``module`` is missing or too old."""
    import importlib.metadata
    import importlib.util
    import re

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"{module} is not installed; install it with: pip install 'mpsolve[{extra}]'")
    if min_version:
        installed = importlib.metadata.version(module)
        numbers = tuple(int(n) for n in re.findall(r"\d+", installed)[: len(min_version)])
        if numbers < min_version:
            wanted = ".".join(map(str, min_version))
            raise MissingDependencyError(
                f"{module} {installed} is too old (mpsolve needs {module}>={wanted}); "
                f"upgrade it with: pip install -U 'mpsolve[{extra}]'"
            )
