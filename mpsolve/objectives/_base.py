"""The objective abstraction: a score to maximise, vectorised over a batch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mpsolve.costs import ModelConstants, batch_of
from mpsolve.spaces import Architecture, DecodedBatch, SearchSpace, resolve_architecture
from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.params import constructor_options
from mpsolve.utils.validation import per_design

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
        scores = per_design(self.evaluate(batch_of(arch), arch), 1, f"the objective {self.name!r}")
        return float(self.finite_scores(scores, lambda i: arch)[0])

    def check_space(self, space: SearchSpace) -> None:
        """Refuse, in one line (:class:`MpsolveError`), a space whose designs this objective cannot
        rank; :class:`~mpsolve.Problem` calls it. Accepts every space by default."""
        return None

    def finite_scores(self, scores: Any, design: Callable[[int], Any], counted: bool = False) -> np.ndarray:
        """``scores`` as a float array, or a one-line error naming ``design(i)`` of the first non-finite
        score (and, when ``counted``, how many of the batch are) and this objective's options."""
        scores = np.asarray(scores, dtype=float)
        bad = np.flatnonzero(~np.isfinite(scores))
        if len(bad):
            count = f" ({len(bad)} of {len(scores)} designs scored)" if counted else ""
            raise MpsolveError(f"the objective {self.name!r} is {scores[bad[0]]} for {design(int(bad[0]))}{count}: "
                               f"a score must be a finite number; check its options: {self!r}")
        return scores

    def details(self, arch: Architecture) -> dict[str, float]:
        """The parts the score is made of (for reports); the score alone by default."""
        return {self.name: self.of(arch)}

    def options(self) -> dict[str, Any]:
        """The constructor arguments (for results, problem files and comparisons): by default each
        parameter of ``__init__``, read from the attribute of the same name."""
        return constructor_options(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options().items())})"
