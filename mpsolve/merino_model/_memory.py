"""Measured peak inference memory of a design: what :class:`~mpsolve.costs.MemoryCost` predicts.

The design is built with random weights in a fresh process (its memory is its own), and a prefill of
``seq_len`` tokens fills the KV cache (a batch of prompts, by default one; one thread, fp32, the last
position's logits), in torch or in ONNX Runtime (its exported KV-cache graph). Resident memory is read from
Linux's ``/proc/self/status``: ``tracemalloc`` would miss torch's and ONNX Runtime's allocations.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import tempfile
from pathlib import Path
from typing import Any

from mpsolve.costs import MemoryCost, ParamsCost
from mpsolve.merino_model._errors import ModelInputError, require
from mpsolve.merino_model._generation import torch_seed
from mpsolve.spaces import Architecture, resolve_architecture
from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.memory import check_memory
from mpsolve.utils.signals import children_ignore_ctrl_c, close_pool, pool_worker, stop_pool
from mpsolve.utils.validation import check_bool, check_integer

__all__ = ["MAX_MMAP_THRESHOLD", "RUNTIMES", "design_memory", "reset_peak_memory", "resident_memory"]

_STATUS = Path("/proc/self/status")
#: where :func:`design_memory` measures
RUNTIMES = ("torch", "onnxruntime")
#: the largest graph ONNX writes as one file (protobuf's 2 GB limit, less a margin for the graph itself)
_PROTOBUF_LIMIT = 2**31 - 2**26
#: the largest mmap threshold glibc documents on 64-bit systems (``mallopt(3)``; glibc 2.36 takes more, and
#: an older one ignores a larger ``MALLOC_MMAP_THRESHOLD_`` without a word)
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024


def resident_memory() -> dict[str, int]:
    """This process's resident set now (``VmRSS``), its peak (``VmHWM``) and its anonymous part
    (``RssAnon``), in bytes (Linux)."""
    fields = dict(line.split(":", 1) for line in _STATUS.read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM", "RssAnon")}


def reset_peak_memory() -> None:
    """Collect garbage, hand freed heap back to the OS and restart the peak (``VmHWM``) at the current size."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: freed heap may stay resident
        pass
    Path("/proc/self/clear_refs").write_text("5")


def design_memory(
    architecture: Architecture | str | Any,
    seq_len: int = 1024,
    *,
    batch_size: int = 1,
    padded: bool = False,
    seed: int = 0,
    mmap_threshold: int | None = None,
    runtime: str = "torch",
    opset: int | None = None,
    graph_dir: str | Path | None = None,
    lean: bool = False,
) -> dict[str, int]:
    """Measure a design's inference memory in a fresh process, in bytes over that process's baseline.

    ``runtime="onnxruntime"`` measures the design's KV-cache graph (:func:`export_onnx` with
    ``kv_cache=True, logits="last"`` and ``opset``, default its own) in an ONNX Runtime session
    instead (one thread, its default arena). ONNX Runtime runs the graph's attention as the
    exporter wrote it: up to opset 22 as separate products, softmax and masking, whose
    ``seq_len x seq_len`` tensors per head the cost does not count (it counts torch's fused
    attention); opset 23 writes one ``Attention`` node. ``graph_dir`` keeps the exported graph (named by
    the architecture's digest, seed and opset) and reuses it when there, as :func:`design_latency` does.
    ``lean`` exports the graph with ``lean=True`` and loads it with prepacking off, as :func:`onnx_session`
    does: its session holds the tied table once.

    ``batch_size`` prompts of ``seq_len`` tokens are prefilled together; ``padded`` (torch only: the exported
    graph takes no attention mask) gives them an attention mask with the first prompt left-padded by a quarter
    of its tokens (one at least), as a batch of prompts of different lengths is run.

    With glibc's default allocator the resident peak holds, beyond the live tensors, freed ones its heap
    keeps (once its mmap threshold has grown past a tensor's size, freed tensors stay in the heap, and
    the prefill's next ones do not always fit them). ``mmap_threshold`` fixes that threshold in the
    measuring process (``mallopt(M_MMAP_THRESHOLD)``, as ``MALLOC_MMAP_THRESHOLD_`` does for a
    deployment, at a cost in speed: ``benchmarks/results/allocator.md``): every block above it is returned
    when freed, and the peak is the live tensors'.

    Returns:
        ``weights``: the resident memory its weights took when built (ONNX Runtime: what its session
        holds once loaded); ``peak``: the peak resident memory of the model and a prefill of ``seq_len``
        tokens that fills its KV cache; with ONNX Runtime, ``opset`` (the measured graph's, written as one
        file below 2 GB, as ``mpsolve export`` writes it; above, its weights are stored apart and mapped, and
        the pages a run reads of them count in ``peak`` but not in ``weights``) and ``load_peak`` (the peak
        while the session loaded the graph, which holds the graph's bytes beside the weights made of them) and
        ``lean``.
        Compare ``peak`` with ``MemoryCost(seq_len=seq_len, batch_size=batch_size, padded=padded).of(architecture)``;
        ``benchmarks/memory.py`` does, for many designs.

    Raises:
        ModelInputError: not Linux (no ``/proc``), ``seq_len`` not within the design's ``max_positions``, a bad
            batch size (or one whose predicted peak exceeds the free memory), seed or threshold, ``padded`` in
            ONNX Runtime, an allocator without ``mallopt``, or the
            measuring process failed (its error, in one line).
    """
    arch = resolve_architecture(architecture)
    check_integer(seq_len, "seq_len", 1, ModelInputError)
    check_integer(batch_size, "batch_size", 1, ModelInputError)
    padded = check_bool(padded, "padded", ModelInputError)
    if runtime not in RUNTIMES:
        raise ModelInputError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if padded and runtime != "torch":
        raise ModelInputError("padded needs an attention mask, which the exported graph does not take: measure a "
                              "padded batch with runtime='torch'")
    lean = check_bool(lean, "lean", ModelInputError)
    if (opset is not None or graph_dir is not None or lean) and runtime != "onnxruntime":
        raise ModelInputError("opset, graph_dir and lean are the exported graph's: give them with "
                              "runtime='onnxruntime'")
    folder: Path | None = None
    if runtime == "onnxruntime":
        require("onnxruntime", "onnx")
        require("onnxscript", "onnx")
        from mpsolve.merino_model._onnx import DEFAULT_OPSET, check_opset
        from mpsolve.merino_model._profile import check_graph_dir, design_graph

        opset = DEFAULT_OPSET if opset is None else check_opset(opset)  # before the export; an int, as JSON takes
        folder = check_graph_dir(graph_dir)
    if mmap_threshold is not None:
        check_integer(mmap_threshold, "mmap_threshold", 0, ModelInputError)
        if mmap_threshold > MAX_MMAP_THRESHOLD:
            raise ModelInputError(f"mmap_threshold {mmap_threshold} is above the largest glibc documents, "
                                  f"{MAX_MMAP_THRESHOLD} (32 MiB on 64-bit systems): give a smaller one")
    if seq_len > arch.max_positions:
        raise ModelInputError(f"seq_len {seq_len} exceeds the design's max_positions {arch.max_positions}: give "
                              "a shorter one")
    try:  # the predicted peak against the free memory, before a process is started or a graph exported
        need = MemoryCost(seq_len=seq_len, batch_size=batch_size, padded=padded).of(arch)
    except MpsolveError as exc:
        raise ModelInputError(str(exc)) from None
    check_memory(int(need), f"a prefill of {batch_size} x {seq_len} tokens", "lower batch_size or seq_len",
                 ModelInputError)
    seed = torch_seed(seed, optional=False)
    if not (_STATUS.is_file() and Path("/proc/self/clear_refs").exists()):
        raise ModelInputError("measuring memory reads Linux's /proc/self/status and resets its peak; this system "
                              "has neither: measure on Linux")
    import multiprocessing

    if multiprocessing.current_process().daemon:
        raise ModelInputError("design_memory starts a process, which a daemonic process (a multiprocessing.Pool "
                              "worker) cannot: measure from the main process")
    what = f"{arch} at {seq_len} tokens" + (f", batch {batch_size}" if batch_size > 1 else "") + (
        ", padded" if padded else "")
    with contextlib.ExitStack() as stack:
        if runtime == "torch":
            return _in_fresh_process((_measure, arch.to_dict(), int(seq_len), seed, mmap_threshold, int(batch_size),
                                      padded), what)
        folder = folder or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        # one file, as mpsolve export writes it: ONNX Runtime maps weights stored apart, and the pages a run reads
        # of that file (with the kernel's read-ahead) would count in the peak but not in the weights
        whole = 4 * ParamsCost().of(arch) < _PROTOBUF_LIMIT
        graph = design_graph(arch, seed, "last", folder, opset, external_data=not whole, lean=lean)
        task = (_measure_onnx, str(graph), arch.vocab_size, int(seq_len), seed, mmap_threshold, int(batch_size))
        return {**_in_fresh_process(task, f"{what} in ONNX Runtime"), "opset": opset, "lean": lean}


def _in_fresh_process(task: tuple[Any, ...], what: str) -> dict[str, int]:
    """``task[0](*task[1:])`` in a spawned process; its errors as one line, Ctrl-C ending it too."""
    import concurrent.futures
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=pool_worker)
    try:
        with children_ignore_ctrl_c():  # the process starts with the task
            future = pool.submit(*task)
        concurrent.futures.wait([future])
    except BaseException:  # Ctrl-C: the measuring process, which ignores it, stops too
        stop_pool(pool)
        raise
    close_pool(pool)  # its process and thread end before this process may
    try:
        return future.result()
    except BrokenProcessPool:
        raise ModelInputError(f"the process measuring {what} ended without an answer: out of "
                              "memory, or a script that calls design_memory outside 'if __name__ == \"__main__\":' "
                              "(the fresh process runs the script again): guard the call") from None
    except Exception as exc:  # the measuring process's own (torch's allocator out of memory): not a traceback
        said = str(exc).strip().splitlines()
        raise ModelInputError(f"the process measuring {what} failed: {type(exc).__name__}"
                              + (f": {said[0]}" if said else "")) from None


def _measure(arch: dict[str, Any], seq_len: int, seed: int, mmap_threshold: int | None = None, batch_size: int = 1,
             padded: bool = False) -> dict[str, int]:
    """In the fresh process: the weights' and the prefill's resident memory over the baseline."""
    if mmap_threshold is not None:
        _fix_mmap_threshold(mmap_threshold)
    import torch

    from mpsolve.merino_model._model import build

    torch.set_num_threads(1)
    arch = Architecture.from_dict(arch)
    ids = torch.randint(0, arch.vocab_size, (batch_size, seq_len), generator=torch.Generator().manual_seed(seed))
    mask = warm = None
    if padded:  # the first prompt left-padded by a quarter (a token at least); the warm-up's as long as its ids
        mask, warm = torch.ones_like(ids), torch.ones_like(ids[:, :8])
        mask[0, : max(1, seq_len // 4)] = warm[0, 0] = 0
    with torch.inference_mode():  # torch's own first-use allocations (a padded batch's path too), before the baseline
        build("merino-52m", vocab_size=256, embed_proj_dim=64, max_positions=64)(ids[:, :8] % 256, attention_mask=warm)
    reset_peak_memory()
    base = resident_memory()
    model = build(arch, seed=seed).eval()
    # anonymous pages: the kernel may drop mapped library pages meanwhile. Construction transients (the LM
    # head's own weight before tying) are released before the peak restarts.
    weights = resident_memory()["RssAnon"] - base["RssAnon"]
    reset_peak_memory()
    with torch.inference_mode():
        model(ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
    return {"weights": weights, "peak": resident_memory()["VmHWM"] - base["VmRSS"]}


def _measure_onnx(graph: str, vocab_size: int, seq_len: int, seed: int, mmap_threshold: int | None = None,
                  batch_size: int = 1) -> dict[str, int]:
    """In the fresh process: the resident memory of an ONNX Runtime session of ``graph`` (its weights) and of a
    prefill of ``seq_len`` tokens on an empty KV cache, over the baseline."""
    if mmap_threshold is not None:
        _fix_mmap_threshold(mmap_threshold)
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from mpsolve.merino_model._onnx import _is_lean, _run, _session_options

    ids = np.random.default_rng(seed).integers(0, vocab_size, (batch_size, seq_len), dtype=np.int64)
    # ONNX Runtime's own first-use allocations (its thread pool, kernels' set-up), before the baseline
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 8], np.ones(64, np.float32))
    tiny = helper.make_graph([node], "warm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [w])
    ort.InferenceSession(onnx.helper.make_model(tiny).SerializeToString(), _session_options(1),
                         providers=["CPUExecutionProvider"]).run(None, {"x": np.ones((1, 8), np.float32)})
    options = _session_options(1, lean=_is_lean(graph))
    reset_peak_memory()
    base = resident_memory()
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    loading = resident_memory()["VmHWM"] - base["VmRSS"]  # the graph's bytes beside the weights made of them
    reset_peak_memory()  # the graph's bytes freed and returned
    weights = resident_memory()["RssAnon"] - base["RssAnon"]
    _run(session, ids, None)
    return {"weights": weights, "peak": resident_memory()["VmHWM"] - base["VmRSS"], "load_peak": loading}


def _fix_mmap_threshold(threshold: int) -> None:
    """Fix glibc's mmap threshold (``M_MMAP_THRESHOLD``) in this process: blocks above it are returned when freed."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        raise ModelInputError("mmap_threshold sets glibc's allocator (mallopt), which this system has not: measure "
                              "without it") from None
    if mallopt(-3, threshold) != 1:  # M_MMAP_THRESHOLD
        raise ModelInputError(f"glibc refused mmap_threshold {threshold}")
