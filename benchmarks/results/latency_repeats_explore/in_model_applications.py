"""Exploratory (2026-12-05): each application of a shared layer timed where the model runs it, against
the profile's cold timing on rotating copies. Run from /tmp with PYTHONPATH at the checkout."""
import copy
import itertools
import time

import numpy as np
import torch

from mpsolve.merino_model import build
from mpsolve.merino_model._components import CachedLayer
from mpsolve.spaces import Architecture, Block

torch.set_num_threads(2)
E, R = 512, 4.0
arch = Architecture(blocks=tuple(Block(E, R, 4) for _ in range(4)), vocab_size=50272, embed_proj_dim=768,
                    max_positions=2048, head_dim=64, shared=True, activation="gelu")
m = build(arch, seed=0).eval()
g = torch.Generator().manual_seed(0)
ids = torch.randint(0, 50272, (1, 129), generator=g)


def main() -> None:
    cache = m(ids[:, :128], use_cache=True).past_key_values
    keys, values = list(cache.keys), list(cache.values)
    h0 = torch.randn(1, 1, E)

    def layers_timed(with_head: bool) -> list[float]:
        cache.keys, cache.values = list(keys), list(values)
        slot, h, ts = 0, h0, []
        for b in m.blocks:
            for layer in b.applied_layers():
                t = time.perf_counter()
                h = layer(h, attn_mask=None, is_causal=False, cache=cache, cache_slot=slot)
                slot += 1
                ts.append(time.perf_counter() - t)
        if with_head:
            m.lm_head(torch.randn(1, 1, 768))
        return ts

    for with_head in (False, True):
        for _ in range(10):
            layers_timed(with_head)
        T = np.array([layers_timed(with_head) for _ in range(100)]) * 1000
        print("head" if with_head else "nohead", "median per app", np.round(np.median(T, 0), 3),
              "sum", np.median(T, 0).sum().round(2))
    # profile-style cold timing: rotate copies
    cl = CachedLayer(m.blocks[0].layers[0])
    x = (h0, keys[0], values[0])
    size = sum(t.numel() * 4 for t in [*cl.state_dict().values(), *x])
    for total in (64 << 20, 256 << 20, 1024 << 20):
        n = max(1, -(-total // size))
        cyc = itertools.cycle([(copy.deepcopy(cl), tuple(t.clone() for t in x)) for _ in range(n)])

        def call(cyc=cyc) -> None:
            mm, xx = next(cyc)
            mm(*xx)

        for _ in range(2 * n):
            call()
        ts = []
        for _ in range(300):
            t = time.perf_counter()
            call()
            ts.append(time.perf_counter() - t)
        print("cold rotate", total >> 20, "MB", n, "copies: median", round(np.median(ts) * 1000, 3),
              "min", round(min(ts) * 1000, 3))


with torch.inference_mode():
    main()
