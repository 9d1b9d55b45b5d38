"""Exploratory, after the registered runs ``latency_threads2_shared_s16`` / ``_s17``: is ONNX Runtime
decode's underestimate on two threads the pool type? The first designs of the runs' sample (seed 16),
each timed in decode (128 cached positions) as the runs measured it (``design_latency``: a session
with its own pool of two threads, in this process) and as the profile now times its components (one
session on a process-wide pool of two threads, in the child of ``_onnx_timer``); minimum of blocks
over 0.3 s, three alternating rounds, the fastest round of each kept.

    python benchmarks/results/latency_threads2_shared_explore/pool_type.py [designs]
"""

import sys
from pathlib import Path

import numpy as np
import torch

from mpsolve.merino_model import _profile as P
from mpsolve.merino_model._onnx import _past_inputs, _run, _session
from mpsolve.spaces import get_space


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    seed, cache = 16, Path("/tmp/mpsolve-latency-cache")
    space = get_space("default")
    archs = [space.decode(x) for x in space.sample(20, random_state=seed)[:n]]
    timing = {"runtime": "onnxruntime", "phase": "decode", "min_run_time": 0.3, "statistic": "min", "seed": seed}
    jobs = []
    for arch in archs:
        P.design_latency(arch, 128, 2, graph_dir=cache, **timing)  # the graph, as the runs exported it
        path = cache / f"design-{arch.digest()}-s{seed}-all.onnx"
        session = _session(path, 2)
        ids = torch.randint(0, arch.vocab_size, (1, 129), generator=torch.Generator().manual_seed(seed)).numpy()
        past = [np.ascontiguousarray(p) for p in _run(session, ids[:, :128], None)[1]]
        named = {"input_ids": ids[:, 128:], **{i.name: p for i, p in zip(_past_inputs(session), past)}}
        jobs.append((str(path), [tuple(named[i.name] for i in session.get_inputs())]))
        del session
    own = [[] for _ in archs]
    shared = [[] for _ in archs]
    with P._onnx_timer(2) as time_graph:
        for _ in range(3):
            for k, (arch, (path, feeds)) in enumerate(zip(archs, jobs)):
                own[k].append(P.design_latency(arch, 128, 2, graph_dir=cache, **timing)["ms"])
                shared[k].append(time_graph(path, feeds, 1, [], 2, 0.3, "min")[0]["ms"])
    ratios = []
    for arch, o, s in zip(archs, own, shared):
        ratios.append(min(s) / min(o))
        print(f"{arch.depth:3d} applications  own pool {min(o):7.3f} ms (rounds {' '.join(f'{t:.3f}' for t in o)})"
              f"  shared pool {min(s):7.3f} ms (rounds {' '.join(f'{t:.3f}' for t in s)})  shared/own {ratios[-1]:.3f}")
    print(f"shared/own, median over {len(archs)} designs: {np.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
