"""Measured latency: the additive cost a device profile of per-layer latencies predicts.

The workload is the MeRino prefill that yields the next token: ``seq_len`` tokens at batch
``batch``, logits of the last position only (``logits_to_keep=1``). :func:`mpsolve.merino_model.profile_latency`
times, on this machine, every component such a forward runs: one application of a layer of
every distinct ``(E, F)`` of a space, every input projection (``D -> E``, ``E -> E'``), every
output projection ``E -> D`` (last position only, as the model applies it after slicing), the
embeddings, and the final LayerNorm + LM head. :class:`LatencyCost` sums them per architecture::

    latency = embedding + sum_i L_i * layer(E_i, F_i) + projections + output projection + head

Profiling needs ``torch`` (extra ``[torch]``) and lives with the model; predicting does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mpsolve.costs._models import CostModel, ModelConstants, projection_shapes, register_cost
from mpsolve.spaces import DecodedBatch
from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.files import parse_data, read_text_bounded

__all__ = ["LatencyCost", "LatencyProfileError", "PROFILE_CONSTANTS", "PROFILE_FORMAT", "PROFILE_VERSION"]

PROFILE_FORMAT = "mpsolve-latency-profile"
PROFILE_VERSION = 1
#: the model constants a profile was measured with (a cost refuses architectures with others)
PROFILE_CONSTANTS = ("vocab_size", "embed_proj_dim", "head_dim", "activation")


class LatencyProfileError(MpsolveError):
    """A latency profile is unreadable, or lacks a shape an architecture needs."""


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


@register_cost
class LatencyCost(CostModel):
    """Predicted prefill latency (ms) from a device profile made by :func:`mpsolve.merino_model.profile_latency`.

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
        if not path.exists():
            raise LatencyProfileError(
                f"latency profile {str(path)!r} does not exist; make one with mpsolve profile-latency --out {path}"
            )
        data = parse_data(read_text_bounded(path, "latency profile", LatencyProfileError), "json",
                          LatencyProfileError, f"cannot read latency profile {str(path)!r}")
    elif isinstance(profile, Mapping):
        data = dict(profile)
    else:
        raise LatencyProfileError(f"a latency profile is a dict or a JSON file path, got {type(profile).__name__}")
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        data = data if isinstance(data, dict) else {}
        raise LatencyProfileError(f"not a latency profile (format {data.get('format')!r}, expected {PROFILE_FORMAT!r})")
    if data.get("version") != PROFILE_VERSION:
        raise LatencyProfileError(
            f"latency profile version {data.get('version')!r} is not supported (expected {PROFILE_VERSION}); re-profile"
        )
    required = ("constants", "embedding_ms", "head_ms", "layers", "projections")
    missing = [k for k in required if k not in data]
    if missing:
        raise LatencyProfileError(f"latency profile lacks {missing}; re-profile with mpsolve profile-latency")
    if not (isinstance(data["constants"], Mapping) and all(isinstance(k, str) for k in data["constants"])):
        raise LatencyProfileError("latency profile constants are not a mapping of names to values; re-profile "
                                  "with mpsolve profile-latency")
    entries = [e for k in ("layers", "projections") for e in (data[k] if isinstance(data[k], list) else [None])]
    timings = [data["embedding_ms"], data["head_ms"], *(e.get("ms") if isinstance(e, Mapping) else e for e in entries)]
    bad = [v for v in timings if isinstance(v, bool) or not isinstance(v, (int, float))
           or not math.isfinite(v) or v < 0]
    if bad:
        raise LatencyProfileError(f"latency profile has timings that are not non-negative numbers: {bad[:3]}; "
                                  "re-profile with mpsolve profile-latency")
    return data

