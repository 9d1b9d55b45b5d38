"""The MeRino network in pure PyTorch (spec section 1).

Token embedding ``V x D`` tied with the LM head, learned positions ``max_positions x D``,
linear projections (with bias) wherever consecutive widths differ (``D -> E_1``,
``E_{i-1} -> E_i``, ``E_N -> D``), blocks of pre-LN transformer layers (ALBERT-style weight
sharing inside a block when ``shared``), and a final ``LayerNorm(D)``. Attention runs through
``torch.nn.functional.scaled_dot_product_attention``. The unique parameters of the module are
exactly :class:`~mpsolve.costs.ParamsCost` of its architecture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mpsolve.costs import ParamsCost
from mpsolve.merino_model._errors import ModelInputError, check_id_range, check_init_std
from mpsolve.merino_model._generation import (
    check_length,
    check_prompts,
    check_special_ids,
    check_streamer,
    next_tokens,
    sampling_generator,
    torch_seed,
)
from mpsolve.spaces import Architecture, Block, resolve_architecture
from mpsolve.utils.errors import ArchitectureError
from mpsolve.utils.memory import check_memory
from mpsolve.utils.validation import check_integer, is_integer

__all__ = [
    "ACTIVATIONS",
    "CausalLMOutput",
    "KVCache",
    "MeRinoBlock",
    "MeRinoForCausalLM",
    "MeRinoLayer",
    "build",
    "causal_lm_loss",
    "resolve_architecture",
]

ACTIVATIONS: dict[str, Any] = {
    "gelu": lambda: nn.GELU(),
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "gelu_new": lambda: nn.GELU(approximate="tanh"),
    "relu": lambda: nn.ReLU(),
    "silu": lambda: nn.SiLU(),
}


@dataclass
class CausalLMOutput:
    """What :meth:`MeRinoForCausalLM.forward` returns."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    past_key_values: KVCache | Any | None = None


@dataclass(eq=False, repr=False)  # identity equality, as a cache object
class KVCache:
    """Keys and values of every layer *application*, in application order.

    A shared layer applied ``L`` times fills ``L`` slots. Any object with the same
    ``update``/``get_seq_length`` methods (e.g. ``transformers.DynamicCache``) works too.
    """

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``(batch, heads, new, head_dim)`` keys/values to slot ``layer_idx``; return the full ones."""
        if layer_idx == len(self.keys):
            self.keys.append(key)
            self.values.append(value)
        elif layer_idx < len(self.keys):
            self.keys[layer_idx] = torch.cat([self.keys[layer_idx], key], dim=-2)
            self.values[layer_idx] = torch.cat([self.values[layer_idx], value], dim=-2)
        else:
            raise ModelInputError(f"cache slot {layer_idx} written before slot {len(self.keys)}")
        return self.keys[layer_idx], self.values[layer_idx]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of cached positions."""
        return self.keys[layer_idx].shape[-2] if layer_idx < len(self.keys) else 0

    def __len__(self) -> int:
        return len(self.keys)


# pytree nodes, so that torch.export / torch.compile can trace a forward that takes or returns them
for _output_type in (CausalLMOutput, KVCache):
    torch.export.register_dataclass(_output_type, serialized_type_name=f"mpsolve.{_output_type.__name__}")


class MeRinoLayer(nn.Module):
    """Pre-LN transformer layer: LN, fused QKV, SDPA, out-proj; LN, FFN up, activation, FFN down."""

    def __init__(self, embed_dim: int, ffn_dim: int, head_dim: int, activation: str = "gelu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ArchitectureError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        self.num_heads = embed_dim // head_dim
        self.head_dim = head_dim
        self.attn_norm = nn.LayerNorm(embed_dim)
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.ffn_norm = nn.LayerNorm(embed_dim)
        self.ffn_up = nn.Linear(embed_dim, ffn_dim)
        self.act = ACTIVATIONS[activation]()
        self.ffn_down = nn.Linear(ffn_dim, embed_dim)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = True,
        cache: KVCache | Any | None = None,
        cache_slot: int = 0,
    ) -> torch.Tensor:
        x = x + self._attention(x, attn_mask, is_causal, cache, cache_slot)  # its temporaries freed before the FFN
        return x + self.ffn_down(self.act(self.ffn_up(self.ffn_norm(x))))

    def _attention(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None, is_causal: bool, cache: KVCache | Any | None,
        cache_slot: int,
    ) -> torch.Tensor:
        b, t, e = x.shape
        qkv = self.qkv(self.attn_norm(x)).view(b, t, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if cache is not None:  # copies: views would keep the whole fused projection, queries too, in the cache
            k, v = cache.update(k.contiguous(), v.contiguous(), cache_slot)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal and attn_mask is None)
        return self.out_proj(a.transpose(1, 2).reshape(b, t, e))


class MeRinoBlock(nn.Module):
    """An optional input projection and ``layers`` applications of one (shared) or ``layers`` layers."""

    def __init__(self, in_dim: int, block: Block, architecture: Architecture) -> None:
        super().__init__()
        self.proj_in = nn.Linear(in_dim, block.embed_dim) if in_dim != block.embed_dim else None
        copies = 1 if architecture.shared else block.layers
        self.layers = nn.ModuleList(
            MeRinoLayer(block.embed_dim, block.ffn_dim, architecture.head_dim, architecture.activation)
            for _ in range(copies)
        )
        self.applications = block.layers

    def applied_layers(self) -> Iterator[MeRinoLayer]:
        """The layer modules in application order (one module repeated when shared)."""
        for i in range(self.applications):
            yield self.layers[i % len(self.layers)]


class MeRinoForCausalLM(nn.Module):
    """A MeRino decoder-only language model; see :func:`build` for a seeded, initialised one.

    Args:
        architecture: the architecture (blocks and model constants).
    """

    def __init__(self, architecture: Architecture) -> None:
        super().__init__()
        arch = resolve_architecture(architecture)
        self.architecture = arch
        d = arch.embed_proj_dim
        self.embed_tokens = nn.Embedding(arch.vocab_size, d)
        self.embed_positions = nn.Embedding(arch.max_positions, d)
        widths = [d, *arch.embed_dims]
        self.blocks = nn.ModuleList(MeRinoBlock(widths[i], b, arch) for i, b in enumerate(arch.blocks))
        self.proj_out = nn.Linear(widths[-1], d) if widths[-1] != d else None
        self.final_norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, arch.vocab_size, bias=False)
        self.lm_head.weight = self.embed_tokens.weight

    @torch.no_grad()
    def init_weights(self, std: float = 0.02, seed: int | None = 0) -> None:
        """Re-initialise: linear and embedding weights ``N(0, std)``, biases 0, norms 1/0.

        The width projections between blocks (and to and from ``D``) are the exception: they
        carry the residual stream itself, so they get ``N(0, 1 / fan_in)``, which keeps its
        scale. At ``std`` they would shrink it by ``std * sqrt(fan_in)`` (about 5x for
        ``fan_in=128``) at each width change; in a byte-level run on 1 M bytes that cost a
        model with projections 0.55 nats/byte of validation loss (3.25 vs 2.70).

        Args:
            std: standard deviation of the Gaussian weights.
            seed: seed of the ``torch.Generator`` drawing them (``None``: torch's global RNG).
        """
        std = check_init_std(std)
        seed = torch_seed(seed)
        generators: dict[torch.device, torch.Generator] = {}

        def generator(device: torch.device) -> torch.Generator | None:
            if seed is None or device.type == "meta":
                return None
            if device not in generators:
                generators[device] = torch.Generator(device=device).manual_seed(seed)
            return generators[device]

        projections = {id(p.weight) for p in [*(b.proj_in for b in self.blocks), self.proj_out] if p is not None}
        seen: set[int] = set()
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)) and id(module.weight) not in seen:
                seen.add(id(module.weight))
                w_std = module.weight.shape[1] ** -0.5 if id(module.weight) in projections else std
                nn.init.normal_(module.weight, mean=0.0, std=w_std, generator=generator(module.weight.device))
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        past_key_values: KVCache | Any | None = None,
        use_cache: bool = False,
        logits_to_keep: int = 0,
        position_ids: torch.Tensor | None = None,
    ) -> CausalLMOutput:
        """Logits (and the shifted next-token loss when ``labels`` are given).

        Args:
            input_ids: ``(batch, seq)`` token ids (the new tokens only when a cache is given).
            attention_mask: ``(batch, past + seq)`` 1 for real tokens, 0 for (left) padding.
            labels: ``(batch, seq)`` targets, shifted inside; ``-100`` is ignored.
            past_key_values: a cache from a previous call (:class:`KVCache` or a HF ``Cache``).
            use_cache: return the (created or updated) cache as ``past_key_values``.
            logits_to_keep: compute logits only for the last ``k`` positions; 0 means all.
            position_ids: ``(batch, seq)`` positions; by default counted from the cache length
                (skipping left padding when an attention mask is given).
        """
        input_ids = _check_input_ids(input_ids, self.embed_tokens.num_embeddings)
        if labels is not None and logits_to_keep:
            raise ModelInputError("labels need the logits of every position; pass logits_to_keep=0 with labels")
        if not is_integer(logits_to_keep) or logits_to_keep < 0:  # numpy integers too
            raise ModelInputError(f"logits_to_keep must be a non-negative int, got {logits_to_keep!r}")
        logits_to_keep = int(logits_to_keep)
        b, t = input_ids.shape
        cache = past_key_values
        if cache is None and use_cache:
            cache = KVCache()
        past = _check_cache(cache, sum(block.applications for block in self.blocks), b)
        _check_attention_mask(attention_mask, b, past + t)
        if position_ids is None:
            position_ids = self._position_ids(b, t, past, attention_mask, input_ids.device)
        else:
            _check_position_ids(position_ids, b, t, self.architecture.max_positions)
        attn_mask = self._attention_mask(t, past, attention_mask, input_ids.device)
        logits = self._logits(input_ids, position_ids, attn_mask, t > 1, cache, logits_to_keep)
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        return CausalLMOutput(logits=logits, loss=loss, past_key_values=cache if use_cache else None)

    def _logits(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        attn_mask: torch.Tensor | None,
        is_causal: bool,
        cache: KVCache | Any | None,
        logits_to_keep: int = 0,
    ) -> torch.Tensor:
        """The network itself, without input checks (what the ONNX export traces).

        Embeddings, the blocks (filling ``cache`` slots in application order), the projection
        back to ``D``, the final norm and the tied head.
        """
        h = self.embed_tokens(input_ids) + self.embed_positions(position_ids)
        slot = 0
        for block in self.blocks:
            if block.proj_in is not None:
                h = block.proj_in(h)
            for layer in block.applied_layers():
                h = layer(h, attn_mask=attn_mask, is_causal=is_causal, cache=cache, cache_slot=slot)
                slot += 1
        if logits_to_keep:
            h = h[:, -logits_to_keep:]
        if self.proj_out is not None:
            h = self.proj_out(h)
        return self.lm_head(self.final_norm(h))

    def _position_ids(
        self, b: int, t: int, past: int, attention_mask: torch.Tensor | None, device: torch.device
    ) -> torch.Tensor:
        limit = self.architecture.max_positions
        if past + t > limit:
            raise ModelInputError(
                f"sequence of {past + t} tokens exceeds max_positions={limit}; shorten the input "
                "or build the architecture with a larger max_positions"
            )
        if attention_mask is None:
            return torch.arange(past, past + t, device=device).expand(b, t)
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past:]

    @staticmethod
    def _attention_mask(
        t: int, past: int, attention_mask: torch.Tensor | None, device: torch.device
    ) -> torch.Tensor | None:
        """A boolean ``(batch, 1, t, past + t)`` mask, or ``None`` when plain causal masking suffices."""
        padded = attention_mask is not None and not bool(attention_mask.all())
        if not padded and (past == 0 or t == 1):
            return None
        k = past + t
        allowed = torch.ones(t, k, dtype=torch.bool, device=device).tril(diagonal=past)[None, None]
        if padded:
            allowed = allowed & attention_mask.bool()[:, None, None, :]
            # a padding query would see no key at all; let it see itself so SDPA stays finite
            own = torch.arange(k, device=device)[None, :] == torch.arange(past, k, device=device)[:, None]
            allowed = allowed | own[None, None]
        return allowed

    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int = 32,
        *,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | None = None,
        pad_token_id: int | None = None,
        attention_mask: torch.Tensor | None = None,
        seed: int | torch.Generator | None = None,
        streamer: Any = None,
    ) -> torch.Tensor:
        """Continue ``input_ids`` by up to ``max_new_tokens`` tokens with a KV cache.

        Greedy unless ``do_sample``; sampling applies ``temperature``, then ``top_k``, then
        ``top_p`` (nucleus) filtering. Sequences that emit ``eos_token_id`` are padded with
        ``pad_token_id`` (default: the EOS id) until all are done.

        Args:
            input_ids: ``(batch, seq)`` prompt (left-padded when ``attention_mask`` marks padding).
            seed: seed or ``torch.Generator`` of the sampling (``None``: torch's global RNG).
            streamer: e.g. ``transformers.TextStreamer``: gets the prompt, each step's tokens, then ``end()``.

        Returns:
            ``(batch, seq + new)`` prompt and generated tokens.
        """
        max_new_tokens = check_integer(max_new_tokens, "max_new_tokens", 0, ModelInputError)
        input_ids = _check_input_ids(input_ids, self.embed_tokens.num_embeddings)
        generator = sampling_generator(do_sample, temperature, top_k, top_p, seed, input_ids.device)
        check_streamer(streamer)
        check_prompts(tuple(input_ids.shape), max_new_tokens)
        check_length(input_ids.shape[1] + max(0, max_new_tokens - 1), self.architecture.max_positions)
        check_special_ids(eos_token_id, pad_token_id, self.embed_tokens.num_embeddings)
        if isinstance(attention_mask, torch.Tensor) and attention_mask.shape == input_ids.shape:
            real = attention_mask.bool()
            if bool((real[:, :-1] & ~real[:, 1:]).any()):  # new tokens would follow the padding
                raise ModelInputError("attention_mask marks padding after a real token (right padding): pad prompts "
                                      "on the left (tokenizer.padding_side = 'left')")
            if input_ids.shape[1] and not bool(real.any(dim=1).all()):
                raise ModelInputError("a row of attention_mask has no real token: give every prompt one")
        pad = eos_token_id if pad_token_id is None else pad_token_id
        if streamer is not None:
            streamer.put(input_ids.cpu())
        sequences = input_ids
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        cache: KVCache | None = None
        step_ids = input_ids
        for _ in range(max_new_tokens):
            out = self(step_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            token = next_tokens(out.logits[:, -1], do_sample, temperature, top_k, top_p, generator)
            if eos_token_id is not None:
                token = torch.where(done, torch.full_like(token, pad), token)
                done = done | (token == eos_token_id)
            sequences = torch.cat([sequences, token[:, None]], dim=1)
            if streamer is not None:
                streamer.put(token.cpu())
            if attention_mask is not None:
                attention_mask = torch.cat([attention_mask, attention_mask.new_ones(attention_mask.shape[0], 1)], 1)
            if bool(done.all()):
                break
            # finished rows keep feeding EOS (a valid token) while their output is padded
            step_ids = token[:, None] if eos_token_id is None else torch.where(done, eos_token_id, token)[:, None]
        if streamer is not None:
            streamer.end()
        return sequences


def _check_input_ids(input_ids: Any, vocab: int) -> torch.Tensor:
    """``input_ids`` as ids ``nn.Embedding`` takes (int32 or int64: a ``uint8`` tensor of bytes becomes int64);
    refuse token ids that are not a ``(batch, seq)`` integer tensor of ids in ``[0, vocab)``."""
    if not isinstance(input_ids, torch.Tensor):
        raise ModelInputError(f"input_ids must be a torch tensor of token ids, got {type(input_ids).__name__}")
    if input_ids.dim() != 2:
        raise ModelInputError(f"input_ids must have shape (batch, seq), got {tuple(input_ids.shape)}")
    if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
        raise ModelInputError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    # the range is data: reading it while torch.export / torch.compile traces would fail or break the graph
    if input_ids.numel() and not torch.compiler.is_compiling():
        check_id_range(int(input_ids.min()), int(input_ids.max()), vocab)
    return input_ids if input_ids.dtype in (torch.int32, torch.int64) else input_ids.long()


def _check_cache(cache: Any, slots: int, batch: int) -> int:
    """The positions ``cache`` holds (0 for ``None``); refuse what is not a growing cache of this model's
    ``slots`` layer applications (a static cache, a legacy tuple, another model's cache)."""
    if cache is None:
        return 0
    if not (callable(getattr(cache, "update", None)) and callable(getattr(cache, "get_seq_length", None))):
        raise ModelInputError(f"past_key_values must be a KVCache or a transformers Cache (e.g. DynamicCache), got "
                              f"{type(cache).__name__}: pass the cache a previous call returned")
    if getattr(cache, "is_compileable", False) is True:  # transformers' StaticCache: keys of a fixed length
        raise ModelInputError(f"MeRino needs a cache that grows with the sequence (KVCache or DynamicCache), got "
                              f"{type(cache).__name__}: drop cache_implementation='static' (or pass a DynamicCache)")
    past = cache.get_seq_length()
    if torch.compiler.is_compiling():
        return past
    lengths = [cache.get_seq_length(i) for i in range(slots + 1)]
    if past and lengths != [past] * slots + [0]:
        filled = sum(1 for n in lengths if n)
        raise ModelInputError(f"past_key_values holds {filled} layer slot(s) of lengths {lengths[:slots + 1]}, but "
                              f"this model has {slots} layer applications: pass the cache this model returned")
    hf_layers = getattr(cache, "layers", [])  # transformers' Cache: one layer object per slot, its .keys a tensor
    layers = cache.keys if isinstance(cache, KVCache) else [getattr(x, "keys", None) for x in hf_layers]
    if past and layers and isinstance(layers[0], torch.Tensor) and layers[0].shape[0] != batch:
        raise ModelInputError(f"past_key_values holds {layers[0].shape[0]} sequence(s) but input_ids {batch}: pass the "
                              "new tokens of the same batch the cache was filled with")
    return past


def _check_attention_mask(attention_mask: Any, b: int, k: int) -> None:
    """Refuse an attention mask that is not a ``(batch, past + seq) = (b, k)`` tensor of 0 and 1."""
    if attention_mask is None:
        return
    if not isinstance(attention_mask, torch.Tensor):
        raise ModelInputError(f"attention_mask must be a torch tensor of 0 and 1, got {type(attention_mask).__name__}")
    if attention_mask.shape != (b, k):
        raise ModelInputError(
            f"attention_mask must have shape (batch, past + seq) = {(b, k)}, got {tuple(attention_mask.shape)}"
        )
    # 0.5 or 2 would count as padding for the positions but as a real token for the attention
    if not torch.compiler.is_compiling() and not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ModelInputError("attention_mask must hold 0 (padding) and 1 (real token) only, got "
                              f"{sorted({float(v) for v in attention_mask.unique()[:6].tolist()})}")


def _check_position_ids(position_ids: Any, b: int, t: int, limit: int) -> None:
    """Refuse position ids that are not ``(batch or 1, seq)`` integers in ``[0, max_positions)``."""
    if not isinstance(position_ids, torch.Tensor) or position_ids.dtype not in (torch.int32, torch.int64):
        kind = position_ids.dtype if isinstance(position_ids, torch.Tensor) else type(position_ids).__name__
        raise ModelInputError(f"position_ids must be an int64 torch tensor, got {kind}")
    if position_ids.dim() != 2 or position_ids.shape[0] not in (1, b) or position_ids.shape[1] != t:
        raise ModelInputError(f"position_ids must have shape (batch, seq) = {(b, t)}, got {tuple(position_ids.shape)}")
    if position_ids.numel() and not torch.compiler.is_compiling():
        low, high = int(position_ids.min()), int(position_ids.max())
        if low < 0 or high >= limit:
            why = "" if high < limit else (": the sequence is longer than the model's max_positions; shorten the "
                                           "prompt or max_new_tokens, or build the architecture with a larger one")
            raise ModelInputError(f"position_ids must be in [0, {limit}) (max_positions), got positions from {low} to "
                                  f"{high}{why}")


def causal_lm_loss(
    logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: int | torch.Tensor | None = None
) -> torch.Tensor:
    """Next-token cross entropy: position ``i`` predicts ``labels[:, i + 1]``; ``-100`` is ignored.

    The mean over counted targets, or their sum divided by ``num_items_in_batch`` when given
    (gradient accumulation, as ``transformers.Trainer`` does it).
    """
    if labels.shape != logits.shape[:2]:
        raise ModelInputError(f"labels must have shape {tuple(logits.shape[:2])}, got {tuple(labels.shape)}")
    vocab = logits.shape[-1]
    if labels.dtype.is_floating_point or not bool(((labels == -100) | ((labels >= 0) & (labels < vocab))).all()):
        raise ModelInputError(f"labels must be token ids in [0, {vocab}) or -100 (ignored), got {labels.dtype} "
                              f"values from {labels.min().item()} to {labels.max().item()}")
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    shift_labels = labels[:, 1:].reshape(-1).to(logits.device)
    if num_items_in_batch is None:
        return F.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
    return F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum") / num_items_in_batch


def check_fits_in_memory(architecture: Architecture, dtype: torch.dtype = torch.float32) -> int:
    """The parameter count of ``architecture``'s model; raises if its weights exceed the free memory.

    The count is the ``params`` cost's, exact for every model (tested): nothing is allocated or laid out to find
    it (laying the model out on the ``meta`` device imported ``torch._dynamo`` into every process that built one).
    """
    n_params = int(ParamsCost().of(architecture))
    need = n_params * torch.finfo(dtype).bits // 8
    check_memory(need, f"a model of {n_params:,} parameters in {dtype}", "choose a smaller architecture",
                 ModelInputError)
    return n_params


def build(
    architecture: Architecture | str | Path | Mapping[str, Any],
    *,
    seed: int | None = 0,
    init_std: float = 0.02,
    **overrides: Any,
) -> MeRinoForCausalLM:
    """A freshly initialised MeRino model.

    Args:
        architecture: an :class:`Architecture`, a preset name (``"merino-64m"``), a JSON file
            or the JSON ``architecture`` object (or a design result holding one).
        seed: seed of the weight initialisation (``None``: torch's global RNG).
        init_std: standard deviation of the Gaussian weights.
        **overrides: architecture fields to replace, e.g. ``vocab_size=256, shared=False``.

    Example:
        >>> model = build("merino-52m", vocab_size=256, embed_proj_dim=64, max_positions=64)
    """
    arch = resolve_architecture(architecture)
    if overrides:
        unknown = set(overrides) - set(arch.to_dict())
        if unknown:
            raise ArchitectureError(
                f"unknown architecture override(s) {sorted(unknown)}; known: {sorted(arch.to_dict())}"
            )
        arch = arch.replace(**overrides)
    init_std = check_init_std(init_std)
    check_integer(seed, "seed", 0, ModelInputError, optional=True)
    check_fits_in_memory(arch)
    model = MeRinoForCausalLM(arch)
    model.init_weights(std=init_std, seed=seed)
    return model
