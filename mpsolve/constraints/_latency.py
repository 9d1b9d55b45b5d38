"""Measured latency: a device profile of per-layer latencies and the additive cost it predicts.

The workload is the MeRino prefill that yields the next token: ``seq_len`` tokens at batch
``batch``, logits of the last position only (``logits_to_keep=1``). :func:`profile_latency`
times, on this machine, every component such a forward runs: one application of a layer of
every distinct ``(E, F)`` of a space, every input projection (``D -> E``, ``E -> E'``), every
output projection ``E -> D`` (last position only, as the model applies it after slicing), the
embeddings, and the final LayerNorm + LM head. :class:`LatencyCost` sums them per architecture::

    latency = embedding + sum_i L_i * layer(E_i, F_i) + projections + output projection + head

Profiling needs ``torch`` (extra ``[torch]``); predicting does not.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mpsolve.constraints._costs import CostModel, ModelConstants, projection_shapes, register_cost
from mpsolve.spaces import DecodedBatch, SearchSpace, get_space
from mpsolve.utils.errors import MpsolveError

__all__ = ["LatencyCost", "LatencyProfileError", "PROFILE_FORMAT", "PROFILE_VERSION", "device_info", "profile_latency"]

PROFILE_FORMAT = "mpsolve-latency-profile"
PROFILE_VERSION = 1
_CONSTANTS = ("vocab_size", "embed_proj_dim", "head_dim", "activation")
_STATISTICS: dict[str, Callable[[list[float]], float]] = {"median": statistics.median, "min": min}


class LatencyProfileError(MpsolveError):
    """A latency profile is unreadable, or lacks a shape an architecture needs."""


def profile_latency(
    space: SearchSpace | str,
    seq_len: int = 128,
    batch: int = 1,
    threads: int | None = None,
    repeats: int = 10,
    warmup: int = 3,
    progress: bool = True,
    seed: int = 0,
    statistic: str = "median",
) -> dict[str, Any]:
    """Measure the latency of every component the architectures of ``space`` are made of.

    Each entry is the median (or minimum) of ``repeats`` timed runs after ``warmup`` untimed
    ones, under ``torch.inference_mode`` with ``threads`` intra-op threads (default: torch's
    current setting).

    Args:
        space: a :class:`SearchSpace` or a preset name.
        seq_len: prompt length of the prefill.
        batch: prompts per forward.
        threads: torch intra-op threads during the measurement (restored afterwards).
        repeats: timed runs per entry.
        warmup: untimed runs per entry.
        progress: show a progress bar on stderr.
        seed: seed of the random weights and inputs.
        statistic: ``"median"``, or ``"min"`` on a machine shared with other work (the
            minimum estimates the undisturbed latency; preemptions inflate the median).

    Returns:
        The profile, a JSON-serialisable dict (save it with ``json.dump``; see :class:`LatencyCost`).
    """
    from mpsolve.merino_model._errors import require

    require("torch", "torch")
    import torch
    from tqdm import tqdm

    from mpsolve.merino_model._model import MeRinoLayer

    space = get_space(space) if isinstance(space, str) else space
    for label, value in (("seq_len", seq_len), ("batch", batch), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MpsolveError(f"{label} must be a positive integer, got {value!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise MpsolveError(f"warmup must be a non-negative integer, got {warmup!r}")
    if statistic not in _STATISTICS:
        raise MpsolveError(f"statistic must be one of {', '.join(_STATISTICS)}, got {statistic!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise MpsolveError(f"threads must be a positive integer, got {threads!r}")
    if seq_len > space.max_positions:
        raise MpsolveError(f"seq_len {seq_len} exceeds the space's max_positions {space.max_positions}")

    d = space.embed_proj_dim
    widths = list(space.embed_dims)
    layer_shapes = sorted({(e, int(f)) for i, e in enumerate(widths) for f in space.ffn_table[i]})
    input_shapes = sorted({(d, e) for e in widths if e != d} | {(a, b) for a in widths for b in widths if a < b})
    output_shapes = sorted({(e, d) for e in widths if e != d})
    generator = torch.Generator().manual_seed(seed)

    def timed(fn: Callable[[], Any]) -> float:
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1000.0 * _STATISTICS[statistic](times)

    def inputs(width: int, positions: int) -> torch.Tensor:
        return torch.randn(batch, positions, width, generator=generator)

    def linear(fan_in: int, fan_out: int, bias: bool = True) -> torch.nn.Linear:
        module = torch.nn.Linear(fan_in, fan_out, bias=bias)
        torch.nn.init.normal_(module.weight, std=0.02, generator=generator)
        return module.eval()

    previous_threads = torch.get_num_threads()
    total = len(layer_shapes) + len(input_shapes) + len(output_shapes) + 2
    bar = tqdm(total=total, desc="profiling latency", unit="shape", disable=not progress)
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.inference_mode():
            tokens = torch.nn.Embedding(space.vocab_size, d)
            positions = torch.nn.Embedding(space.max_positions, d)
            ids = torch.randint(0, space.vocab_size, (batch, seq_len), generator=generator)
            pos = torch.arange(seq_len).expand(batch, seq_len)
            embedding_ms = timed(lambda: tokens(ids) + positions(pos))
            bar.update()
            norm, head, last = torch.nn.LayerNorm(d), linear(d, space.vocab_size, bias=False), inputs(d, 1)
            head_ms = timed(lambda: head(norm(last)))
            bar.update()
            layers = []
            for e, f in layer_shapes:
                layer = MeRinoLayer(e, f, space.head_dim, space.activation).eval()
                for module in layer.modules():
                    if isinstance(module, torch.nn.Linear):
                        torch.nn.init.normal_(module.weight, std=0.02, generator=generator)
                x = inputs(e, seq_len)
                layers.append({"embed_dim": e, "ffn_dim": f, "ms": timed(lambda layer=layer, x=x: layer(x))})
                bar.update()
            projections = []
            for table, shapes, n in (("input", input_shapes, seq_len), ("output", output_shapes, 1)):
                for a, b in shapes:
                    module, x = linear(a, b), inputs(a, n)
                    ms = timed(lambda module=module, x=x: module(x))
                    projections.append({"kind": table, "in_dim": a, "out_dim": b, "positions": n, "ms": ms})
                    bar.update()
    finally:
        bar.close()
        torch.set_num_threads(previous_threads)

    return {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "workload": "prefill of seq_len tokens, logits of the last position only (logits_to_keep=1)",
        "device": device_info(),
        "torch": torch.__version__,
        "threads": threads if threads is not None else previous_threads,
        "seq_len": seq_len,
        "batch": batch,
        "repeats": repeats,
        "warmup": warmup,
        "statistic": statistic,
        "space": space.to_dict(),
        "constants": {name: getattr(space, name) for name in _CONSTANTS},
        "embedding_ms": embedding_ms,
        "head_ms": head_ms,
        "layers": layers,
        "projections": projections,
    }


def device_info() -> dict[str, str]:
    """Platform, machine and CPU model of this computer (from /proc/cpuinfo where there is one)."""
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu or "unknown"}


class _Table:
    """Vectorised lookup of milliseconds by an integer pair."""

    def __init__(self, pairs: list[tuple[int, int]], ms: list[float]) -> None:
        keys = np.asarray([_key(a, b) for a, b in pairs], dtype=np.int64).reshape(-1)
        order = np.argsort(keys)
        self.keys, self.ms = keys[order], np.asarray(ms, dtype=np.float64).reshape(-1)[order]

    def lookup(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Milliseconds of every ``(a, b)`` pair and a mask of the pairs found."""
        keys = _key(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        if self.keys.size == 0:
            return np.zeros(keys.shape), np.zeros(keys.shape, dtype=bool)
        idx = np.clip(np.searchsorted(self.keys, keys), 0, self.keys.size - 1)
        found = self.keys[idx] == keys
        return np.where(found, self.ms[idx], 0.0), found


def _key(a: Any, b: Any) -> Any:
    return a * (1 << 31) + b


class LatencyCost(CostModel):
    """Predicted prefill latency (ms) from a device profile made by :func:`profile_latency`.

    Additive: the embeddings and head, plus ``L_i`` times the layer latency of each block,
    plus the latency of every projection. Vectorised over the batch with lookup tables.

    Args:
        profile: the profile dict, or the path of its JSON file
            (``mpsolve profile-latency --out device.json``).
    """

    name = "latency"
    unit = "ms"

    def __init__(self, profile: str | Path | Mapping[str, Any]) -> None:
        self.profile = str(profile) if isinstance(profile, Path) else profile
        data = _read_profile(profile)
        self._data = data
        self.constants = dict(data["constants"])
        self.embedding_ms = float(data["embedding_ms"])
        self.head_ms = float(data["head_ms"])
        self._layers = _Table(
            [(r["embed_dim"], r["ffn_dim"]) for r in data["layers"]], [r["ms"] for r in data["layers"]]
        )
        by_kind: dict[str, list[dict[str, Any]]] = {"input": [], "output": []}
        for r in data["projections"]:
            by_kind[r["kind"]].append(r)
        self._inputs, self._outputs = (
            _Table([(r["in_dim"], r["out_dim"]) for r in rows], [r["ms"] for r in rows])
            for rows in (by_kind["input"], by_kind["output"])
        )

    def options(self) -> dict[str, Any]:
        return {"profile": self.profile}

    def is_additive(self) -> bool:
        return True

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        self._check_constants(constants)
        E, F, L = batch.embed_dims, batch.ffn_dims, batch.layers
        layer_ms, found = self._layers.lookup(E, F)
        if not found.all():
            row, col = np.argwhere(~found)[0]
            self._missing(f"a layer with embed_dim={E[row, col]}, ffn_dim={F[row, col]}")
        fan_in, fan_out = projection_shapes(batch, constants.embed_proj_dim)
        present = fan_in != fan_out
        input_ms, input_found = self._inputs.lookup(fan_in[:, :-1], fan_out[:, :-1])
        output_ms, output_found = self._outputs.lookup(fan_in[:, -1], fan_out[:, -1])
        missing = present[:, :-1] & ~input_found
        if missing.any():
            row, col = np.argwhere(missing)[0]
            self._missing(f"an input projection {fan_in[row, col]} -> {fan_out[row, col]}")
        missing = present[:, -1] & ~output_found
        if missing.any():
            row = int(np.argmax(missing))
            self._missing(f"an output projection {fan_in[row, -1]} -> {fan_out[row, -1]}")
        projections = np.sum(np.where(present[:, :-1], input_ms, 0.0), axis=1)
        projections += np.where(present[:, -1], output_ms, 0.0)
        return self.embedding_ms + self.head_ms + np.sum(L * layer_ms, axis=1) + projections

    def _check_constants(self, constants: ModelConstants) -> None:
        differ = {
            name: (getattr(constants, name), measured)
            for name, measured in self.constants.items()
            if getattr(constants, name, measured) != measured
        }
        if differ:
            detail = ", ".join(f"{k}={v!r} (profile: {m!r})" for k, (v, m) in differ.items())
            raise LatencyProfileError(
                f"the latency profile was measured for other model constants: {detail}; "
                "re-profile a space with these constants (mpsolve profile-latency --space ... --out FILE)"
            )

    def _missing(self, what: str) -> None:
        space = self._data.get("space", {}).get("name", "?")
        raise LatencyProfileError(
            f"the latency profile (space {space!r}) has no entry for {what}; re-profile a space that contains "
            "it: mpsolve profile-latency --space NAME_OR_TOML --out device.json"
        )


def _read_profile(profile: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(profile, (str, Path)):
        path = Path(profile)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise LatencyProfileError(
                f"latency profile {str(path)!r} does not exist; make one with mpsolve profile-latency --out {path}"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LatencyProfileError(f"cannot read latency profile {str(path)!r}: {exc}") from None
    elif isinstance(profile, Mapping):
        data = dict(profile)
    else:
        raise LatencyProfileError(f"a latency profile is a dict or a JSON file path, got {type(profile).__name__}")
    if data.get("format") != PROFILE_FORMAT:
        raise LatencyProfileError(f"not a latency profile (format {data.get('format')!r}, expected {PROFILE_FORMAT!r})")
    if data.get("version") != PROFILE_VERSION:
        raise LatencyProfileError(
            f"latency profile version {data.get('version')!r} is not supported (expected {PROFILE_VERSION}); re-profile"
        )
    required = ("constants", "embedding_ms", "head_ms", "layers", "projections")
    missing = [k for k in required if k not in data]
    if missing:
        raise LatencyProfileError(f"latency profile lacks {missing}; re-profile with mpsolve profile-latency")
    return data


register_cost("latency", LatencyCost)
