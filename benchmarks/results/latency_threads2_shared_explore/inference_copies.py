"""Exploratory, after the registered runs ``latency_threads2_shared_s16`` / ``_s17``: those runs' torch
profiles (commit d914755) built the cold copies 2.. of each component inside ``torch.inference_mode``
(inference tensors), where the library before and after (ce09a2c) builds them outside (ordinary
tensors, as the first copy). Does it change the timings? Three layers of ``default``, both phases,
two threads, the profile's settings (0.2 s, minimum of blocks), three alternating rounds; the fastest
round of each way kept.

    python benchmarks/results/latency_threads2_shared_explore/inference_copies.py
"""

import itertools

import torch

from mpsolve.merino_model import _profile as P
from mpsolve.merino_model._components import components as make_components
from mpsolve.spaces import get_space


def cold_ms(module, feeds, copies, inside: bool) -> float:
    if inside:
        with torch.inference_mode():
            calls = P._torch_calls(module, feeds, copies)
    else:
        calls = P._torch_calls(module, feeds, copies)
    with torch.inference_mode():
        return P._time_copies(calls, [], 2, 0.2, "min")[1]["ms"]


def main() -> None:
    torch.set_num_threads(2)
    space = get_space("default")
    cold_bytes = 2 * P._largest_cache_bytes()
    for phase in ("prefill", "decode"):
        comps = make_components(space, 128, 1, phase, False, 16, False)
        labels = [label for label in comps if label.startswith("layer ")]
        for label in (labels[0], labels[len(labels) // 2], labels[-1]):
            module, inputs = comps[label]
            feeds = [inputs]
            size = sum(t.numel() * t.element_size() for t in [*module.state_dict().values(), *itertools.chain(*feeds)])
            copies = max(1, min(256, -(-cold_bytes // size)))
            out, ins = [], []
            for _ in range(3):
                out.append(cold_ms(module, feeds, copies, False))
                ins.append(cold_ms(module, feeds, copies, True))
            print(f"{phase:7s} {label:16s} copies {copies:3d}  ordinary {min(out):8.3f} ms  "
                  f"inference {min(ins):8.3f} ms"
                  f"  inference/ordinary {min(ins) / min(out):.3f}")


if __name__ == "__main__":
    main()
