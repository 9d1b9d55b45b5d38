"""Errors of the MeRino model package (all :class:`~mpsolve.MpsolveError` subclasses)."""

from __future__ import annotations

from typing import Any

from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.validation import is_finite_number

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


def check_init_std(std: Any) -> float:
    """``std`` as a ``float`` when it is in (0, 1] (a numpy number too); larger ones overflow the logits (GPT-2
    uses 0.02)."""
    if not (is_finite_number(std) and 0 < std <= 1):  # np.float32(0.02) was refused as not a number
        raise ModelInputError(f"init std must be a number in (0, 1] (GPT-2 uses 0.02), got {std!r}")
    return float(std)


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
