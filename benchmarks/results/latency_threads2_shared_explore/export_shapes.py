"""Exploratory, after ``node_profile.py``: ONNX Runtime profiles whose components are exported with static
shapes (as before) or with a design graph's dynamic axes (batch, new positions, cached positions; the
library since this script), both against the same whole designs. ``node_profile.py`` found the layer of a
whole design running other kernels than its statically exported component (MatMul + Add for a Gemm, the
keys' transpose on its own), which on two threads took more time per layer.

For ``threads`` 1 and 2, both phases: n default-space designs (sample seed ``seed``), the two profiles
(profile seed ``seed``, minimum of blocks, as the registered runs), then the designs timed whole in three
round-robin rounds (``design_latency``, as ``benchmarks/latency.py``), the fastest round kept. Prints each
profile's MAPE and signed bias against the fastest round, and the paired difference of absolute errors.

    python benchmarks/results/latency_threads2_shared_explore/export_shapes.py 8 30
"""

import sys
from pathlib import Path

import numpy as np
import torch

import mpsolve.merino_model._profile as profiling
from mpsolve.costs import latency_cost
from mpsolve.merino_model import design_latency, profile_latency
from mpsolve.spaces import get_space

CACHE = Path("/tmp/mpsolve-latency-cache")


def static_export(module, inputs, max_positions) -> bytes:
    """The component export before: the example inputs' shapes, fixed."""
    with torch.no_grad(), profiling._quiet_export():
        return torch.onnx.export(module, inputs, dynamo=True, verbose=False).model_proto.SerializeToString()


def main() -> None:
    n, seed = int(sys.argv[1]), int(sys.argv[2])
    space = get_space("default")
    X = space.sample(n, random_state=seed)
    archs = [space.decode(x) for x in X]
    dynamic_export = profiling._export_component
    for threads in (2, 1):
        for phase in ("decode", "prefill"):
            predicted = {}
            for kind, export in (("static", static_export), ("dynamic", dynamic_export)):
                profiling._export_component = export
                profile = profile_latency(space, 128, threads=threads, runtime="onnxruntime", phase=phase,
                                          statistic="min", progress=False, seed=seed, calibrate=0)
                predicted[kind] = latency_cost(profile).evaluate(space.decode_batch(X), space)
            measured = np.array([[design_latency(a, 128, threads, runtime="onnxruntime", phase=phase, min_run_time=0.3,
                                                 statistic="min", seed=seed, graph_dir=CACHE)["ms"] for a in archs]
                                 for _ in range(3)])
            fastest = measured.min(axis=0)
            spread = np.median((measured.max(axis=0) - fastest) / fastest)
            errors = {k: p / fastest - 1 for k, p in predicted.items()}
            text = ", ".join(f"{k} MAPE {100 * np.mean(np.abs(e)):.1f} % (bias {100 * np.mean(e):+.1f} %)"
                             for k, e in errors.items())
            gain = np.abs(errors["static"]) - np.abs(errors["dynamic"])
            print(f"{threads} thread(s) {phase}: {text}; static - dynamic |error| {100 * gain.mean():+.1f} points "
                  f"(designs better {int((gain > 0).sum())} of {n}); rounds {100 * spread:.1f} % apart (median)",
                  flush=True)


if __name__ == "__main__":
    main()
