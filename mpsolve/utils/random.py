"""One helper that turns every accepted seed form into a numpy Generator."""

from __future__ import annotations

import secrets
from typing import Union

import numpy as np

from mpsolve.utils.errors import MpsolveError, shown
from mpsolve.utils.validation import check_integer, is_integer

__all__ = ["DEFAULT_SEED", "RandomState", "check_random_state", "fresh_seed"]

#: the seed of every run that names none: the CLI, problem files and sweeps
DEFAULT_SEED = 0

RandomState = Union[None, int, np.integer, np.random.Generator]


def check_random_state(seed: RandomState) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``None`` (fresh entropy), a non-negative int, or a Generator."""
    if seed is None or is_integer(seed):
        return np.random.default_rng(check_integer(seed, "seed", minimum=0, optional=True))
    if isinstance(seed, np.random.Generator):
        return seed
    raise MpsolveError(f"seed must be None, a non-negative integer or a numpy Generator, got {shown(seed)}")


def fresh_seed() -> int:
    """A seed from fresh entropy (32 bits), for a run given ``seed=None`` to record and be rerun with."""
    return secrets.randbits(32)
