"""Exploratory (2026-12-05): timed consecutive applications T(L) of a shared layer against cold + (L - 1)
warm, on random default-space designs. ``python timed_applications.py PHASE SEED THREADS`` from /tmp
with PYTHONPATH at the checkout (library 8e8a5f6)."""
import copy
import itertools
import sys
import time

import numpy as np
import torch
from torch.utils import benchmark

from mpsolve.costs import DecodeLatencyCost, LatencyCost
from mpsolve.merino_model import build, profile_latency
from mpsolve.merino_model._components import components
from mpsolve.merino_model._profile import _largest_cache_bytes, model_latency
from mpsolve.spaces import get_space

phase = sys.argv[1] if len(sys.argv) > 1 else "decode"
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 11
TH = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(TH)
sp = get_space("default")
t0 = time.time()
prof = profile_latency(sp, 128, 1, TH, phase=phase, min_run_time=0.1, progress=False, statistic="min")
print("profile", round(time.time() - t0), "s", flush=True)
cost = (DecodeLatencyCost if phase == "decode" else LatencyCost)(prof)
X = sp.sample(12, np.random.default_rng(seed))
batch = sp.decode_batch(X)
pred = cost.evaluate(batch, sp)
comps = components(sp, 128, 1, phase, False, 0)
cold = 2 * _largest_cache_bytes()
T = {}


def positional(e: int, f: int, Lmax: int) -> list[float]:
    module, inputs = comps[f"layer {e}x{f}"]
    per_app = [tuple(t.clone() for t in inputs) for _ in range(Lmax)]
    size = sum(t.numel() * 4 for t in module.state_dict().values()) + sum(t.numel() * 4 for x in per_app for t in x)
    n = max(1, min(256, -(-cold // size)))
    copies = [(module if i == 0 else copy.deepcopy(module), [tuple(t.clone() for t in x) for x in per_app])
              for i in range(n)]
    out = []
    for L in range(1, Lmax + 1):
        cyc = itertools.cycle(copies)

        def run(cyc=cyc, L=L) -> None:
            mm, xs = next(cyc)
            for x in xs[:L]:
                mm(*x)

        m = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=TH).blocked_autorange(min_run_time=0.1)
        out.append(min(m.times) * 1000)
    return out


layers = {(r["embed_dim"], r["ffn_dim"]): r for r in prof["layers"]}
with torch.inference_mode():
    for blk in set((int(e), int(f)) for e, f in zip(batch.embed_dims.ravel(), batch.ffn_dims.ravel())):
        T[blk] = positional(*blk, 4)
pred2 = []
for i, x in enumerate(X):
    arch = sp.decode(x)
    p = pred[i]
    for b in arch.blocks:
        r = layers[(b.embed_dim, b.ffn_dim)]
        p += T[(b.embed_dim, b.ffn_dim)][b.layers - 1] - (r["ms"] + (b.layers - 1) * r["warm_ms"])
    pred2.append(p)
meas = []
for _ in range(3):
    meas.append([model_latency(build(sp.decode(x), seed=0).eval(), 128, TH, phase=phase, min_run_time=0.3,
                               statistic="min")["ms"] for x in X])
meas = np.min(np.array(meas), 0)
for i, x in enumerate(X):
    print(sp.decode(x), "apps", batch.layers[i].sum(), "meas", round(meas[i], 2), "old", round(pred[i], 2), "new",
          round(pred2[i], 2))
print("MAPE old", np.mean(np.abs(pred / meas - 1)) * 100, "bias", np.mean(pred / meas - 1) * 100)
print("MAPE new", np.mean(np.abs(np.array(pred2) / meas - 1)) * 100, "bias", np.mean(np.array(pred2) / meas - 1) * 100)
for k, v in sorted(T.items()):
    r = layers[k]
    print(k, "T(L)", np.round(v, 3), "old", np.round([r["ms"] + (L - 1) * r["warm_ms"] for L in range(1, 5)], 3))
