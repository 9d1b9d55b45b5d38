"""Shared fixtures."""

from __future__ import annotations

import os

import numpy as np
import pytest

import mpsolve
from mpsolve.spaces import SearchSpace, get_space

if "PYTEST_XDIST_WORKER" in os.environ:
    # one intra-op thread per test process (and the CLIs they start): the workers already fill the
    # cores, and OpenMP threads spinning on a busy core slow small models many times over
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def small_space() -> SearchSpace:
    return get_space("small")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def small_problem(small_space: SearchSpace) -> mpsolve.Problem:
    """The small test space under a FLOPs budget that binds (about half the designs fit)."""
    return mpsolve.Problem(small_space, constraints=[mpsolve.Budget("flops", "12G")])
