"""Latency profiling: time every component of a space's architectures on this machine.

The workload is the MeRino prefill that yields the next token: ``seq_len`` tokens at batch
``batch``, logits of the last position only (``logits_to_keep=1``). :func:`profile_latency`
times one application of a layer of every distinct ``(E, F)`` of a space, every input
projection (``D -> E``, ``E -> E'``), every output projection ``E -> D`` (last position only,
as the model applies it after slicing), the embeddings, and the final LayerNorm + LM head; the
profile it returns is what :class:`mpsolve.costs.LatencyCost` predicts from. Importing this
module is cheap; profiling needs ``torch`` (extra ``[torch]``).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mpsolve.costs import PROFILE_CONSTANTS, PROFILE_FORMAT, PROFILE_VERSION
from mpsolve.merino_model._errors import require
from mpsolve.spaces import SearchSpace, get_space
from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.validation import check_integer

__all__ = ["device_info", "profile_latency"]

_STATISTICS: dict[str, Callable[[list[float]], float]] = {"median": statistics.median, "min": min}


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
    require("torch", "torch")
    import torch
    from tqdm import tqdm

    from mpsolve.merino_model._model import MeRinoLayer

    space = get_space(space) if isinstance(space, str) else space
    for label, value in (("seq_len", seq_len), ("batch", batch), ("repeats", repeats)):
        check_integer(value, label)
    check_integer(warmup, "warmup", minimum=0)
    if statistic not in _STATISTICS:
        raise MpsolveError(f"statistic must be one of {', '.join(_STATISTICS)}, got {statistic!r}")
    if threads is not None:
        check_integer(threads, "threads")
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
        "constants": {name: getattr(space, name) for name in PROFILE_CONSTANTS},
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
