"""The components :func:`mpsolve.merino_model.profile_latency` times, as torch modules with inputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mpsolve.merino_model._model import KVCache, MeRinoLayer
from mpsolve.spaces import SearchSpace

__all__ = ["CachedLayer", "Embeddings", "Head", "components"]


class Embeddings(nn.Module):
    """Token plus position embeddings."""

    def __init__(self, vocab: int, positions: int, d: int) -> None:
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, d), nn.Embedding(positions, d)

    def forward(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        return self.tokens(ids) + self.positions(pos)


class Head(nn.Module):
    """The final LayerNorm and the LM head."""

    def __init__(self, d: int, vocab: int) -> None:
        super().__init__()
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(h))


class CachedLayer(nn.Module):
    """A layer on a KV cache: the new positions' keys and values join ``key`` / ``value``.

    With ``mask`` it is the layer of the exported KV-cache graph (which masks every call);
    without, the torch model's decoding step (one new token sees every key).
    """

    def __init__(self, layer: MeRinoLayer) -> None:
        super().__init__()
        self.layer = layer

    def forward(
        self, x: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        cache = KVCache()
        cache.keys, cache.values = [key], [value]
        y = self.layer(x, attn_mask=mask, is_causal=False, cache=cache, cache_slot=0)
        return y, cache.keys[0], cache.values[0]


def components(
    space: SearchSpace, seq_len: int, batch: int, phase: str, onnx: bool, seed: int, all_logits: bool = False
) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Every component to time, by label: ``(module, inputs)`` with seeded weights and inputs.

    ``onnx``: the components of the exported KV-cache graph (layers on a cache, empty for the
    prefill, with a mask) instead of the torch model's; ``all_logits``: the output projection and
    the head run on every new position (a graph exported with ``logits="all"``), else on the last.
    The weights are drawn before the inputs, in an order no workload changes: a component's weights, and its
    exported graph, are the same for every phase, length, batch and ``all_logits``.
    """
    generator = torch.Generator().manual_seed(seed)
    d, widths = space.embed_proj_dim, list(space.embed_dims)
    new = 1 if phase == "decode" else seq_len  # positions each component processes
    last = new if all_logits else 1  # positions of the output projection and the head
    past = 0 if phase == "prefill" else seq_len  # positions in the cache

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    def init(module: nn.Module) -> nn.Module:
        for sub in module.modules():
            if isinstance(sub, (nn.Linear, nn.Embedding)):
                nn.init.normal_(sub.weight, std=0.02, generator=generator)
            if isinstance(sub, nn.Linear) and sub.bias is not None:  # drawn from torch's global RNG before
                nn.init.zeros_(sub.bias)
        return module.eval()

    with torch.random.fork_rng(devices=[]):  # the modules' own initialisation draws from torch's global RNG: kept
        embed = init(Embeddings(space.vocab_size, space.max_positions, d))
        head = init(Head(d, space.vocab_size))
        layers = {(e, f): init(MeRinoLayer(e, f, space.head_dim, space.activation))
                  for e, f in sorted({(e, int(f)) for i, e in enumerate(widths) for f in space.ffn_table[i]})}
        pairs = sorted({(d, e) for e in widths if e != d} | {(a, b) for a in widths for b in widths if a < b})
        inputs = {(a, b): init(nn.Linear(a, b)) for a, b in pairs}
        outputs = {a: init(nn.Linear(a, d)) for a in sorted(e for e in widths if e != d)}

    ids = torch.randint(0, space.vocab_size, (batch, new), generator=generator)
    pos = torch.arange(past, past + new).expand(batch, new)
    out: dict[str, tuple[Any, tuple[Any, ...]]] = {"embedding": (embed, (ids, pos))}
    out["head"] = (head, (randn(batch, last, d),))
    for (e, f), layer in layers.items():
        x = randn(batch, new, e)
        if phase == "prefill" and not onnx:
            out[f"layer {e}x{f}"] = (layer, (x,))
            continue
        kv = [randn(batch, e // space.head_dim, past, space.head_dim) for _ in range(2)]
        mask = (torch.arange(past + new)[None, :] <= torch.arange(past, past + new)[:, None],) if onnx else ()
        out[f"layer {e}x{f}"] = (CachedLayer(layer), (x, *kv, *mask))
    for (a, b), linear in inputs.items():
        out[f"input {a}->{b}"] = (linear, (randn(batch, new, a),))
    for a, linear in outputs.items():
        out[f"output {a}->{d}"] = (linear, (randn(batch, last, a),))
    return out
