"""The checkpoint format: what a run writes to resume later, and the checks on reading it back.

A checkpoint is a pickled dict (``version`` :data:`CHECKPOINT_VERSION`) holding the problem's
fingerprint, the solver's name and options, the run's seed, RNG state, incumbent, history
and elapsed time, and the backend's own ``solver_state``. Files are written atomically
(:func:`mpsolve.utils.files.atomic_write`).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpsolve.utils.errors import MpsolveError

if TYPE_CHECKING:
    from mpsolve.core.problem import Problem
    from mpsolve.core.solver import SolveContext, Solver

__all__ = ["CHECKPOINT_VERSION", "CheckpointError", "dumps_checkpoint", "load_checkpoint"]

CHECKPOINT_VERSION = 1


class CheckpointError(MpsolveError):
    """A checkpoint cannot be used (another problem or solver, or an unreadable file)."""


def dumps_checkpoint(ctx: SolveContext, solver_state: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint of the run ``ctx`` with the backend's ``solver_state``."""
    payload = {
        "version": CHECKPOINT_VERSION,
        "fingerprint": ctx.fingerprint,
        "solver": ctx.solver.name,
        "solver_options": ctx.solver.get_options(),
        "seed": ctx.seed,
        "rng": ctx.rng.bit_generator.state,
        "n_evals": ctx.n_evals,
        "best_x": ctx.best_x,
        "best_f": ctx.best_f,
        "history": list(ctx.history),
        "elapsed": ctx.elapsed(),
        "solver_state": solver_state,
    }
    return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


def load_checkpoint(path: str | Path, problem: Problem, solver: Solver) -> dict[str, Any]:
    """Read a checkpoint and check it belongs to this problem and solver."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise CheckpointError(f"checkpoint {str(path)!r} is unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{str(path)!r} is not an mpsolve checkpoint of version {CHECKPOINT_VERSION}")
    if payload["fingerprint"] != problem.fingerprint():
        raise CheckpointError(
            f"checkpoint {str(path)!r} belongs to another problem (fingerprint {payload['fingerprint']}, "
            f"this problem {problem.fingerprint()}): resume with the same space, objective and constraints"
        )
    if payload["solver"] != solver.name or payload["solver_options"] != solver.get_options():
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written by solver {payload['solver']!r} with options "
            f"{payload['solver_options']}, not {solver.name!r} with {solver.get_options()}"
        )
    return payload


