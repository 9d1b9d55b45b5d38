"""The checkpoint format: what a run writes to resume later, and the checks on reading it back.

A checkpoint is **data only**: a JSON document (``format`` ``"mpsolve-checkpoint"``, ``version``
:data:`CHECKPOINT_VERSION`) holding the problem's fingerprint, the solver's name and options,
the run's seed, RNG state, incumbent, history and elapsed time, and the backend's own
``solver_state``. Arrays are stored as ``{"__array__": {"dtype", "shape", "data"}}`` with a
numeric dtype, and mappings with non-string keys as ``{"__items__": [[key, value], ...]}``.
Nothing in a checkpoint is executed: reading one parses JSON, checks its size, its structure
and the fingerprint first, and re-scores the stored incumbent instead of trusting it. Files
are written atomically (:func:`mpsolve.utils.files.atomic_write`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mpsolve.utils.errors import MpsolveError, shown
from mpsolve.utils.files import read_bytes_bounded

if TYPE_CHECKING:
    from mpsolve.core.problem import Problem
    from mpsolve.core.solver import SolveContext, Solver

__all__ = [
    "CHECKPOINT_VERSION",
    "MAX_CHECKPOINT_BYTES",
    "CheckpointError",
    "decode",
    "dumps_checkpoint",
    "encode",
    "checkpoint_lock",
    "check_checkpoint_target",
    "holds_checkpoint",
    "load_checkpoint",
    "replay_point",
]

CHECKPOINT_VERSION = 2
FORMAT = "mpsolve-checkpoint"
#: a checkpoint larger than this is refused unread
MAX_CHECKPOINT_BYTES = 64 * 2**20
#: the most bytes of a checkpoint lock read (it holds a pid)
_LOCK_BYTES = 64
_DTYPES = {"int64", "int32", "float64", "float32", "bool"}
#: fields that may be null but not absent (the others are type-checked one by one)
_NULLABLE = {"seed", "best_x"}


class CheckpointError(MpsolveError):
    """A checkpoint cannot be used (another problem or solver, or an unreadable or altered file)."""


def encode(value: Any) -> Any:
    """``value`` as JSON-able data (arrays and non-string-keyed mappings tagged)."""
    if isinstance(value, np.ndarray):
        if value.dtype.name not in _DTYPES:
            raise TypeError(f"checkpoints hold numeric arrays only, not {value.dtype}")
        return {"__array__": {"dtype": value.dtype.name, "shape": list(value.shape), "data": value.ravel().tolist()}}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__items__": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoints hold data only, not {type(value).__name__}")


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`; raises ``ValueError`` on a malformed tag."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__array__"}:
        spec = value["__array__"]
        if not (isinstance(spec, dict) and spec.get("dtype") in _DTYPES and isinstance(spec.get("shape"), list)
                and isinstance(spec.get("data"), list)):
            raise ValueError("malformed array")
        shape = spec["shape"]
        if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape):
            raise ValueError("malformed array shape")
        array = np.array(spec["data"], dtype=spec["dtype"])
        if array.ndim != 1 or array.size != math.prod(shape):
            raise ValueError("array data do not fill its shape")
        return array.reshape(shape)
    if set(value) == {"__items__"}:
        items = value["__items__"]
        if not (isinstance(items, list) and all(isinstance(i, list) and len(i) == 2 for i in items)):
            raise ValueError("malformed mapping")
        out = {}
        for k, v in items:
            if not (k is None or isinstance(k, (int, float, str))):
                raise ValueError("malformed mapping key")
            out[k] = decode(v)
        return out
    return {k: decode(v) for k, v in value.items()}


def dumps_checkpoint(ctx: SolveContext, solver_state: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint of the run ``ctx`` with the backend's ``solver_state``."""
    payload = {
        "format": FORMAT,
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
        "elapsed": ctx._elapsed(),
        "solver_state": solver_state,
    }
    return json.dumps(encode(payload)).encode("utf-8")


def _read(path: Path) -> Any:
    raw = read_bytes_bounded(path, "checkpoint", CheckpointError, MAX_CHECKPOINT_BYTES)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is unreadable: not an mpsolve checkpoint (version {CHECKPOINT_VERSION}, JSON)"
        ) from None


def holds_checkpoint(path: str | Path) -> bool | None:
    """Whether the file at ``path`` holds an mpsolve checkpoint (of any version): ``None`` when there is nothing a
    run would write over (no file, an empty one, or no regular file), ``False`` for any other data."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        data = _read(path)
    except (CheckpointError, OSError):  # unreadable: not known to be one
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def check_checkpoint_target(path: str | Path, what: str = "checkpoint") -> bool | None:
    """Refuse, before a run, a ``path`` it would checkpoint to that holds other data (the user's notes); else
    :func:`holds_checkpoint` of it (a checkpoint, an earlier run's, is written over, resumed or not)."""
    held = holds_checkpoint(path)
    if held is False:
        raise CheckpointError(f"{what} {str(path)!r} is a file that holds no mpsolve checkpoint, which the run would "
                              f"write over: give another {what}, or delete the file")
    return held


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _pcg64_state(state: Any) -> bool:
    """Whether ``state`` is a state numpy's PCG64 generator accepts."""
    if not isinstance(state, dict):
        return False
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError):
        return False
    return True


def _history_entry(entry: Any) -> bool:
    """``[seconds, evaluations, objective]``: finite, the first two non-negative, the count whole."""
    return (isinstance(entry, list) and len(entry) == 3 and all(_number(v) and math.isfinite(v) for v in entry)
            and entry[0] >= 0 and entry[1] >= 0 and entry[1] == int(entry[1]))


def _check_structure(payload: dict[str, Any], problem: Problem) -> str | None:
    """What is wrong with a decoded checkpoint's fields (``None`` if nothing)."""
    n_var = problem.n_var
    missing = _NULLABLE - set(payload)
    if missing:
        return f"it lacks {', '.join(sorted(missing))}"
    seed, n_evals, elapsed = payload.get("seed"), payload.get("n_evals"), payload.get("elapsed")
    if not (seed is None or (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0)):
        return "seed is not a non-negative integer"
    if not (isinstance(n_evals, int) and not isinstance(n_evals, bool) and n_evals >= 0):
        return "n_evals is not a non-negative integer"
    if not (_number(elapsed) and math.isfinite(elapsed) and elapsed >= 0):
        return "elapsed is not a non-negative number"
    if not _pcg64_state(payload.get("rng")):
        return "rng is not a valid PCG64 generator state"
    best_x, best_f = payload.get("best_x"), payload.get("best_f")
    if best_x is not None and not (isinstance(best_x, np.ndarray) and best_x.shape == (n_var,)
                                   and best_x.dtype.kind == "i"):
        return f"best_x is not an integer design of {n_var} variables"
    if not _number(best_f) or math.isnan(best_f) or (best_x is not None and not math.isfinite(best_f)):
        return "best_f is not a number"
    history = payload.get("history")
    if not (isinstance(history, list) and all(_history_entry(h) for h in history)):
        return "history is not a list of finite (seconds, evaluations, objective)"
    if best_x is None and (best_f != -math.inf or history):  # the history lists improvements of the incumbent
        return "best_x is null, but best_f or the history records an incumbent"
    if not isinstance(payload.get("solver_state"), dict):
        return "solver_state is not a mapping"
    return None


def load_checkpoint(path: str | Path, problem: Problem, solver: Solver) -> dict[str, Any]:
    """Read a checkpoint and check it is whole, belongs to this problem and solver, and scores as recorded."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder; give a file")
    raw = _read(path)
    if not (isinstance(raw, dict) and raw.get("format") == FORMAT and raw.get("version") == CHECKPOINT_VERSION):
        other = (f": it was written by another version of mpsolve (checkpoint version {shown(raw.get('version'))}); "
                 "start the run again without resuming it" if isinstance(raw, dict) and raw.get("format") == FORMAT
                 else "")
        raise CheckpointError(f"{str(path)!r} is not an mpsolve checkpoint of version {CHECKPOINT_VERSION}{other}")
    if raw.get("fingerprint") != problem.fingerprint():
        raise CheckpointError(
            f"checkpoint {str(path)!r} belongs to another problem (fingerprint {shown(raw.get('fingerprint'))}, "
            f"this problem {problem.fingerprint()}): resume with the same space, objective and constraints"
        )
    if raw.get("solver") != solver.name or raw.get("solver_options") != encode(solver.get_options()):
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written by solver {shown(raw.get('solver'))} with options "
            f"{shown(raw.get('solver_options'), 400)}, not {solver.name!r} with {solver.get_options()}: resume with "
            "the solver and options it was written with"
        )
    try:
        payload = decode(raw)
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is malformed: {exc}") from None
    problem_found = _check_structure(payload, problem)
    if problem_found is not None:
        raise CheckpointError(f"checkpoint {str(path)!r} is malformed: {problem_found}")
    payload["history"] = [(float(t), int(n), float(f)) for t, n, f in payload["history"]]
    if payload["best_x"] is not None:  # re-scored, never trusted
        try:
            ev = problem.evaluate(problem.space.check_encoding(payload["best_x"][None, :]))
        except MpsolveError as exc:
            raise CheckpointError(f"checkpoint {str(path)!r} holds an invalid design: {exc}") from None
        score = float(ev.objective[0])
        if not bool(ev.feasible[0]) or not math.isclose(score, payload["best_f"], rel_tol=1e-9, abs_tol=1e-9):
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not fit this problem: its incumbent scores {score!r} "
                f"({'feasible' if ev.feasible[0] else 'infeasible'}) where it recorded {payload['best_f']!r} "
                "(feasible); the file was edited, or a file the problem reads (a latency profile) changed"
            )
    return payload


def replay_point(state: dict[str, Any], counter: str, solver: str,
                 most: int | None = None) -> tuple[int, dict[str, Any]]:
    """``(state[counter], state["rng_start"])``: the steps a seeded backend replays on resuming.

    Backends whose own state is not data (pymoo's algorithm, Optuna's sampler) checkpoint how
    many steps they finished and the run's first RNG state; a resumed run rebuilds them from
    the seed and replays those steps without re-counting them. ``most``: the run's own number of
    steps, which no checkpoint of it exceeds (a larger count would end the resumed run at once).
    """
    steps, rng_start = state.get(counter), state.get("rng_start")
    if not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0 and _pcg64_state(rng_start)):
        raise CheckpointError(f"the {solver} checkpoint is malformed: it needs {counter} and rng_start (a PCG64 "
                              "generator state)")
    if most is not None and steps > most:
        raise CheckpointError(f"the {solver} checkpoint is malformed: it records {shown(steps)} {counter}, more than "
                              f"the run's {most}")
    return steps, rng_start


def _alive(pid: int) -> bool:
    if pid <= 0:  # an unreadable lock (0), or a process group: os.kill would signal our own group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # a process we may not signal still exists
    return True


@contextlib.contextmanager
def checkpoint_lock(path: Path) -> Iterator[None]:
    """Hold ``path + ".lock"`` for a run that writes ``path``; a second live writer is refused.

    The lock file holds the writer's pid; a lock left by a process that no longer runs (a
    killed run) is taken over.
    """
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)  # like atomic_write: missing folders are made
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:  # a pid, from a regular file only: a FIFO would block the read, a link to /dev/zero never end
                owner = int(read_bytes_bounded(lock, "checkpoint lock", limit=_LOCK_BYTES).decode("ascii").strip()
                            or "0")
            except (MpsolveError, ValueError):  # not a regular file, too long or not a pid: unreadable, stale
                owner = 0
            if owner != os.getpid() and _alive(owner):
                raise CheckpointError(
                    f"checkpoint {str(path)!r} is being written by another run (pid {owner}); wait for it, or "
                    f"write elsewhere (delete {str(lock)!r} if that run is gone)"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its writer is gone
            continue
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(str(os.getpid()))
        break
    else:
        raise CheckpointError(f"cannot lock checkpoint {str(path)!r}: {str(lock)!r} keeps reappearing")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
