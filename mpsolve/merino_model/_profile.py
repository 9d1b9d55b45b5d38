"""Latency profiling: time every component of a space's architectures on this machine.

:func:`profile_latency` times, in ``torch`` or in ONNX Runtime, one application of a layer of
every distinct ``(E, F)`` of a space, every input projection (``D -> E``, ``E -> E'``), every
output projection ``E -> D``, the embeddings, and the final LayerNorm + LM head, for one of two
workloads (``phase``):

* ``prefill``: a ``seq_len``-token prompt at batch ``batch``. In torch the model keeps the
  logits of the last position only (``logits_to_keep=1``), so the output projection and the
  head run on one position; in ONNX Runtime it is the KV-cache graph of
  :func:`~mpsolve.merino_model.export_onnx` on an empty cache, which by default returns every
  position's logits, so there they run on ``seq_len`` (``logits="last"``: on one position, as
  the graph exported with ``logits="last"`` does).
* ``decode``: one new token per sequence with ``seq_len`` positions already in the KV cache;
  a layer appends its key and value to the cache and attends to all ``seq_len + 1``.

:func:`model_latency` times a whole model on the same workload, to check a profile against.

Every entry is timed with ``torch.utils.benchmark.Timer.blocked_autorange`` (blocks of calls for at
least ``min_run_time`` seconds, and at least ``MIN_BLOCKS`` blocks) with pinned threads, twice:
``ms`` with cold weights (the calls rotate through copies of the component that together hold twice
the largest CPU cache, as in a model whose other weights have evicted them; at one token per layer,
decoding reads every weight once and the cache decides its speed), and ``warm_ms`` calling one copy.
A layer of a shared space is also timed as the model runs it: ``n`` consecutive applications of one
copy, each on its own input and KV cache, starting cold (``repeated``, for the space's depths up to
``MAX_TIMED_APPLICATIONS``). The repeats do not run at ``warm_ms``: a layer read once is only partly
in the cache at its second application, and each application reads a KV cache of its own (measured
in ``benchmarks/README.md``, "Repeated applications"). An entry whose interquartile range exceeds
``NOISE_THRESHOLD`` of its median (or with fewer blocks) is flagged ``noisy``. In ONNX Runtime every
component is its own exported graph, with the dynamic axes of a design's graph (so it runs a
design's kernels); the cost of one ``session.run`` call, which a whole model pays once, is measured
on a trivial graph, taken off every component but the embeddings and recorded as
``call_overhead_ms``. On more than one thread its sessions are timed in a child process where they
share one thread pool (a pool of their own each spins against the next session's: see
:func:`_onnx_timer`).

What the components miss, a whole model pays once per forward or once per layer application
(framework dispatch between layers, the cache bookkeeping, moving the KV cache in and out of
a session). On request (``calibrate``, off by default) the profile fits it: that many whole
designs of the space, spread over depth and drawn with a seed other than ``seed``'s sample, are
timed on the same workload and the differences to their component sums fitted by least squares
as ``ms + per_layer_ms * applications`` (``calibration`` in the profile; an additive term, so
every backend keeps it). Off by default because a fit to a few designs also fits the machine's
drift at the moment they were timed: on an idle benchmark run it predicted other designs worse
than the component sum in three of four cells (``benchmarks/results/latency.md``). ``fit_intercept=False`` fits
the per-layer term alone, steadier than the per-forward one in decode; in two pre-registered runs
with version-2 profiles (repeats timed warm) it helped one of four decode cells and hurt three
(``benchmarks/results/latency_slope.md``, ``latency_slope_replication.md``), so check it against
whole designs timed on the device.
The component sum's own record over the registered runs is in ``benchmarks/README.md``.
The profile is what :class:`mpsolve.costs.LatencyCost` (prefill) and
:class:`mpsolve.costs.DecodeLatencyCost` (decode) predict from. Importing this module is cheap;
profiling needs ``torch`` (extra ``[torch]``), and ``onnxruntime`` (extra ``[onnx]``) for that runtime.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import platform
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from mpsolve.costs import (
    PROFILE_CONSTANTS,
    PROFILE_FORMAT,
    PROFILE_PHASES,
    PROFILE_RUNTIMES,
    PROFILE_STATISTICS,
    PROFILE_VERSION,
)
from mpsolve.merino_model._errors import ModelInputError, require
from mpsolve.spaces import Architecture, SearchSpace, get_space, resolve_architecture
from mpsolve.utils.errors import MpsolveError, first_line
from mpsolve.utils.files import atomic_write
from mpsolve.utils.signals import children_ignore_ctrl_c, close_pool, end_with_parent, pool_worker, stop_pool
from mpsolve.utils.validation import check_bool, check_integer, check_run_time, check_threads

__all__ = [
    "DEFAULT_CALIBRATION_DESIGNS",
    "NOISE_THRESHOLD",
    "design_latency",
    "device_info",
    "model_latency",
    "onnx_session",
    "profile_latency",
    "time_call",
]

#: fewest timed blocks per measurement
MIN_BLOCKS = 5
#: IQR / median above which a timing is flagged noisy (``torch.utils.benchmark``'s own warning level)
NOISE_THRESHOLD = 0.1
#: most copies of a component rotated through for its cold timing
_MAX_COPIES = 256
#: most consecutive applications of a shared layer timed (deeper blocks extrapolate; see :func:`repeat_counts`)
MAX_TIMED_APPLICATIONS = 8
#: whole designs :func:`profile_latency` times to fit the model-level terms (0: none; see the module docstring)
DEFAULT_CALIBRATION_DESIGNS = 0
#: sampled designs the calibration designs are picked from, evenly over depth
_CALIBRATION_POOL = 256
#: how close to their bounds (zero latency) the calibration terms may come
_BOUND_MARGIN = 0.01
_WORKLOADS = {
    "prefill": "prefill of seq_len tokens (torch: logits of the last position only; onnxruntime: the KV-cache "
    "graph on an empty cache, logits of {} position)",
    "decode": "one new token with seq_len positions in the KV cache (time per generated token)",
}
_LEAN = "; a lean graph (its table stored once, as the head's weight), with prepacking off"
_INT8 = "; the graph's dynamic INT8 (mpsolve export --int8)"


def time_call(
    fn: Callable[[], Any], threads: int, min_run_time: float = 0.2, statistic: str = "median"
) -> dict[str, Any]:
    """Time ``fn`` with ``torch.utils.benchmark.Timer.blocked_autorange`` on ``threads`` torch threads.

    The run lasts ``min_run_time`` seconds, or longer where that would give fewer than
    ``MIN_BLOCKS`` blocks (a call longer than ``min_run_time / MIN_BLOCKS``, or a block of
    many short calls, as torch sizes them, longer than that).

    Returns:
        ``ms`` (the median, or the minimum, of the per-call block means), ``iqr_ms``, ``blocks``
        (timed blocks) and ``noisy`` (IQR above :data:`NOISE_THRESHOLD` of the median, or, where
        a block ran slower than its first estimate, fewer than ``MIN_BLOCKS`` blocks: no spread).
    """
    import time

    from torch.utils import benchmark

    _check_choice("statistic", statistic, PROFILE_STATISTICS)  # any other was taken as the minimum
    fn()  # the first call allocates; blocked_autorange calibrates on the following ones
    start = time.perf_counter()
    fn()
    # at least MIN_BLOCKS blocks, so that a call longer than min_run_time still gets a spread
    run_time = max(min_run_time, MIN_BLOCKS * (time.perf_counter() - start))
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    m = timer.blocked_autorange(min_run_time=run_time)
    if len(m.times) < MIN_BLOCKS:  # torch puts up to 100 short calls in a block: time enough blocks for a spread
        m = timer.blocked_autorange(min_run_time=1.5 * MIN_BLOCKS * m.number_per_run * max(m.times))
    value = m.median if statistic == "median" else min(m.times)
    return {
        "ms": 1000.0 * value,
        "iqr_ms": 1000.0 * m.iqr,
        "blocks": len(m.times),
        "noisy": len(m.times) < MIN_BLOCKS or not m.meets_confidence(NOISE_THRESHOLD),  # no spread: not trusted
    }


def onnx_session(model: Any, threads: int | None = None) -> Any:
    """A CPU ``onnxruntime.InferenceSession`` of a path or serialised model with pinned threads
    (``threads`` intra-op, default torch's current setting; one inter-op; sequential execution); a lean graph
    (``export_onnx(lean=True)``) with prepacking off, so that it holds its table once."""
    from mpsolve.merino_model._onnx import _session

    return _session(model, None if threads is None else check_integer(threads, "threads", error=ModelInputError))


def _check_choice(label: str, value: Any, known: tuple[str, ...]) -> str:
    """``value`` when it is one of ``known``, else a one-line error naming ``label``."""
    if not isinstance(value, str) or value not in known:
        raise MpsolveError(f"{label} must be one of {', '.join(known)}, got {value!r}")
    return value


def _check_workload(seq_len: int, batch: int, seed: Any, phase: str, width: int, ffn_dim: int) -> None:
    """Refuse a seed torch cannot take, and a workload whose largest activation alone (the FFN's
    in a prompt, one layer's keys and values in a decode cache; 0 widths: unknown) exceeds the free memory."""
    from mpsolve.merino_model._generation import torch_seed
    from mpsolve.utils.memory import check_memory

    torch_seed(seed, optional=False)
    need = 4 * batch * seq_len * (ffn_dim if phase == "prefill" else 2 * width)
    check_memory(need, f"batch {batch} at seq_len {seq_len}", "lower batch or seq_len", MpsolveError)


def profile_latency(
    space: SearchSpace | str,
    seq_len: int = 128,
    batch: int = 1,
    threads: int | None = None,
    *,
    runtime: str = "torch",
    phase: str = "prefill",
    min_run_time: float = 0.2,
    progress: bool = True,
    seed: int = 0,
    statistic: str = "median",
    graph_dir: str | Path | None = None,
    calibrate: int = DEFAULT_CALIBRATION_DESIGNS,
    logits: str | None = None,
    fit_intercept: bool = True,
    lean: bool = False,
    int8: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Measure the latency of every component the architectures of ``space`` are made of.

    Args:
        space: a :class:`SearchSpace` or a preset name.
        seq_len: prompt length (``prefill``), or positions in the KV cache (``decode``).
        batch: sequences per forward.
        threads: intra-op threads of the runtime during the measurement (default: torch's
            current setting); torch's setting is restored afterwards. ONNX Runtime on more than
            one thread times in a spawned child process (a script calling this from its top level
            needs the ``if __name__ == "__main__":`` guard, as for any spawned process).
        runtime: ``"torch"`` or ``"onnxruntime"`` (each component exported with
            :func:`torch.onnx.export`, as :func:`mpsolve.merino_model.export_onnx` does).
        phase: ``"prefill"`` or ``"decode"`` (see the module docstring).
        min_run_time: seconds of timed calls per entry.
        progress: show a progress bar on stderr.
        seed: seed of the random weights and inputs.
        statistic: ``"median"`` of the timed blocks, or ``"min"`` on a machine shared with
            other work (the minimum estimates the undisturbed latency; preemptions inflate the median).
        graph_dir: ``onnxruntime`` only: a folder that keeps the exported component graphs, so a
            later profile of the same space and seed skips their exports, in either phase and at any
            ``seq_len``, ``batch`` and ``logits`` (a component's graph does not depend on them).
        calibrate: whole designs to time for the model-level terms (see the module docstring);
            0 (the default) skips the calibration, otherwise at least 3.
        logits: the positions whose logits the timed graph returns, ``"all"`` or ``"last"`` (as
            :func:`export_onnx`'s option); default: torch's ``"last"`` (``logits_to_keep=1``, the
            only one torch profiles) and ONNX Runtime's ``"all"`` (the export's default).
        fit_intercept: with ``calibrate``, fit the per-forward term ``ms`` as well as
            ``per_layer_ms``; ``False`` fits the per-layer term alone (``ms`` = 0), which a
            per-forward drift of the machine cannot bend.
        lean: ONNX Runtime: time the components as a graph exported with ``lean=True`` runs them, every
            session with prepacking off and the embedding gathering columns of the ``(D, vocab)`` table;
            the profile predicts lean sessions (:func:`design_latency` with ``lean=True``).
        int8: ONNX Runtime: time every component's dynamic INT8 (:func:`~mpsolve.merino_model.quantize_onnx`, as
            ``mpsolve export --int8`` writes a design's graph); the profile predicts INT8 sessions
            (:func:`design_latency` with ``int8=True``). Not with ``lean``.
        jobs: ONNX Runtime: export the components and the calibration's designs that ``graph_dir`` does not hold in
            this many spawned processes at once, before any timing (an export is seconds of one core's work; a
            script calling this from its top level needs the ``if __name__ == "__main__":`` guard). 1 (the default)
            exports them in this process.

    Returns:
        The profile, a JSON-serialisable dict (save it with ``json.dump``; see :class:`LatencyCost`).
        Every entry carries ``ms``, ``iqr_ms`` and ``noisy``; ``noisy_entries`` names the flagged ones.
    """
    require("torch", "torch")
    import torch
    from tqdm import tqdm

    space = get_space(space) if isinstance(space, str) else space
    for label, value in (("seq_len", seq_len), ("batch", batch)):
        check_integer(value, label)
    for label, value, known in (
        ("statistic", statistic, PROFILE_STATISTICS),
        ("runtime", runtime, PROFILE_RUNTIMES),
        ("phase", phase, PROFILE_PHASES),
    ):
        _check_choice(label, value, known)
    check_run_time(min_run_time)
    if threads is not None:
        check_threads(threads)
    if isinstance(calibrate, bool) or not isinstance(calibrate, int) or not (calibrate == 0 or
                                                                             3 <= calibrate <= _CALIBRATION_POOL):
        raise MpsolveError(f"calibrate must be 0 (no calibration) or 3 to {_CALIBRATION_POOL} designs (the sample "
                           f"it picks from), got {calibrate!r}")
    fit_intercept = check_bool(fit_intercept, "fit_intercept")
    progress = check_bool(progress, "progress")
    if not (fit_intercept or calibrate):  # it shapes the calibration's fit alone: ignored, silently
        raise MpsolveError("fit_intercept=False shapes the calibration, and calibrate is 0: give calibrate (3 or more "
                           "designs), or drop fit_intercept")
    logits = _profile_logits(runtime, logits)
    lean, int8 = _check_graph_options(lean, int8, runtime)
    jobs = check_integer(jobs, "jobs")
    if jobs > 1 and runtime != "onnxruntime":
        raise MpsolveError(f"jobs={jobs} exports the components, which torch does not: give it with "
                           "runtime='onnxruntime'")
    graph_dir = check_graph_dir(graph_dir)  # before the timing: an int was a TypeError, a file's name a FileExistsError
    limit = space.max_positions - (1 if phase == "decode" else 0)
    if seq_len > limit:
        raise MpsolveError(
            f"seq_len {seq_len} exceeds the space's max_positions {space.max_positions}"
            + (" less the decoded token" if phase == "decode" else "")
        )
    _check_workload(seq_len, batch, seed, phase, int(max(space.embed_dims)),
                    int(max(space.embed_dims) * max(space.ffn_ratios)))
    if runtime == "onnxruntime":
        require("onnxruntime", "onnx")
        require("onnxscript", "onnx")
    from mpsolve.merino_model._components import components as make_components

    all_logits = logits == "all" and phase == "prefill"
    components = make_components(space, seq_len, batch, phase, runtime == "onnxruntime", seed, all_logits)
    previous_threads = torch.get_num_threads()
    threads = previous_threads if threads is None else threads
    cold_bytes = 2 * _largest_cache_bytes()
    repeats = repeat_counts(space)
    # a component's graph depends on its weights (the seed's) and shapes, not on the workload: one for every phase,
    # length, batch and logits (their graphs were kept apart before, and static-shape graphs before those)
    key = f"s{seed}-v{space.vocab_size}-d{space.embed_proj_dim}-h{space.head_dim}-{space.activation}-component"
    # the embedding holds a table of max_positions rows: another space's was reused, and timed; a lean one gathers
    # columns (the layers' graphs are the same)
    names = {label: f"{key}{f'-p{space.max_positions}' if label == 'embedding' else ''}-{label}"
                    f"{'-lean' if lean and label == 'embedding' else ''}" for label in components}
    calibration = _calibration_designs(space, calibrate, seed)
    entries: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        kept, exported = graph_dir, set()
        if jobs > 1:  # the graphs pass through files: kept where asked, else in a folder of this profile's
            kept = kept or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mpsolve-components-")))
            exported = _export_graphs(components, names, [space.decode(x) for x in calibration], space.max_positions,
                                      kept, seed, logits, lean, jobs, progress)
        bar = stack.enter_context(tqdm(total=len(components) + calibrate, desc=f"profiling {runtime} {phase}",
                                       unit="shape", disable=not progress))
        stack.callback(torch.set_num_threads, previous_threads)
        torch.set_num_threads(threads)
        with _onnx_timer(threads) if runtime == "onnxruntime" else contextlib.nullcontext() as time_graph:
            overhead = None if time_graph is None else time_graph(*_call_overhead_job(), threads, min_run_time,
                                                                  statistic, lean)[0]
            for label, (module, inputs) in components.items():
                counts = repeats if label.startswith("layer ") else []
                # every application of a shared layer has its own input and cache, as in the model
                feeds = [inputs, *(tuple(t.clone() for t in inputs) for _ in range(max(counts, default=1) - 1))]
                tensors = [*module.state_dict().values(), *itertools.chain(*feeds)]
                size = sum(t.numel() * t.element_size() for t in tensors)
                copies = max(1, min(_MAX_COPIES, -(-cold_bytes // size)))
                if time_graph is None:
                    calls = _torch_calls(module, feeds, copies)  # ordinary tensors, as the first copy's
                    with torch.inference_mode():
                        warm, cold, *runs = _time_copies(calls, counts, threads, min_run_time, statistic)
                else:
                    graph = _component_graph(module, feeds[0], space.max_positions, names[label], kept,
                                             lean and label == "embedding", int8,
                                             kept is not None and _component_path(kept, names[label]) in exported)
                    arrays = [tuple(t.numpy() for t in x) for x in feeds]
                    warm, cold, *runs = time_graph(graph, arrays, copies, counts, threads, min_run_time, statistic,
                                                   lean)
                if overhead is not None and label != "embedding":  # a whole model pays one call
                    for n, timing in zip([1, 1, *counts], (warm, cold, *runs)):
                        timing["ms"] = max(0.0, timing["ms"] - n * overhead["ms"])
                entries[label] = {
                    "positions": int(inputs[0].shape[1]),
                    "ms": cold["ms"],
                    "iqr_ms": cold["iqr_ms"],
                    "warm_ms": warm["ms"],
                    "warm_iqr_ms": warm["iqr_ms"],
                    "noisy": any(t["noisy"] for t in (cold, warm, *runs)),
                }
                if counts:
                    entries[label]["repeated"] = {"applications": counts, "ms": [t["ms"] for t in runs],
                                                  "iqr_ms": [t["iqr_ms"] for t in runs]}
                bar.update()
        settings = {"runtime": runtime, "phase": phase, "threads": threads, "seq_len": seq_len, "batch": batch,
                    "min_run_time": min_run_time, "statistic": statistic, "cold_bytes": cold_bytes, "logits": logits,
                    "lean": lean, "int8": int8}
        profile = _assemble(space, entries, overhead, settings)
        if calibrate:
            profile["calibration"] = _calibrate(space, profile, calibration, seed, kept, bar.update, fit_intercept,
                                                exported)
    return profile


def _check_graph_options(lean: Any, int8: Any, runtime: str) -> tuple[bool, bool]:
    """``lean`` and ``int8`` as ``bool``s, each given with ONNX Runtime only and not both; else a one-line
    :class:`ModelInputError`."""
    flags = {"lean": check_bool(lean, "lean", ModelInputError), "int8": check_bool(int8, "int8", ModelInputError)}
    for name, given in flags.items():
        if given and runtime != "onnxruntime":
            raise ModelInputError(f"{name} is the exported graph's: give it with runtime='onnxruntime'")
    if all(flags.values()):
        raise ModelInputError("lean and int8 together are not timed (a lean graph's INT8 shares the head's weights "
                              "with the embedding): give one of them")
    return flags["lean"], flags["int8"]


def _profile_logits(runtime: str, logits: str | None) -> str:
    """The ``logits`` a profile times: the runtime's default, or a choice it supports."""
    choices = ("last",) if runtime == "torch" else ("all", "last")
    if logits is None:
        return choices[0]
    if logits not in choices:
        raise MpsolveError(f"logits must be one of {', '.join(choices)} for {runtime}, got {logits!r}"
                           + (" (torch profiles keep the last position's logits, as generate does)"
                              if runtime == "torch" else ""))
    return logits


def model_latency(
    model: Any,
    seq_len: int = 128,
    threads: int | None = None,
    *,
    phase: str = "prefill",
    min_run_time: float = 0.2,
    statistic: str = "median",
    seed: int = 0,
    batch: int = 1,
) -> dict[str, Any]:
    """Time a whole model on the workload of :func:`profile_latency`.

    Args:
        model: a :class:`~mpsolve.merino_model.MeRinoForCausalLM` (timed in torch), or the
            path of its KV-cache ONNX graph (``export_onnx(..., kv_cache=True)``; timed in ONNX Runtime).
        seq_len: prompt length (``prefill``), or positions in the KV cache (``decode``).
        threads: intra-op threads (default: torch's current setting).
        phase: ``"prefill"`` or ``"decode"``.
        min_run_time, statistic: as in :func:`profile_latency`.
        seed: seed of the prompt.
        batch: sequences per forward.

    Returns:
        ``ms``, ``iqr_ms``, ``blocks`` and ``noisy`` (see :func:`time_call`).
    """
    require("torch", "torch")
    import numpy as np
    import torch

    _check_choice("phase", phase, PROFILE_PHASES)
    _check_choice("statistic", statistic, PROFILE_STATISTICS)
    check_run_time(min_run_time)
    check_integer(seq_len, "seq_len")
    check_integer(batch, "batch")
    threads = torch.get_num_threads() if threads is None else check_threads(threads)
    previous = torch.get_num_threads()
    if isinstance(model, torch.nn.Module):
        blocks = model.architecture.blocks
        _check_workload(seq_len, batch, seed, phase, max(b.embed_dim for b in blocks), max(b.ffn_dim for b in blocks))
        vocab = model.architecture.vocab_size
    else:
        _check_workload(seq_len, batch, seed, phase, 0, 0)
        from mpsolve.merino_model._onnx import _lm_session, _max_positions, _past_inputs, _run, _vocab

        session = onnx_session(model, threads)
        if not _past_inputs(session):
            _lm_session(session)  # another graph was called a prefill graph
            raise MpsolveError(f"{str(model)!r} is a prefill graph: time the KV-cache one (export_onnx kv_cache=True)")
        limit = _max_positions(session)  # beyond it ONNX Runtime's error named a Gather node's indices
        if limit is not None and seq_len + (phase == "decode") > limit:
            raise MpsolveError(f"seq_len {seq_len} exceeds the graph's max_positions {limit}"
                               + (" less the decoded token" if phase == "decode" else "") + ": give a smaller seq_len")
        vocab = _vocab(session)
        if vocab is None:
            raise MpsolveError(f"{str(model)!r} leaves its vocabulary size symbolic: export it with a fixed one "
                               "(export_onnx or mpsolve export)")
        _lm_session(session)  # cache inputs of the shape _run feeds
    ids = torch.randint(0, vocab, (batch, seq_len + 1), generator=torch.Generator().manual_seed(seed))
    prompt, token = ids[:, :seq_len], ids[:, seq_len:]
    try:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            if isinstance(model, torch.nn.Module):
                if phase == "prefill":
                    return time_call(lambda: model(prompt, logits_to_keep=1), threads, min_run_time, statistic)
                cache = model(prompt, use_cache=True).past_key_values
                keys, values = list(cache.keys), list(cache.values)

                def step() -> None:
                    cache.keys, cache.values = list(keys), list(values)  # back to seq_len cached positions
                    model(token, past_key_values=cache, use_cache=True, logits_to_keep=1)

                return time_call(step, threads, min_run_time, statistic)
            prompt_np, token_np = prompt.numpy(), token.numpy()
            if phase == "prefill":
                return time_call(lambda: _run(session, prompt_np, None), threads, min_run_time, statistic)
            past = [np.ascontiguousarray(p) for p in _run(session, prompt_np, None)[1]]
            return time_call(lambda: _run(session, token_np, past), threads, min_run_time, statistic)
    finally:
        torch.set_num_threads(previous)


def design_latency(
    architecture: Architecture | str | Path,
    seq_len: int = 128,
    threads: int | None = None,
    *,
    runtime: str = "torch",
    phase: str = "prefill",
    min_run_time: float = 0.2,
    statistic: str = "median",
    seed: int = 0,
    batch: int = 1,
    logits: str | None = None,
    graph_dir: str | Path | None = None,
    lean: bool = False,
    int8: bool = False,
) -> dict[str, Any]:
    """Time a design, built with random weights, on the workload of :func:`profile_latency`: the
    whole-model measurement a prediction of the profile's latency cost is checked against.

    Args:
        architecture: an :class:`~mpsolve.spaces.Architecture`, a preset name or a JSON file.
        runtime: ``torch``, or ``onnxruntime`` on the design's exported KV-cache graph.
        logits: ONNX Runtime: the graph's logits, ``all`` (default) or ``last``, as in the profile.
        graph_dir: ONNX Runtime: keep the exported graph here (named by the architecture's
            digest) and reuse it when present; default: a temporary folder.
        lean: ONNX Runtime: the graph exported with ``lean=True``, in a session with prepacking off
            (:func:`onnx_session`), as it holds its tied table once.
        int8: ONNX Runtime: the graph's dynamic INT8 (:func:`~mpsolve.merino_model.quantize_onnx`, kept beside the
            graph in ``graph_dir``). Not with ``lean``.
        seq_len, threads, phase, min_run_time, statistic, seed, batch: as in :func:`model_latency`.

    Returns:
        ``ms``, ``iqr_ms``, ``blocks`` and ``noisy`` (see :func:`time_call`).
    """
    from mpsolve.merino_model._model import build

    for label, value, known in (("runtime", runtime, PROFILE_RUNTIMES), ("phase", phase, PROFILE_PHASES),
                                ("statistic", statistic, PROFILE_STATISTICS)):
        _check_choice(label, value, known)
    check_run_time(min_run_time)  # before the export
    logits = _profile_logits(runtime, logits)
    lean, int8 = _check_graph_options(lean, int8, runtime)
    arch = resolve_architecture(architecture)
    timing = {"phase": phase, "min_run_time": min_run_time, "statistic": statistic, "seed": seed, "batch": batch}
    if runtime == "torch":
        return model_latency(build(arch, seed=seed).eval(), seq_len, threads, **timing)
    require("onnxruntime", "onnx")
    folder = check_graph_dir(graph_dir)
    with tempfile.TemporaryDirectory() as tmp:
        graph = design_graph(arch, seed, logits, folder or Path(tmp), lean=lean)
        if int8:
            graph = _quantized(graph)
        return model_latency(graph, seq_len, threads, **timing)


def _quantized(graph: Path) -> Path:
    """The dynamic INT8 of an exported graph (:func:`quantize_onnx`), kept beside it and reused when there."""
    from mpsolve.merino_model._onnx import quantize_onnx

    out = graph.with_name(f"{graph.stem}-int8.onnx")
    if out.is_file():
        _check_kept_graph(out, out, "INT8 graph", "it is quantised again")
    else:
        partial = graph.with_name(f"{graph.stem}-int8-partial.onnx")  # an interrupted run leaves no graph to reuse
        with _quiet_export():  # ORT's quantization tools warn of every shape they cannot infer
            quantize_onnx(graph, partial)
        os.replace(partial, out)
    return out


def check_graph_dir(graph_dir: Any, name: str = "graph_dir") -> Path | None:
    """``graph_dir`` as a ``Path`` (``None`` kept) when it names a folder or nothing yet; else a one-line
    :class:`ModelInputError` naming it ``name`` (before: a ``TypeError`` of an ``int``, or a file's name said of the
    graph's path)."""
    if graph_dir is None:
        return None
    if not isinstance(graph_dir, (str, os.PathLike)):
        raise ModelInputError(f"{name} must be a folder's path or None, got {type(graph_dir).__name__}")
    if isinstance(graph_dir, str) and not graph_dir.strip():  # Path('') is the current folder: graphs left there
        raise ModelInputError(f"{name} is empty: give a folder's path, or None for a temporary one")
    folder = Path(graph_dir)
    if folder.exists() and not folder.is_dir():
        raise ModelInputError(f"{name} {str(folder)!r} is not a folder: give a folder (created when missing)")
    return folder


def design_graph(
    arch: Architecture, seed: int, logits: str, folder: Path, opset: int | None = None, external_data: bool = True,
    lean: bool = False,
) -> Path:
    """The KV-cache graph of ``arch`` built with random weights of ``seed`` (:func:`export_onnx`), kept in
    ``folder`` under the architecture's digest and reused when there. ``external_data=False``: one file
    (as ``mpsolve export`` writes below 2 GB), where ONNX Runtime reads the weights into its own memory
    instead of mapping the weights' file. ``lean``: exported with ``lean=True``."""
    from mpsolve.merino_model._model import build
    from mpsolve.merino_model._onnx import DEFAULT_OPSET, export_onnx

    opset = DEFAULT_OPSET if opset is None else opset
    graph = _design_path(arch, seed, logits, folder, opset, external_data, lean)
    if graph.is_file():
        _check_kept_graph(graph, graph, "design graph", "it is exported again")
    else:
        with _quiet_export():
            export_onnx(build(arch, seed=seed), graph, kv_cache=True, external_data=external_data, logits=logits,
                        opset=opset, lean=lean)
    return graph


def _design_path(arch: Architecture, seed: int, logits: str, folder: Path, opset: int | None = None,
                 external_data: bool = True, lean: bool = False) -> Path:
    """Where :func:`design_graph` keeps the graph of ``arch`` in ``folder``."""
    from mpsolve.merino_model._onnx import DEFAULT_OPSET

    # the defaults' name as before
    other = ("" if opset in (None, DEFAULT_OPSET) else f"-op{opset}") + ("" if external_data else "-whole") + (
        "-lean" if lean else "")
    return folder / f"design-{arch.digest()}-s{seed}-{logits}{other}.onnx"


# -- the runtimes --------------------------------------------------------------------------------
def repeat_counts(space: SearchSpace) -> list[int]:
    """The numbers of consecutive applications of a shared layer a profile of ``space`` times: its
    depths from 2 to :data:`MAX_TIMED_APPLICATIONS` (that many where it has deeper ones); none when
    the layers are not shared (every application is a layer of its own)."""
    if not space.shared or max(space.layers) < 2:
        return []
    counts = {n for n in space.layers if 2 <= n <= MAX_TIMED_APPLICATIONS}
    if max(space.layers) > MAX_TIMED_APPLICATIONS:
        counts.add(MAX_TIMED_APPLICATIONS)
    return sorted(int(n) for n in counts)


def _run_next(cycle: Iterator[list[Callable[[], Any]]], n: int) -> None:
    """The first ``n`` calls of the next copy: ``n`` consecutive applications of one layer."""
    for call in next(cycle)[:n]:
        call()


def _time_copies(
    calls: list[list[Callable[[], Any]]], counts: list[int] | None, threads: int, min_run_time: float, statistic: str
) -> list[dict[str, Any]]:
    """The timings of a component's copies (:func:`time_call`): warm (the first copy's first call), cold (one
    call per copy in rotation), then ``n`` consecutive calls per copy for each ``n`` of ``counts``; with
    ``counts`` ``None``, the warm timing alone."""
    warm = time_call(calls[0][0], threads, min_run_time, statistic)
    if counts is None:
        return [warm]
    return [warm, *(time_call(functools.partial(_run_next, itertools.cycle(calls), n), threads, min_run_time,
                              statistic) for n in [1, *counts])]


def _torch_calls(module: Any, feeds: list[tuple[Any, ...]], copies: int) -> list[list[Callable[[], Any]]]:
    """``copies`` lists of calls of ``module``: each copy has its own weights, and one call per
    input of ``feeds``, each on its own copy of that input."""
    import copy

    calls = []
    for i in range(copies):
        m = module if i == 0 else copy.deepcopy(module)
        xs = feeds if i == 0 else [tuple(t.clone() for t in x) for x in feeds]
        calls.append([lambda m=m, x=x: m(*x) for x in xs])
    return calls


def _component_graph(
    module: Any, inputs: tuple[Any, ...], max_positions: int, name: str, graph_dir: str | Path | None,
    lean_table: bool = False, int8: bool = False, fresh: bool = False,
) -> bytes:
    """The exported graph of ``module`` (:func:`_export_component`), its dynamic INT8 with ``int8``; with
    ``graph_dir`` kept there as ``<name>.onnx`` (``<name>-int8.onnx``) and reused when present (an INT8 graph
    quantises the kept fp32 one). ``fresh``: the fp32 graph there was just exported by :func:`_export_graphs`,
    so it is not checked as a graph kept by an earlier run is."""
    path = _component_path(graph_dir, name) if graph_dir is not None else None
    if int8:
        quantized = None if path is None else path.with_name(f"{path.stem}-int8.onnx")
        if quantized is not None and quantized.is_file():
            graph = quantized.read_bytes()
            _check_kept_graph(graph, quantized, "component graph", "the profile exports it again")
            return graph
        graph = _quantize_component(_component_graph(module, inputs, max_positions, name, graph_dir, lean_table,
                                                     fresh=fresh))
        if quantized is not None:
            atomic_write(quantized, graph)
        return graph
    if path is not None and path.is_file():
        graph = path.read_bytes()
        if not fresh:
            _check_kept_graph(graph, path, "component graph", "the profile exports it again")
        return graph
    graph = _export_component(module, inputs, max_positions, lean_table)
    if path is not None:
        atomic_write(path, graph)
    return graph


def _component_path(graph_dir: str | Path, name: str) -> Path:
    """Where ``graph_dir`` keeps the component graph named ``name``."""
    return Path(graph_dir) / f"{name.replace(' ', '_').replace('>', '')}.onnx"


def _export_graphs(
    components: dict[str, tuple[Any, tuple[Any, ...]]], names: dict[str, str], designs: list[Architecture],
    max_positions: int, graph_dir: Path, seed: int, logits: str, lean: bool, jobs: int, progress: bool,
) -> set[Path]:
    """Export the graphs ``graph_dir`` does not hold into it, in up to ``jobs`` spawned processes at once: the
    ``components``' (:func:`_export_component`, as :func:`_component_graph` exports one) and the calibration's
    ``designs``' (:func:`design_graph`; first, as the longest); the paths exported."""
    import concurrent.futures
    import multiprocessing

    from tqdm import tqdm

    todo: dict[Path, tuple[Callable[..., None], tuple[Any, ...]]] = {}
    for arch in designs:  # a small space's sample may hold a design twice: one export
        path = _design_path(arch, seed, logits, graph_dir, lean=lean)
        todo[path] = (_export_design_file, (arch, seed, logits, str(graph_dir), lean))
    for label, (module, inputs) in components.items():
        path = _component_path(graph_dir, names[label])
        todo[path] = (_export_component_file, (str(path), module, inputs, max_positions, lean and label == "embedding"))
    todo = {path: job for path, job in todo.items() if not path.is_file()}
    if len(todo) < 2:  # nothing to share out: the profile exports it
        return set()
    if multiprocessing.current_process().daemon:
        raise MpsolveError(f"jobs={jobs} exports in processes of their own, which a daemonic process (a "
                           "multiprocessing.Pool worker) cannot start: give jobs=1, or profile from the main process")
    context = multiprocessing.get_context("spawn")  # a fresh process: no threads forked mid-work
    with children_ignore_ctrl_c():  # a Ctrl-C stops this process, which stops the exports; submit starts the workers
        pool = concurrent.futures.ProcessPoolExecutor(min(jobs, len(todo)), mp_context=context,
                                                      initializer=pool_worker)
        futures = [pool.submit(job, *args) for job, args in todo.values()]
    try:
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures), desc="exporting graphs",
                           unit="graph", disable=not progress):
            future.result()
    except BaseException as error:
        stop_pool(pool, futures)  # the running exports end and are kept: a Ctrl-C loses none
        if isinstance(error, concurrent.futures.process.BrokenProcessPool):
            raise MpsolveError("a process exporting the graphs ended: out of memory, or a script that starts work at "
                               "import (a spawned process imports the main script: guard its top level with if "
                               "__name__ == '__main__'); or give jobs=1") from None
        raise
    close_pool(pool)
    return set(todo)


def _export_component_file(path: str, module: Any, inputs: tuple[Any, ...], max_positions: int,
                           lean_table: bool) -> None:
    """A job of :func:`_export_graphs`: :func:`_export_component` written to ``path``."""
    import torch

    torch.set_num_threads(1)  # the exports share the cores
    atomic_write(path, _export_component(module, inputs, max_positions, lean_table))


def _export_design_file(arch: Architecture, seed: int, logits: str, folder: str, lean: bool) -> None:
    """A job of :func:`_export_graphs`: :func:`design_graph` of ``arch`` in ``folder``."""
    import torch

    torch.set_num_threads(1)
    design_graph(arch, seed, logits, Path(folder), lean=lean)


def _check_kept_graph(graph: bytes | Path, path: Path, what: str, again: str) -> None:
    """Refuse a graph kept in ``graph_dir`` (``graph``: its bytes, or its file, whose weights may lie beside it) that
    ONNX Runtime cannot load, naming the file and the way out (a damaged component graph was a traceback on one
    thread, an error naming no file on more; a design graph's error said no way out). ``what`` names the graph,
    ``again`` says what follows its deletion."""
    import onnxruntime as ort

    from mpsolve.merino_model._onnx import _session_options, check_graph

    check_graph(path, f"delete it, and {again}")  # no loop to time, no weights read from elsewhere
    try:  # one thread: no thread pool to start
        ort.InferenceSession(graph if isinstance(graph, bytes) else str(graph), _session_options(1),
                             providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's load errors (InvalidProtobuf, Fail, ...) subclass Exception only
        if not type(exc).__module__.startswith("onnxruntime"):
            raise
        raise MpsolveError(f"ONNX Runtime cannot load the {what} kept in {str(path)!r} ("
                           f"{first_line(exc, 150)}): delete it, and {again}") from None


def _time_graph(
    graph: bytes,
    feeds: list[tuple[Any, ...]],
    copies: int,
    counts: list[int] | None,
    threads: int,
    min_run_time: float,
    statistic: str,
    lean: bool = False,
    shared_pool: bool = False,
) -> list[dict[str, Any]]:
    """:func:`_time_copies` of ``copies`` sessions of ``graph`` (own weights each), with one call per
    input of ``feeds`` (numpy arrays), each on its own copy of that input; ``lean``: prepacking off, as in
    a lean graph's session; ``shared_pool``: the sessions run on the process-wide thread pool (see
    :func:`_onnx_timer`)."""
    import onnxruntime as ort

    from mpsolve.merino_model._onnx import _session_options

    options = _session_options(None if shared_pool else threads, lean=lean)  # sequential execution, as every one
    if shared_pool:  # the pool's size is the process's
        options.use_per_session_threads = False
    calls = []
    for _ in range(copies):
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        copied = [{n: x.copy() for n, x in zip(names, feed)} for feed in feeds]
        calls.append([lambda session=session, feed=feed: session.run(None, feed) for feed in copied])
    return _time_copies(calls, counts, threads, min_run_time, statistic)


@contextlib.contextmanager
def _onnx_timer(threads: int) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """:func:`_time_graph`, run where the rotating sessions cannot slow each other down.

    On one thread a session has no thread pool: in this process. On more, each session would own a pool
    whose threads spin after a run, on the cores the next session needs (a profile taken so overestimated
    whole designs by 76-100 %: ``benchmarks/results/latency_threads2_s14.md``, ``_s15.md``, and
    ``latency_threads2_explore/``): in a child process whose sessions share one process-wide pool of
    ``threads`` intra-op threads, which ONNX Runtime lets a process set only before its first session.
    """
    if threads == 1:
        yield _time_graph
        return
    import multiprocessing
    from multiprocessing.connection import wait

    if multiprocessing.current_process().daemon:
        raise MpsolveError(f"an ONNX Runtime profile on {threads} threads times in a process of its own, which a "
                           "daemonic process (a multiprocessing.Pool worker) cannot start: profile from the main "
                           "process or a concurrent.futures.ProcessPoolExecutor worker")
    context = multiprocessing.get_context("spawn")  # a fresh process: no session of this one, no forked threads
    here, there = context.Pipe()
    child = context.Process(target=_serve_timings, args=(there, threads))
    with children_ignore_ctrl_c():  # a Ctrl-C stops this process, which stops the child
        child.start()
    there.close()

    def time_graph(*job: Any) -> list[dict[str, Any]]:
        with contextlib.suppress(OSError):  # a child that ended closed the pipe: said below
            here.send(job)
        try:
            if here not in wait([here, child.sentinel]):
                raise EOFError
            ok, value = here.recv()
        except (EOFError, OSError):  # the child ended before it answered (a job it left unread resets the socket)
            child.join(5)
            raise MpsolveError(f"the process timing the ONNX Runtime components ended (exit status {child.exitcode}): "
                               "out of memory, or a script that starts work at import (a spawned process imports "
                               "the main script: guard its top level with if __name__ == '__main__')") from None
        if not ok:
            raise MpsolveError(f"timing an ONNX Runtime component failed: {value}")
        return value

    try:
        yield time_graph
    finally:
        child.kill()
        child.join()
        here.close()


def _serve_timings(connection: Any, threads: int) -> None:
    """The child of :func:`_onnx_timer`: one process-wide pool of ``threads`` threads, then
    :func:`_time_graph` of every job received until the parent closes the pipe. It ends with its
    parent (:func:`end_with_parent`)."""
    import onnxruntime as ort

    end_with_parent()
    ort.set_global_thread_pool_sizes(threads, 1)  # before the first session of this process
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        try:
            reply = (True, _time_graph(*job, shared_pool=True))
        except Exception as exc:  # the parent raises it, in one line
            reply = (False, f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}")
        try:
            connection.send(reply)
        except OSError:  # the parent has gone
            return


def _calibrate(
    space: SearchSpace,
    profile: dict[str, Any],
    X: Any,
    seed: int,
    graph_dir: Path | None,
    done: Callable[[], Any],
    fit_intercept: bool = True,
    exported: Collection[Path] = (),
) -> dict[str, Any]:
    """Time the whole designs encoded in ``X`` (:func:`_calibration_designs`) and fit ``measured - components = ms +
    per_layer_ms * applications`` (``ms`` = 0 without ``fit_intercept``); a graph of ``exported``, just written by
    :func:`_export_graphs`, is timed without the check of a graph kept by an earlier run."""
    import numpy as np
    from scipy.optimize import lsq_linear

    from mpsolve.costs import latency_cost

    n = len(X)
    batch = space.decode_batch(X)
    applications = batch.layers.sum(axis=1).astype(float)
    cost = latency_cost(profile)
    predicted = cost.evaluate(batch, space)
    workload = {k: profile[k] for k in ("seq_len", "threads", "phase", "min_run_time", "statistic", "batch")}
    graph_options = {k: profile[k] for k in ("runtime", "logits", "lean", "int8")}
    measured, architectures = [], []
    for x in X:
        arch = space.decode(x)
        graph = None if graph_dir is None else _design_path(arch, seed, profile["logits"], graph_dir,
                                                            lean=profile["lean"])
        if graph in exported:  # design_latency's timing of it, without the check
            result = model_latency(_quantized(graph) if profile["int8"] else graph, seed=seed, **workload)
        else:
            result = design_latency(arch, seed=seed, graph_dir=graph_dir, **workload, **graph_options)
        measured.append(result["ms"])
        architectures.append(str(arch))
        done()
    residual = np.asarray(measured) - predicted
    # bounded least squares: the terms may take back less than the embeddings and head, and less
    # than the fastest layer timing (a whole model small enough to stay in the CPU cache runs its
    # layers faster than their cold timings), so no design's latency goes negative
    fastest = cost.fastest_application_ms
    lower = [-(1 - _BOUND_MARGIN) * (profile["embedding_ms"] + profile["head_ms"]), -(1 - _BOUND_MARGIN) * fastest]
    if fit_intercept:
        columns = [np.ones(n), *([applications] if np.ptp(applications) else [])]  # one depth only: a constant
        terms = lsq_linear(np.stack(columns, axis=1), residual, bounds=(lower[: len(columns)], np.inf)).x
        fit = {"ms": float(terms[0]), "per_layer_ms": float(terms[1]) if len(terms) > 1 else 0.0}
    else:
        slope = lsq_linear(applications[:, None], residual, bounds=(lower[1:], np.inf)).x
        fit = {"ms": 0.0, "per_layer_ms": float(slope[0])}
    return {
        "designs": architectures,
        "encodings": X.tolist(),
        "applications": applications.tolist(),
        "components_ms": predicted.tolist(),
        "measured_ms": measured,
        "fit_intercept": fit_intercept,
        **fit,
    }


def _calibration_designs(space: SearchSpace, n: int, seed: int) -> Any:
    """The encodings of the ``n`` designs a calibration times (none for 0): spread over the depths of a sample."""
    import numpy as np

    if not n:
        return np.empty((0, space.n_var), dtype=int)
    # a stream of its own: designs a check of the profile samples with `seed` are not fitted on
    pool = space.sample(_CALIBRATION_POOL, np.random.default_rng([seed, 1]))
    depth = space.decode_batch(pool).layers.sum(axis=1)
    order = np.argsort(depth, kind="stable")
    return pool[order[np.linspace(0, len(order) - 1, n).round().astype(int)]]


def _largest_cache_bytes() -> int:
    """The largest CPU cache of this machine (from sysfs; 32 MiB where it cannot be read)."""
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = entry.read_text().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=32 << 20)


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the ONNX exporter's warnings and log lines (one per operator it cannot translate)."""
    import logging
    import warnings

    from mpsolve.merino_model._onnx import _quiet_loggers

    with warnings.catch_warnings(), _quiet_loggers({"torch.onnx": logging.ERROR}):
        warnings.simplefilter("ignore")
        yield


def _export_component(module: Any, inputs: tuple[Any, ...], max_positions: int, lean_table: bool = False) -> bytes:
    """The serialised ONNX graph of ``module`` for inputs like ``inputs`` (the exporter of ``export_onnx``), with
    its dynamic axes: ONNX Runtime then runs the kernels it runs in a design's graph (static shapes would let it
    fuse what a design's graph cannot: a Gemm for MatMul + Add, the keys' transpose into the product). A bool
    input is a mask ``(new, all positions)``, a 4-d one a KV cache ``(batch, heads, cached, head_dim)``, any other
    ``(batch, new, ...)``; the example inputs have at least two of each, which ``torch.export`` keeps dynamic.
    ``lean_table``: the embedding's table stored as a lean graph stores it, ``(D, vocab)``, its columns gathered."""
    import torch

    from mpsolve.merino_model._onnx import _export_dims

    batch, seq, past, total = _export_dims(max(max_positions, 5))  # room for the examples
    examples, axes = [], []
    for x in inputs:
        if x.dtype == torch.bool:
            examples.append(torch.arange(5)[None, :] <= torch.arange(2, 5)[:, None])  # causal: 3 new, 2 cached
            axes.append({0: seq, 1: total})
        elif x.dim() == 4:
            examples.append(torch.zeros(2, x.shape[1], 2, x.shape[3], dtype=x.dtype))
            axes.append({0: batch, 2: past})
        else:
            examples.append(torch.zeros(2, 3, *x.shape[2:], dtype=x.dtype))
            axes.append({0: batch, 1: seq})
    with torch.no_grad(), _quiet_export():
        program = torch.onnx.export(module, tuple(examples), dynamo=True, dynamic_shapes=tuple(axes), verbose=False)
    if lean_table:
        from mpsolve.merino_model._onnx import _store_table_transposed

        try:
            _store_table_transposed(program.model, "ids", tied=False)
        except ModelInputError:  # the exporter changed how it writes the embedding: its way out is the export's
            raise MpsolveError("the exported embedding has no table read by one lookup, so it cannot be profiled as "
                               "a lean graph runs it: profile without lean") from None
    return program.model_proto.SerializeToString()


def _quantize_component(graph: bytes) -> bytes:
    """The dynamic INT8 of a component's graph, as :func:`quantize_onnx` makes a design's."""
    from mpsolve.merino_model._onnx import _quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp, _quiet_export():
        source, out = Path(tmp) / "component.onnx", Path(tmp) / "component-int8.onnx"
        source.write_bytes(graph)
        _quantize_dynamic(source, out, symbolic=False)
        return out.read_bytes()


@functools.cache  # the same graph for every profile
def _call_overhead_job() -> tuple[bytes, list[tuple[Any, ...]], int, None]:
    """The graph, feeds, copies and counts of :func:`_time_graph` on a one-``Add`` graph: its warm
    timing (the only one: no counts) is what every extra ``session.run`` call costs. The graph is written
    with ``onnx.helper``: torch's exporter took seconds for it (a process whose components were all kept paid
    for loading the exporter for this graph alone)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    one = numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")  # a scalar, as torch's exporter writes it
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])], "increment",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq"])], [one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    return model.SerializeToString(), [(np.zeros((1, 1), dtype=np.float32),)], 1, None


# -- the profile -----------------------------------------------------------------------------------
def _assemble(
    space: SearchSpace, entries: dict[str, dict[str, Any]], overhead: dict[str, Any] | None, settings: dict[str, Any]
) -> dict[str, Any]:
    import torch

    def stats(label: str) -> dict[str, Any]:
        e = entries[label]
        keys = ("positions", "ms", "iqr_ms", "warm_ms", "warm_iqr_ms", "repeated", "noisy")
        return {k: e[k] for k in keys if k in e}

    layers, projections = [], []
    for label in entries:
        kind, _, shape = label.partition(" ")
        if kind == "layer":
            e, f = map(int, shape.split("x"))
            layers.append({"embed_dim": e, "ffn_dim": f, **stats(label)})
        elif kind in ("input", "output"):
            a, b = map(int, shape.split("->"))
            projections.append({"kind": kind, "in_dim": a, "out_dim": b, **stats(label)})
    runtime, phase = settings["runtime"], settings["phase"]
    profile: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "runtime": runtime,
        "phase": phase,
        "workload": _WORKLOADS[phase].format("every" if settings["logits"] == "all" else "the last")
        + (_LEAN if settings["lean"] else "") + (_INT8 if settings["int8"] else ""),
        "device": device_info(),
        "torch": torch.__version__,
    }
    if runtime == "onnxruntime":
        import onnxruntime

        profile["onnxruntime"] = onnxruntime.__version__
    profile.update(
        threads=settings["threads"],
        logits=settings["logits"],
        lean=settings["lean"],
        int8=settings["int8"],
        seq_len=settings["seq_len"],
        batch=settings["batch"],
        timer="torch.utils.benchmark.Timer.blocked_autorange",
        min_run_time=settings["min_run_time"],
        cold_bytes=settings["cold_bytes"],
        statistic=settings["statistic"],
        noise_threshold=NOISE_THRESHOLD,
        noisy_entries=[label for label, e in entries.items() if e["noisy"]],
        space=space.to_dict(),
        constants={name: getattr(space, name) for name in PROFILE_CONSTANTS},
        embedding_ms=entries["embedding"]["ms"],
        embedding_iqr_ms=entries["embedding"]["iqr_ms"],
        head_ms=entries["head"]["ms"],
        head_iqr_ms=entries["head"]["iqr_ms"],
        head_positions=entries["head"]["positions"],
        layers=layers,
        projections=projections,
    )
    if overhead is not None:
        profile["call_overhead_ms"] = overhead["ms"]
    return profile


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
