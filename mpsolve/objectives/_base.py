"""The objective abstraction: a score to maximise, vectorised over a batch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from mpsolve.costs import ModelConstants, batch_of
from mpsolve.spaces import Architecture, DecodedBatch, resolve_architecture
from mpsolve.utils.errors import MpsolveError

__all__ = ["Objective"]


class Objective(ABC):
    """A score of architectures that solvers maximise."""

    name: str = ""

    @abstractmethod
    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        """The score of every architecture of ``batch`` as an ``(n,)`` float array."""

    def of(self, arch: Architecture | str | Mapping[str, Any]) -> float:
        """The score of one architecture (or a preset name, a JSON file or object of one)."""
        arch = resolve_architecture(arch)
        score = float(self.evaluate(batch_of(arch), arch)[0])
        if not np.isfinite(score):
            raise MpsolveError(f"the objective {self.name!r} is {score} for {arch}: a score must be a finite number; "
                               f"check its options: {self!r}")
        return score

    def details(self, arch: Architecture) -> dict[str, float]:
        """The parts the score is made of (for reports); the score alone by default."""
        return {self.name: self.of(arch)}

    def options(self) -> dict[str, Any]:
        """The constructor arguments (for results and problem files)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options().items())})"
