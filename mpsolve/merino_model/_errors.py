"""Errors of the MeRino model package (all :class:`~mpsolve.MpsolveError` subclasses)."""

from __future__ import annotations

from mpsolve._errors import MpsolveError

__all__ = ["CheckpointMismatchError", "MissingDependencyError", "ModelInputError"]


class ModelInputError(MpsolveError):
    """A model was called with inputs it cannot handle (too long, bad shapes, bad options)."""


class CheckpointMismatchError(MpsolveError):
    """A checkpoint cannot be loaded: its config and its weights disagree."""


class MissingDependencyError(MpsolveError, ImportError):
    """An optional dependency is not installed."""


def require(module: str, extra: str) -> None:
    """Raise :class:`MissingDependencyError` naming the extra to install when ``module`` is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"{module} is not installed; install it with: pip install 'mpsolve[{extra}]'")
