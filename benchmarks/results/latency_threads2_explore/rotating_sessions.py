"""Exploratory (after the registered two-thread runs): does rotating several ONNX Runtime sessions, each
with its own intra-op thread pool, slow a component timed with two threads? The profile rotates cold
copies of each component this way. One layer of the default space; every session runs twice first.

    python benchmarks/results/latency_threads2_explore/rotating_sessions.py [prefill|decode] [COPIES] [LABEL]
"""

import itertools
import sys

import onnxruntime as ort

from mpsolve.merino_model import _profile as P
from mpsolve.merino_model._components import components as make_components
from mpsolve.merino_model._onnx import _session_options
from mpsolve.spaces import get_space

phase = sys.argv[1] if len(sys.argv) > 1 else "prefill"
copies = int(sys.argv[2]) if len(sys.argv) > 2 else 32
space = get_space("default")
comps = make_components(space, 128, 1, phase, True, 0, False)
labels = [label for label in comps if label.startswith("layer ")]
label = sys.argv[3] if len(sys.argv) > 3 else labels[len(labels) // 2]
module, inputs = comps[label]
graph = P._export_component(module, inputs)


def sessions(threads: int, k: int, spin: bool) -> list:
    out = []
    for _ in range(k):
        options = _session_options(threads)
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        s = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        feed = {i.name: t.numpy().copy() for i, t in zip(s.get_inputs(), inputs)}
        out.append(lambda s=s, f=feed: s.run(None, f))
    for call in out:  # every session's first runs (allocations) before any timing
        call()
        call()
    return out


def rotating(calls: list):
    cycle = itertools.cycle(calls)
    return lambda: next(cycle)()


print(label, phase, "copies", copies)
for threads in (1, 2):
    for spin in (True, False):
        one = P.time_call(sessions(threads, 1, spin)[0], threads, 0.3, "min")
        many = P.time_call(rotating(sessions(threads, copies, spin)), threads, 0.3, "min")
        print(f"threads {threads} spin {spin!s:5}: one session {one['ms']:.3f} ms (iqr {one['iqr_ms']:.3f}), "
              f"rotating {copies} {many['ms']:.3f} ms (iqr {many['iqr_ms']:.3f}) noisy {many['noisy']}")
