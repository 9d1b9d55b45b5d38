"""Exploratory, after ``node_profile.py 1 32``: one-thread ONNX Runtime decode profiles whose cold rotation
holds twice the L3 (the library's ``cold_bytes``) or ``factor`` times that, against the same whole designs.

n default-space designs (sample and profile seed ``seed``), the two profiles (minimum of blocks), then the
designs timed whole in three round-robin rounds (``design_latency``), the fastest round kept. Prints each
profile's MAPE and signed bias against the fastest round, and the paired difference of absolute errors.

    python benchmarks/results/latency_threads2_shared_explore/colder_rotation.py 8 30 4
"""

import sys
from pathlib import Path

import numpy as np

import mpsolve.merino_model._profile as profiling
from mpsolve.costs import latency_cost
from mpsolve.merino_model import design_latency, profile_latency
from mpsolve.spaces import get_space

CACHE = Path("/tmp/mpsolve-latency-cache")


def main() -> None:
    n, seed, factor = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    space = get_space("default")
    X = space.sample(n, random_state=seed)
    archs = [space.decode(x) for x in X]
    largest = profiling._largest_cache_bytes
    predicted = {}
    for kind, scale in (("2x L3", 1), (f"{2 * factor}x L3", factor)):
        profiling._largest_cache_bytes = lambda scale=scale: scale * largest()
        profile = profile_latency(space, 128, threads=1, runtime="onnxruntime", phase="decode", statistic="min",
                                  progress=False, seed=seed, calibrate=0)
        predicted[kind] = latency_cost(profile).evaluate(space.decode_batch(X), space)
    measured = np.array([[design_latency(a, 128, 1, runtime="onnxruntime", phase="decode", min_run_time=0.3,
                                         statistic="min", seed=seed, graph_dir=CACHE)["ms"] for a in archs]
                         for _ in range(3)])
    fastest = measured.min(axis=0)
    errors = {k: p / fastest - 1 for k, p in predicted.items()}
    for k, e in errors.items():
        print(f"1 thread decode, rotation {k}: MAPE {100 * np.mean(np.abs(e)):.1f} % (bias {100 * np.mean(e):+.1f} %)")
    a, b = errors.values()
    gain = np.abs(a) - np.abs(b)
    spread = np.median((measured.max(axis=0) - fastest) / fastest)
    print(f"|error| {list(errors)[0]} - {list(errors)[1]}: {100 * gain.mean():+.1f} points (designs better "
          f"{int((gain > 0).sum())} of {n}); rounds {100 * spread:.1f} % apart (median)")


if __name__ == "__main__":
    main()
