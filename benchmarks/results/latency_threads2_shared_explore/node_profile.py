"""Exploratory, after ``depth_sweep.py``: where does a once-applied 640 x 640 layer spend the time the
whole model pays in ONNX Runtime decode and its component timing misses? ONNX Runtime's own profiler
(``enable_profiling``) times every kernel of a design of 8 identical 640 x 640 blocks (decode, 128
cached positions, the past fed as ``design_latency`` feeds it) and of the profile's component graph
of that layer (exported static and dynamic), one session and 7 rotating sessions (the profile's copies; or the
count given), all on one process-wide
pool of ``threads`` intra-op threads (as the profile now runs; a whole design times the same on it,
``pool_type.py``). Per forward it prints the wall time of the run, the sum of its kernels, and per
layer the kernel time by operator type.

    python benchmarks/results/latency_threads2_shared_explore/node_profile.py 2      # threads
    python benchmarks/results/latency_threads2_shared_explore/node_profile.py 1 32   # threads, rotating copies
"""

import collections
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from mpsolve.merino_model import build, export_onnx
from mpsolve.merino_model._components import components
from mpsolve.merino_model._onnx import _run, _session_options
from mpsolve.merino_model._profile import _export_component
from mpsolve.spaces import Architecture, Block, SearchSpace, get_space

DEPTH, CONTEXT, RUNS = 8, 128, 300


def session(model, threads: int, prefix: str):
    options = _session_options(None if threads > 1 else 1)
    if threads > 1:
        options.use_per_session_threads = False
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_profiling = True
    options.profile_file_prefix = prefix
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def layer_of(graph: onnx.ModelProto) -> dict[str, str]:
    """Node name -> its layer (from the exporter's name scopes), or ``other``."""
    out = {}
    for node in graph.graph.node:
        scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "")
        match = re.search(r"blocks\.(\d+)", scopes)
        out[node.name] = f"layer {match.group(1)}" if match else "other"
    return out


def runs(profile_file: str, groups: dict[str, str] | None, skip: int) -> list[dict[str, object]]:
    """Per ``model_run`` after the first ``skip``: its wall time and its kernels' times by group (``groups``
    of node names; ``None``: all ``layer``) and op (us)."""
    events = json.loads(Path(profile_file).read_text())
    out: list[dict[str, object]] = []
    for e in events:
        if e.get("name") == "model_run":
            out.append({"wall": e["dur"], "start": e["ts"], "end": e["ts"] + e["dur"],
                        "kernels": collections.Counter()})
    group = "other"
    kernels = sorted((e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")),
                     key=lambda e: e["ts"])
    for e in kernels:  # a node the optimiser made (a fusion) belongs where the last known node ran
        group = "layer" if groups is None else groups.get(e["name"][: -len("_kernel_time")], group)
        for r in out:
            if r["start"] <= e["ts"] <= r["end"]:
                r["kernels"][(group, e["args"]["op_name"])] += e["dur"]
                break
    return out[skip:]


def summary(label: str, rs: list[dict[str, object]], layers: list[str]) -> None:
    wall = statistics.median(r["wall"] for r in rs)
    total = statistics.median(sum(r["kernels"].values()) for r in rs)
    print(f"{label}: {len(rs)} runs, wall median {wall / 1000:.3f} ms, kernels {total / 1000:.3f} ms")
    for layer in layers:
        ops = collections.defaultdict(list)
        for r in rs:
            for (g, op), us in r["kernels"].items():
                if g == layer:
                    ops[op].append(us)
        per_op = {op: statistics.median(v + [0] * (len(rs) - len(v))) for op, v in ops.items()}
        text = ", ".join(f"{op} {us:.0f}" for op, us in sorted(per_op.items(), key=lambda x: -x[1]) if us >= 5)
        print(f"  {layer}: {sum(per_op.values()) / 1000:.3f} ms ({text} us)")


def static_graph(module, inputs) -> bytes:
    """The component export before 5be5093: the example inputs' shapes, fixed (the library's is dynamic)."""
    with torch.no_grad():
        return torch.onnx.export(module, inputs, dynamo=True, verbose=False).model_proto.SerializeToString()


def main() -> None:
    threads = int(sys.argv[1])
    copies = int(sys.argv[2]) if len(sys.argv) > 2 else 7  # the profile's for this layer
    if threads > 1:
        ort.set_global_thread_pool_sizes(threads, 1)
    default = get_space("default")
    shape = dict(vocab_size=default.vocab_size, embed_proj_dim=default.embed_proj_dim,
                 max_positions=default.max_positions, head_dim=default.head_dim)
    arch = Architecture(blocks=(Block(640, 1.0, 1),) * DEPTH, **shape)
    space = SearchSpace(num_blocks=1, embed_dims=(640,), ffn_ratios=(1.0,), layers=(1,), **shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "design.onnx"
        export_onnx(build(arch, seed=16), path, kv_cache=True, external_data=True, logits="all")
        groups = layer_of(onnx.load(str(path), load_external_data=False))
        whole = session(str(path), threads, f"{tmp}/whole")
        ids = np.random.default_rng(16).integers(0, default.vocab_size, (1, CONTEXT + 1))
        past = [np.ascontiguousarray(p) for p in _run(whole, ids[:, :CONTEXT], None)[1]]
        for _ in range(RUNS + 20):
            _run(whole, ids[:, CONTEXT:], past)
        summary(f"whole design, {DEPTH} layers, {threads} thread(s)", runs(whole.end_profiling(), groups, 21),
                [f"layer {i}" for i in range(DEPTH)] + ["other"])

        module, inputs = components(space, CONTEXT, 1, "decode", True, 16)["layer 640x640"]
        for kind, graph in (("static", static_graph(module, inputs)),
                            ("dynamic", _export_component(module, inputs, space.max_positions))):
            sessions = [session(graph, threads, f"{tmp}/{kind}{i}") for i in range(copies)]
            feeds = [{i.name: x.numpy().copy() for i, x in zip(s.get_inputs(), inputs)} for s in sessions]
            for _ in range(RUNS + 40):
                sessions[0].run(None, feeds[0])
            summary(f"{kind} component, one session (warm), {threads} thread(s)",
                    runs(sessions[0].end_profiling(), None, 40), ["layer"])
            for _ in range(RUNS // copies + 3):
                for s, f in zip(sessions[1:] + sessions[:1], feeds[1:] + feeds[:1]):
                    s.run(None, f)
            rotating = [r for s in sessions[1:] for r in runs(s.end_profiling(), None, 3)]
            summary(f"{kind} component, {copies} rotating sessions (cold), {threads} thread(s)", rotating, ["layer"])

if __name__ == "__main__":
    main()
