"""Exploratory, after the registered runs ``latency_threads2_shared_s16`` / ``_s17``: is ONNX Runtime
decode's two-thread gap per forward or per layer? Designs of n identical 640 x 640 blocks (one
application each; n = 2, 4, 8; the default space's vocabulary, projection and head sizes) are timed
whole in decode (128 cached positions; three rounds, fastest kept) and predicted by the profile of a
one-shape space (the same components: embeddings, 768 -> 640, the layer, 640 -> 768, the head), on
one thread and on two. The least-squares line over n of each gives the per-forward intercept and the
per-layer slope.

    python benchmarks/results/latency_threads2_shared_explore/depth_sweep.py
"""

import tempfile
from pathlib import Path

import numpy as np

from mpsolve.costs import latency_cost
from mpsolve.merino_model import design_latency, profile_latency
from mpsolve.spaces import Architecture, Block, SearchSpace, get_space


def main() -> None:
    default = get_space("default")
    space = SearchSpace(num_blocks=1, embed_dims=(640,), ffn_ratios=(1.0,), layers=(1,), vocab_size=default.vocab_size,
                        embed_proj_dim=default.embed_proj_dim, max_positions=default.max_positions,
                        head_dim=default.head_dim)
    depths = [2, 4, 8]
    archs = [Architecture(blocks=(Block(640, 1.0, 1),) * n, vocab_size=default.vocab_size,
                          embed_proj_dim=default.embed_proj_dim, max_positions=default.max_positions,
                          head_dim=default.head_dim) for n in depths]
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (1, 2):
            profile = profile_latency(space, 128, threads=threads, runtime="onnxruntime", phase="decode",
                                      statistic="min", progress=False, seed=16, graph_dir=Path(tmp) / "components")
            layer = profile["layers"][0]["ms"]
            fixed = profile["embedding_ms"] + profile["head_ms"] + sum(p["ms"] for p in profile["projections"])
            measured = [min(design_latency(a, 128, threads, runtime="onnxruntime", phase="decode", min_run_time=0.3,
                                           statistic="min", seed=16, graph_dir=tmp)["ms"] for _ in range(3))
                        for a in archs]
            cost = latency_cost(profile)
            predicted = [float(cost.of(a)) for a in archs]
            slope, intercept = np.polyfit(depths, measured, 1)
            print(f"{threads} thread(s): profile layer {layer:.3f} ms, embeddings + projections + head {fixed:.3f} ms; "
                  f"whole designs n={depths}: measured {', '.join(f'{m:.3f}' for m in measured)} ms, predicted "
                  f"{', '.join(f'{p:.3f}' for p in predicted)} ms; measured line {intercept:.3f} ms + {slope:.3f} ms "
                  "per layer")


if __name__ == "__main__":
    main()
