"""Measured peak inference memory of a design: what :class:`~mpsolve.costs.MemoryCost` predicts.

The design is built with random weights in a fresh process (its memory is its own), and a prefill of
``seq_len`` tokens fills the KV cache (batch 1, one thread, fp32, the last position's logits). Resident
memory is read from Linux's ``/proc/self/status``: ``tracemalloc`` would miss torch's allocations.
"""

from __future__ import annotations

import ctypes
import gc
from pathlib import Path
from typing import Any

from mpsolve.merino_model._errors import ModelInputError
from mpsolve.merino_model._generation import torch_seed
from mpsolve.spaces import Architecture, resolve_architecture
from mpsolve.utils.signals import children_ignore_ctrl_c
from mpsolve.utils.validation import check_integer

__all__ = ["design_memory", "reset_peak_memory", "resident_memory"]

_STATUS = Path("/proc/self/status")
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
    architecture: Architecture | str | Any, seq_len: int = 1024, *, seed: int = 0, mmap_threshold: int | None = None
) -> dict[str, int]:
    """Measure a design's inference memory in a fresh process, in bytes over that process's baseline.

    With glibc's default allocator the resident peak holds, beyond the live tensors, freed ones its heap
    keeps (once its mmap threshold has grown past a tensor's size, freed tensors stay in the heap, and
    the prefill's next ones do not always fit them). ``mmap_threshold`` fixes that threshold in the
    measuring process (``mallopt(M_MMAP_THRESHOLD)``, as ``MALLOC_MMAP_THRESHOLD_`` does for a
    deployment, at a cost in speed: ``benchmarks/results/allocator.md``): every block above it is returned
    when freed, and the peak is the live tensors'.

    Returns:
        ``weights``: the resident memory its weights took when built; ``peak``: the peak resident memory
        of the model and a prefill of ``seq_len`` tokens that fills its KV cache. Compare ``peak`` with
        ``MemoryCost(seq_len=seq_len).of(architecture)``; ``benchmarks/memory.py`` does, for many designs.

    Raises:
        ModelInputError: not Linux (no ``/proc``), ``seq_len`` not within the design's ``max_positions``, a bad
            seed or threshold, an allocator without ``mallopt``, or the measuring process failed (its error,
            in one line).
    """
    arch = resolve_architecture(architecture)
    check_integer(seq_len, "seq_len", 1, ModelInputError)
    if mmap_threshold is not None:
        check_integer(mmap_threshold, "mmap_threshold", 0, ModelInputError)
        if mmap_threshold > MAX_MMAP_THRESHOLD:
            raise ModelInputError(f"mmap_threshold {mmap_threshold} is above the largest glibc documents, "
                                  f"{MAX_MMAP_THRESHOLD} (32 MiB on 64-bit systems): give a smaller one")
    if seq_len > arch.max_positions:
        raise ModelInputError(f"seq_len {seq_len} exceeds the design's max_positions {arch.max_positions}: give "
                              "a shorter one")
    seed = torch_seed(seed, optional=False)
    if not (_STATUS.is_file() and Path("/proc/self/clear_refs").exists()):
        raise ModelInputError("measuring memory reads Linux's /proc/self/status and resets its peak; this system "
                              "has neither: measure on Linux")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    if multiprocessing.current_process().daemon:
        raise ModelInputError("design_memory starts a process, which a daemonic process (a multiprocessing.Pool "
                              "worker) cannot: measure from the main process")
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        with children_ignore_ctrl_c():  # the process starts with the task
            future = pool.submit(_measure, arch.to_dict(), int(seq_len), seed, mmap_threshold)
        return future.result()
    except BrokenProcessPool:
        raise ModelInputError(f"the process measuring {arch} at {seq_len} tokens ended without an answer: out of "
                              "memory, or a script that calls design_memory outside 'if __name__ == \"__main__\":' "
                              "(the fresh process runs the script again): guard the call") from None
    except Exception as exc:  # the measuring process's own (torch's allocator out of memory): not a traceback
        said = str(exc).strip().splitlines()
        raise ModelInputError(f"the process measuring {arch} at {seq_len} tokens failed: {type(exc).__name__}"
                              + (f": {said[0]}" if said else "")) from None
    except BaseException:  # Ctrl-C: the measuring process, which ignores it, stops too
        for process in list((pool._processes or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _measure(arch: dict[str, Any], seq_len: int, seed: int, mmap_threshold: int | None = None) -> dict[str, int]:
    """In the fresh process: the weights' and the prefill's resident memory over the baseline. It ends with its
    parent, also one killed outright (a pool's worker would otherwise wait for another task forever)."""
    import multiprocessing
    import os
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is not None:  # its sentinel is ready once the parent has gone (watched before torch's slow import)
        threading.Thread(target=lambda: (wait([parent.sentinel]), os._exit(1)), daemon=True).start()
    if mmap_threshold is not None:
        _fix_mmap_threshold(mmap_threshold)
    import torch

    from mpsolve.merino_model._model import build

    torch.set_num_threads(1)
    arch = Architecture.from_dict(arch)
    ids = torch.randint(0, arch.vocab_size, (1, seq_len), generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():  # torch's own first-use allocations, before the baseline
        build("merino-52m", vocab_size=256, embed_proj_dim=64, max_positions=64)(ids[:, :8] % 256)
    reset_peak_memory()
    base = resident_memory()
    model = build(arch, seed=seed).eval()
    # anonymous pages: the kernel may drop mapped library pages meanwhile. Construction transients (the LM
    # head's own weight before tying) are released before the peak restarts.
    weights = resident_memory()["RssAnon"] - base["RssAnon"]
    reset_peak_memory()
    with torch.inference_mode():
        model(ids, use_cache=True, logits_to_keep=1)
    return {"weights": weights, "peak": resident_memory()["VmHWM"] - base["VmRSS"]}


def _fix_mmap_threshold(threshold: int) -> None:
    """Fix glibc's mmap threshold (``M_MMAP_THRESHOLD``) in this process: blocks above it are returned when freed."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        raise ModelInputError("mmap_threshold sets glibc's allocator (mallopt), which this system has not: measure "
                              "without it") from None
    if mallopt(-3, threshold) != 1:  # M_MMAP_THRESHOLD
        raise ModelInputError(f"glibc refused mmap_threshold {threshold}")
