"""Measured latency: the additive costs a device profile of per-layer latencies predicts.

A profile (:func:`mpsolve.merino_model.profile_latency`) times, in one runtime (``torch`` or
``onnxruntime``) on this machine, every component a MeRino forward runs: one application of a
layer of every distinct ``(E, F)`` of a space, every input projection (``D -> E``, ``E -> E'``),
every output projection ``E -> D``, the embeddings, and the final LayerNorm + LM head. Its
``phase`` says which forward:

* ``prefill``: a ``seq_len``-token prompt at batch ``batch`` (:class:`LatencyCost`, ``latency_ms``);
* ``decode``: one new token with ``seq_len`` positions in the KV cache, the time per generated
  token (:class:`DecodeLatencyCost`, ``decode_ms``).

Both sum the components per architecture::

    latency = embedding + sum_i layers_i + projections + output projection + head

where block ``i`` costs ``L_i * layer(E_i, F_i)`` when its layers are not shared (each reads its
weights from memory), and, when one layer is shared, the timed ``L_i`` consecutive applications of
it (``repeated``: each on its own KV cache, the weights partly in the CPU cache from the
application before): linear between the timed depths and beyond the deepest with the slope over
its repeats, after a running maximum (a depth never costs less than a shallower one, whatever the
noise). Profiles without ``repeated`` (version 2) give the repeats their ``warm_ms``; a version 3 profile
without them (of a space that shares no deeper layer) has no entry for a shared block's repeats.
A profile with a ``calibration`` (whole designs timed against their component sums) adds its
model-level terms, ``ms + per_layer_ms * sum_i L_i``: what a whole forward pays beyond its
components (framework dispatch, cache bookkeeping, session input and output).

Profiling needs ``torch`` (extra ``[torch]``) and lives with the model; predicting does not.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mpsolve.costs._models import CostModel, ModelConstants, projection_shapes, register_cost
from mpsolve.spaces import LIMITS, DecodedBatch
from mpsolve.utils.errors import MpsolveError, shown
from mpsolve.utils.files import missing_reason, parse_data, read_text_bounded
from mpsolve.utils.jsonable import jsonable
from mpsolve.utils.validation import is_integer

__all__ = [
    "DecodeLatencyCost",
    "LatencyCost",
    "LatencyProfileError",
    "PROFILE_CONSTANTS",
    "PROFILE_FORMAT",
    "PROFILE_PHASES",
    "PROFILE_RUNTIMES",
    "PROFILE_STATISTICS",
    "PROFILE_VERSION",
    "latency_cost",
]

PROFILE_FORMAT = "mpsolve-latency-profile"
#: version 3 added the consecutive applications of shared layers (``repeated``), version 2 runtime, phase
#: and per-entry spread; version 1 files are torch prefill profiles. All three are read.
PROFILE_VERSION = 3
PROFILE_RUNTIMES = ("torch", "onnxruntime")
PROFILE_PHASES = ("prefill", "decode")
PROFILE_STATISTICS = ("median", "min")
#: the model constants a profile was measured with (a cost refuses architectures with others)
PROFILE_CONSTANTS = ("vocab_size", "embed_proj_dim", "head_dim", "activation")
_PROJECTION_KINDS = ("input", "output")
#: shapes are looked up as ``a * 2**31 + b`` in int64 (see :func:`_key`)
_DIM_LIMIT = 1 << 31
#: a timing at or above this (about 11.6 days) is no measurement of one forward pass
_MS_LIMIT = 1e9
#: the least share of an application's time a negative per-layer calibration term must leave (the
#: rounding that let a deeper block cost less was within 1e-14 of the bound, in a review's 2153 sweeps)
_CALIBRATION_MARGIN = 1e-10


class LatencyProfileError(MpsolveError):
    """A latency profile is unreadable, or lacks a shape an architecture needs."""


class _Table:
    """Vectorised lookup of milliseconds (one value, or a row of them) by an integer pair."""

    def __init__(self, pairs: list[tuple[int, int]], ms: Any) -> None:
        keys = np.asarray([_key(a, b) for a, b in pairs], dtype=np.int64).reshape(-1)
        order = np.argsort(keys)
        values = np.asarray(ms, dtype=np.float64)
        self.keys, self.ms = keys[order], values.reshape(len(keys), *values.shape[1:])[order]

    def index(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The row of every ``(a, b)`` pair (0 where missing) and a mask of the pairs found."""
        keys = _key(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        if self.keys.size == 0:
            return np.zeros(keys.shape, dtype=np.int64), np.zeros(keys.shape, dtype=bool)
        idx = np.clip(np.searchsorted(self.keys, keys), 0, self.keys.size - 1)
        found = self.keys[idx] == keys
        return np.where(found, idx, 0), found

    def lookup(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Milliseconds of every ``(a, b)`` pair (0 where missing) and a mask of the pairs found."""
        idx, found = self.index(a, b)
        if self.keys.size == 0:
            return np.zeros(idx.shape), found
        return np.where(found, self.ms[idx], 0.0), found


def _application_curve(entry: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    """A shared layer's milliseconds for ``n`` consecutive applications, from its profile entry:
    the timed depths ``n`` (1 first), their running maximum, and the slope beyond the deepest
    (over its repeats: from the first repeat timed, or from one application where only one is)."""
    repeated = entry.get("repeated")
    if not repeated:
        return np.ones(1), np.asarray([float(entry["ms"])]), float(entry.get("warm_ms", entry["ms"]))
    n = np.asarray([1, *repeated["applications"]], dtype=np.float64)
    ms = np.maximum.accumulate(np.asarray([entry["ms"], *repeated["ms"]], dtype=np.float64))
    first = 1 if len(n) > 2 else 0
    return n, ms, float((ms[-1] - ms[first]) / (n[-1] - n[first]))


def _fastest_application_ms(curves: list[tuple[np.ndarray, np.ndarray, float]]) -> float:
    """The least time any layer application adds, from the layers' :func:`_application_curve`: its first,
    or a repeat of a shared layer."""
    fastest = [v for n, ms, slope in curves for v in (ms[0], slope, *(np.diff(ms) / np.diff(n)))]
    return float(min(fastest, default=0.0))


def _key(a: Any, b: Any) -> Any:
    return a * _DIM_LIMIT + b


@register_cost
class LatencyCost(CostModel):
    """Predicted prefill latency (ms) from a device profile made by :func:`mpsolve.merino_model.profile_latency`.

    Additive: the embeddings and head, plus the ``L_i`` layer applications of each block (see
    the module docstring), plus the latency of every projection. Vectorised over the batch with
    lookup tables.

    Args:
        profile: the profile dict, or the path of its JSON file
            (``mpsolve profile-latency --out device.json``).
        calibrated: add the profile's calibration terms when it has them (``False``: the
            component sum alone).
    """

    name = "latency"
    unit = "ms"
    #: the profile phase this cost predicts
    phase = "prefill"

    def __init__(self, profile: str | Path | Mapping[str, Any], calibrated: bool = True) -> None:
        # an absolute path: a result or problem file records it, and is read again from another folder
        self.profile = os.path.abspath(os.path.expanduser(profile)) if isinstance(profile, (str, Path)) else profile
        if not isinstance(calibrated, bool):
            raise LatencyProfileError(f"calibrated must be True or False, got {calibrated!r}")
        self.calibrated = calibrated
        data = _read_profile(profile)
        if data["phase"] != self.phase:
            other = "decode_ms" if self.phase == "prefill" else "latency_ms"
            raise LatencyProfileError(
                f"{self.name!r} needs a {self.phase} profile, got a {data['phase']} profile: budget it as {other}, "
                f"or profile with mpsolve profile-latency --phase {self.phase}"
            )
        self._data = data
        #: a fingerprint of the profile's content (its path may hold another profile later)
        self.profile_digest = hashlib.sha256(json.dumps(jsonable(data), sort_keys=True).encode()).hexdigest()[:16]
        self.constants = dict(data["constants"])
        self.embedding_ms = float(data["embedding_ms"])
        self.head_ms = float(data["head_ms"])
        calibration = data.get("calibration") if calibrated else None
        self.calibration_ms = float(calibration["ms"]) if calibration else 0.0
        self.per_layer_ms = float(calibration["per_layer_ms"]) if calibration else 0.0
        shapes = [(r["embed_dim"], r["ffn_dim"]) for r in data["layers"]]
        self._layers = _Table(shapes, [r["ms"] for r in data["layers"]])
        curves = [_application_curve(r) for r in data["layers"]]
        #: the least time a layer application adds (the first of a block, or a repeat of a shared one)
        self.fastest_application_ms = _fastest_application_ms(curves)
        # a version 3 profile times the repeats of a layer where its space shares layers: one without (an unshared
        # space's) would give them the warm timing of a version 2 profile, which misses their cost, without a word
        self._repeats_untimed = data["version"] == PROFILE_VERSION and not any("repeated" in r for r in data["layers"])
        # a shared block of n applications: its row at n - 1 up to the deepest timed, then the slope
        self._deepest = int(max((n[-1] for n, _, _ in curves), default=1))
        depths = np.arange(1, self._deepest + 1)
        self._shared = _Table(shapes, [np.append(np.interp(depths, n, ms) + np.maximum(depths - n[-1], 0) * slope,
                                                 slope) for n, ms, slope in curves])
        by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _PROJECTION_KINDS}
        for r in data["projections"]:
            by_kind[r["kind"]].append(r)
        self._inputs, self._outputs = (
            _Table([(r["in_dim"], r["out_dim"]) for r in rows], [r["ms"] for r in rows])
            for rows in (by_kind["input"], by_kind["output"])
        )

    def options(self) -> dict[str, Any]:
        return {"profile": self.profile, "calibrated": self.calibrated}

    def is_additive(self) -> bool:
        return True

    def is_monotone(self) -> bool:
        # a block's timings are a running maximum over depth, and a calibration may take back less than
        # the least an application adds, so depth never lowers it; the cheapest ratio, which noise can
        # make a wider one, is found
        return True

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        self._check_constants(constants)
        E, F, L = batch.embed_dims, batch.ffn_dims, batch.layers
        layer_ms, found = self._layers.lookup(E, F)
        if constants.shared:
            row, _ = self._shared.index(E, F)
            deepest = np.minimum(L, self._deepest)
            curve = self._shared.ms
            blocks = curve[row, deepest - 1] + (L - deepest) * curve[row, -1] if curve.size else np.zeros(L.shape)
        else:
            blocks = L * layer_ms
        if not found.all():
            row, col = np.argwhere(~found)[0]
            self._missing(f"a layer with embed_dim={E[row, col]}, ffn_dim={F[row, col]}")
        if constants.shared and self._repeats_untimed and (L > 1).any():
            row, col = np.argwhere(L > 1)[0]
            self._missing(f"{L[row, col]} consecutive applications of a shared layer (its space shares none, or has "
                          "one layer a block)")
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
        # summed in sorted order: reordering blocks of one width (the same cost) gives the same bits, so a
        # budget at a design's cost to the last bit holds for every ordering (exact and cpsat try one)
        layers = np.sum(np.sort(blocks + self.per_layer_ms * L, axis=1), axis=1)
        return self.embedding_ms + self.head_ms + self.calibration_ms + layers + projections

    def positions(self) -> int | None:
        """The positions the profiled workload holds: its ``seq_len`` prompt (a decode profile: the cached
        positions and the generated token); ``None`` for a version 1 profile, which does not say."""
        seq_len = self._data.get("seq_len")
        return None if seq_len is None else int(seq_len) + (self.phase == "decode")

    @property
    def runtime(self) -> str:
        """The runtime the profile was measured in (``torch`` or ``onnxruntime``)."""
        return str(self._data["runtime"])

    @property
    def workload(self) -> dict[str, Any]:
        """What the profile timed, the workload to time a design on to check a prediction:
        ``runtime``, ``phase``, ``seq_len``, ``batch``, ``threads``, ``statistic``, ``logits``
        (``None`` where an older profile does not say), ``lean`` (ONNX Runtime's lean graph, with
        prepacking off) and ``int8`` (ONNX Runtime's dynamic INT8 of the graph), each ``False`` where an older
        profile does not say."""
        workload = {k: self._data.get(k) for k in ("runtime", "phase", "seq_len", "batch", "threads", "statistic",
                                                   "logits")}
        return {**workload, "lean": bool(self._data.get("lean", False)), "int8": bool(self._data.get("int8", False))}

    def _check_constants(self, constants: ModelConstants) -> None:
        differ = {
            name: (getattr(constants, name), measured)
            for name, measured in self.constants.items()
            if getattr(constants, name, measured) != measured
        }
        if differ:
            detail = ", ".join(f"{k}={v!r} (profile: {shown(m)})" for k, (v, m) in differ.items())
            raise LatencyProfileError(
                f"the latency profile was measured for other model constants: {detail}; "
                "re-profile a space with these constants (mpsolve profile-latency --space ... --out FILE)"
            )

    def _missing(self, what: str) -> None:
        space = self._data.get("space", {}).get("name", "?")
        raise LatencyProfileError(
            f"the latency profile (space {shown(space)}) has no entry for {what}; re-profile a space that contains "
            "it: mpsolve profile-latency --space NAME_OR_TOML --out device.json"
        )


@register_cost
class DecodeLatencyCost(LatencyCost):
    """Predicted time per generated token (ms) with the KV cache, from a ``decode`` profile.

    The same additive model as :class:`LatencyCost` over one-token components: the layers
    attend to the ``seq_len`` cached positions of the profile.

    Args:
        profile: a profile made with ``mpsolve profile-latency --phase decode`` (dict or path).
    """

    name = "decode"
    phase = "decode"


def latency_cost(profile: str | Path | Mapping[str, Any], calibrated: bool = True) -> LatencyCost:
    """The latency cost of a profile's phase: :class:`LatencyCost` for a prefill profile,
    :class:`DecodeLatencyCost` for a decode one."""
    phase = _read_profile(profile)["phase"]
    return (DecodeLatencyCost if phase == "decode" else LatencyCost)(profile, calibrated)


def _read_profile(profile: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(profile, (str, Path)):
        if isinstance(profile, str) and not profile.strip():  # Path('') is the current folder
            raise LatencyProfileError("the latency profile's path is empty: give the file mpsolve profile-latency "
                                      "--out wrote")
        path = Path(profile)
        if missing_reason(path) == "does not exist":
            raise LatencyProfileError(
                f"latency profile {str(path)!r} does not exist; make one with mpsolve profile-latency --out {path}"
            )
        data = parse_data(read_text_bounded(path, "latency profile", LatencyProfileError), "json",
                          LatencyProfileError, f"cannot read latency profile {str(path)!r}")
    elif isinstance(profile, Mapping):
        data = dict(profile)
    else:
        raise LatencyProfileError(f"a latency profile is a dict or a JSON file path, got {type(profile).__name__}")
    if not isinstance(data, Mapping) or data.get("format") != PROFILE_FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        what = repr(str(profile)) if isinstance(profile, (str, Path)) else "the profile"  # which file, of several
        raise LatencyProfileError(f"{what} is not a latency profile (format {shown(found)}, expected "
                                  f"{PROFILE_FORMAT!r}): give a file that mpsolve profile-latency --out wrote")
    version = data.get("version")
    if not is_integer(version):  # True == 1 in Python
        version = repr(version)
    if version == 1:  # before runtimes and phases: torch prefill
        if data.get("runtime", "torch") != "torch" or data.get("phase", "prefill") != "prefill":
            raise LatencyProfileError(f"latency profile version 1 is a torch prefill profile, but this one says "
                                      f"runtime {shown(data.get('runtime', 'torch'))}, phase "
                                      f"{shown(data.get('phase', 'prefill'))}; re-profile")
        data = {**data, "runtime": "torch", "phase": "prefill"}
    elif version not in (2, PROFILE_VERSION):
        raise LatencyProfileError(
            f"latency profile version {shown(version)} is not supported (expected 1 to {PROFILE_VERSION}); re-profile"
        )
    for key, known in (("runtime", PROFILE_RUNTIMES), ("phase", PROFILE_PHASES), ("statistic", PROFILE_STATISTICS)):
        if data.get(key, "median" if key == "statistic" else None) not in known:  # older profiles: the median
            raise LatencyProfileError(
                f"latency profile {key} {shown(data.get(key))} is not one of {', '.join(known)}; re-profile"
            )
    # the positions whose logits were timed (older profiles: unsaid); a torch profile keeps the last one's only
    kept = ("last",) if data["runtime"] == "torch" else ("all", "last")
    if data.get("logits") is not None and data["logits"] not in kept:
        raise LatencyProfileError(f"latency profile logits {shown(data['logits'])} is not one of {', '.join(kept)} "
                                  f"for a {data['runtime']} profile; re-profile with mpsolve profile-latency")
    lean = data.get("lean", False)  # older profiles: unsaid, the default graph
    if not isinstance(lean, bool):
        raise LatencyProfileError(f"latency profile lean {shown(lean)} is not true or false; re-profile with "
                                  "mpsolve profile-latency")
    int8 = data.get("int8", False)  # older profiles: unsaid, fp32
    if not isinstance(int8, bool):
        raise LatencyProfileError(f"latency profile int8 {shown(int8)} is not true or false; re-profile with "
                                  "mpsolve profile-latency")
    for name, said, what in (("lean", lean, "ONNX Runtime's lean graph"), ("int8", int8, "ONNX Runtime's INT8")):
        if said and data["runtime"] != "onnxruntime":
            raise LatencyProfileError(f"latency profile says {name} ({what}) of runtime {shown(data['runtime'])}; "
                                      "re-profile with mpsolve profile-latency")
    if lean and int8:
        raise LatencyProfileError("latency profile says both lean and int8, which mpsolve does not profile; re-profile "
                                  "with mpsolve profile-latency")
    required = ("constants", "embedding_ms", "head_ms", "layers", "projections")
    missing = [k for k in required if k not in data]
    if missing:
        raise LatencyProfileError(f"latency profile lacks {missing}; re-profile with mpsolve profile-latency")
    if not isinstance(data.get("space", {}), Mapping):
        raise LatencyProfileError("latency profile space is not a mapping (the profiled space's fields); re-profile "
                                  "with mpsolve profile-latency")
    if not (isinstance(data["constants"], Mapping) and all(isinstance(k, str) for k in data["constants"])):
        raise LatencyProfileError("latency profile constants are not a mapping of names to values; re-profile "
                                  "with mpsolve profile-latency")
    lacking = [k for k in PROFILE_CONSTANTS if k not in data["constants"]]  # each is checked against the design's
    if lacking:
        raise LatencyProfileError(f"latency profile constants lack {', '.join(lacking)}; re-profile with mpsolve "
                                  "profile-latency")
    _check_entries(data)
    entries = [*data["layers"], *data["projections"]]
    spreads = [data.get(k, 0.0) for k in ("embedding_iqr_ms", "head_iqr_ms", "call_overhead_ms")]
    spreads += [e.get(k, 0.0) for e in entries for k in ("iqr_ms", "warm_ms", "warm_iqr_ms")]
    spreads += [v for r in data["layers"] for k in ("ms", "iqr_ms") for v in r.get("repeated", {}).get(k, [])]
    timings = [data["embedding_ms"], data["head_ms"], *(e.get("ms") for e in entries)]
    timings += spreads
    # compared, not converted: NaN fails the range, and an integer too large for a float does not overflow
    bad = [v for v in timings if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < _MS_LIMIT]
    if bad:
        raise LatencyProfileError(f"latency profile has timings that are not numbers from 0 to {_MS_LIMIT:g} ms: "
                                  f"{[v if len(repr(v)) < 25 else repr(v)[:20] + '...' for v in bad[:3]]}; re-profile "
                                  "with mpsolve profile-latency")
    for key in ("seq_len", "batch", "threads"):  # threads: null for the runtime's default
        if key in data and not (is_integer(data[key]) and 0 < data[key] < _DIM_LIMIT) and not (
                key == "threads" and data[key] is None):
            raise LatencyProfileError(f"latency profile {key} {shown(data[key])} is not a positive integer; "
                                      "re-profile with mpsolve profile-latency")
    if data.get("calibration") is not None:
        _check_calibration(data, data["calibration"])
    return data


def _check_entries(data: Mapping[str, Any]) -> None:
    """Refuse layer and projection entries that are not mappings with positive integer shapes and a known kind."""
    for key, dims in (("layers", ("embed_dim", "ffn_dim")), ("projections", ("in_dim", "out_dim"))):
        rows = data[key]
        if not (isinstance(rows, list) and all(isinstance(r, Mapping) for r in rows)):
            raise LatencyProfileError(f"latency profile {key} is not a list of entries; re-profile with "
                                      "mpsolve profile-latency")
        for i, r in enumerate(rows):
            bad = [d for d in dims if not (is_integer(r.get(d)) and 0 < r[d] < _DIM_LIMIT)]
            if bad:
                raise LatencyProfileError(f"latency profile {key}[{i}] {bad[0]} {shown(r.get(bad[0]))} is not a "
                                          f"positive integer below 2**31; re-profile with mpsolve profile-latency")
            if key == "layers" and "repeated" in r:
                _check_repeated(r["repeated"], i)
            if key == "projections" and r.get("kind") not in _PROJECTION_KINDS:
                raise LatencyProfileError(f"latency profile projections[{i}] kind {shown(r.get('kind'))} is not one "
                                          f"of {', '.join(_PROJECTION_KINDS)}; re-profile with mpsolve profile-latency")
        shapes = [tuple(r.get(k) for k in ("kind", *dims)) for r in rows]
        if len(set(shapes)) < len(shapes):
            i = next(i for i, shape in enumerate(shapes) if shape in shapes[:i])
            raise LatencyProfileError(f"latency profile {key}[{i}] repeats the shape of an earlier entry (which "
                                      "timing holds?); re-profile with mpsolve profile-latency")


def _check_repeated(repeated: Any, i: int) -> None:
    """Refuse a ``repeated`` entry that is not increasing depths from 2 (to the largest supported) with one
    timing (and spread) each."""
    n = repeated.get("applications") if isinstance(repeated, Mapping) else None
    lists = [repeated.get(k, []) if isinstance(repeated, Mapping) else None for k in ("ms", "iqr_ms")]
    if not (isinstance(n, list) and n and all(is_integer(v) and 2 <= v <= LIMITS["layers"] for v in n)
            and all(a < b for a, b in zip(n, n[1:])) and isinstance(lists[0], list) and len(lists[0]) == len(n)
            and isinstance(lists[1], list) and len(lists[1]) in (0, len(n))):
        raise LatencyProfileError(f"latency profile layers[{i}] repeated is not increasing applications from 2 "
                                  f"to {LIMITS['layers']} with one ms each; re-profile with mpsolve profile-latency")


def _check_calibration(profile: Mapping[str, Any], calibration: Any) -> None:
    """Refuse calibration terms that are not finite numbers, or that could make a design's latency negative.

    The per-forward term may take back less than the embeddings and head, the per-layer term
    less than the least time a layer application adds: every prediction stays above its
    projections' time, and a deeper block never costs less.
    """
    terms = [calibration.get(k) for k in ("ms", "per_layer_ms")] if isinstance(calibration, Mapping) else [None]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < _MS_LIMIT for v in terms):
        raise LatencyProfileError(f"latency profile calibration needs numbers ms and per_layer_ms within "
                                  f"+-{_MS_LIMIT:g} ms; re-profile with mpsolve profile-latency")
    fastest = _fastest_application_ms([_application_curve(r) for r in profile["layers"]])
    # a per-layer term within rounding of the bound could still let a deeper block cost a few ulps less
    if terms[0] <= -(profile["embedding_ms"] + profile["head_ms"]) or (
            terms[1] < 0 and terms[1] <= -(1 - _CALIBRATION_MARGIN) * fastest):
        raise LatencyProfileError(
            f"latency profile calibration (ms {terms[0]:.4g}, per_layer_ms {terms[1]:.4g}) would make some designs' "
            "latency negative: the timings were too noisy; re-profile on an idle machine, or with --calibrate 0"
        )
