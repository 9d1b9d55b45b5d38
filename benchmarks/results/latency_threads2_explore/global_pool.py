"""Exploratory: the same rotation as rotating_sessions.py with one process-wide ONNX Runtime thread pool
(``set_global_thread_pool_sizes(2, 1)`` before any session, ``use_per_session_threads = False``).

    python benchmarks/results/latency_threads2_explore/global_pool.py prefill|decode
"""

import itertools
import sys

import onnxruntime as ort

ort.set_global_thread_pool_sizes(2, 1)  # before the first session of the process

from mpsolve.merino_model import _profile as P  # noqa: E402
from mpsolve.merino_model._components import components as make_components  # noqa: E402
from mpsolve.spaces import get_space  # noqa: E402

phase = sys.argv[1]
comps = make_components(get_space("default"), 128, 1, phase, True, 0, False)
labels = [label for label in comps if label.startswith("layer ")]
label = labels[len(labels) // 2]
module, inputs = comps[label]
graph = P._export_component(module, inputs)


def sessions(k: int) -> list:
    out = []
    for _ in range(k):
        options = ort.SessionOptions()
        options.use_per_session_threads = False
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        s = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        feed = {i.name: t.numpy().copy() for i, t in zip(s.get_inputs(), inputs)}
        out.append(lambda s=s, f=feed: s.run(None, f))
    for call in out:  # every session's first runs (allocations) before any timing
        call()
        call()
    return out


one = P.time_call(sessions(1)[0], 2, 0.3, "min")
cycle = itertools.cycle(sessions(32))
many = P.time_call(lambda: next(cycle)(), 2, 0.3, "min")
print(label, phase, f"global pool of 2: one session {one['ms']:.3f} ms (iqr {one['iqr_ms']:.3f}), "
      f"rotating 32 {many['ms']:.3f} ms (iqr {many['iqr_ms']:.3f})")
