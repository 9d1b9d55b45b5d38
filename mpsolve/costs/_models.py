"""Exact, vectorised cost models: parameters, FLOPs, peak inference memory.

Every cost model maps a :class:`~mpsolve.spaces.DecodedBatch` (per-block ``E``, ``F``, ``L``
of ``n`` architectures) plus the model constants (``vocab_size``, ``embed_proj_dim``,
``max_positions``, ``shared``; a space or an architecture carries them) to an ``(n,)`` float
array. Conventions follow spec section 1: params count every unique parameter (biases and
norms included, the tied embedding once, a shared block once); FLOPs are 2 per
multiply-accumulate for one forward pass of ``seq_len`` tokens at batch 1.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from mpsolve.spaces import Architecture, DecodedBatch, resolve_architecture
from mpsolve.utils.errors import ArchitectureError, MpsolveError
from mpsolve.utils.params import construct, constructor_options
from mpsolve.utils.registry import Registry
from mpsolve.utils.validation import check_bool, check_integer, check_positive_number, per_design

__all__ = [
    "CostModel",
    "ParamsCost",
    "FlopsCost",
    "MemoryCost",
    "ModelConstants",
    "batch_of",
    "checked_costs",
    "get_cost",
    "register_cost",
    "COSTS",
]


class ModelConstants(Protocol):
    vocab_size: int
    embed_proj_dim: int
    max_positions: int
    head_dim: int
    shared: bool
    activation: str


def batch_of(arch: Architecture) -> DecodedBatch:
    """A one-row :class:`DecodedBatch` of an architecture (for costs of a single design)."""
    if not isinstance(arch, Architecture):
        raise ArchitectureError(f"expected an Architecture, got {type(arch).__name__}; read names and files with "
                                "mpsolve.spaces.resolve_architecture")
    return DecodedBatch(
        embed_dims=np.asarray([arch.embed_dims], dtype=np.int64),
        ffn_dims=np.asarray([arch.ffn_dims], dtype=np.int64),
        layers=np.asarray([arch.layers], dtype=np.int64),
    )


def layer_params(E: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Parameters of one pre-LN layer: 2 LNs, fused QKV + out-proj, FFN up/down, all with biases."""
    return 4 * E * E + 2 * E * F + 9 * E + F


def projection_shapes(batch: DecodedBatch, embed_proj_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """In/out widths of the projections ``D->E_1``, ``E_{i-1}->E_i``, ``E_N->D``: ``(n, N+1)``
    arrays, with in == out where no projection exists."""
    E = batch.embed_dims
    D = np.full((E.shape[0], 1), embed_proj_dim, dtype=np.int64)
    return np.concatenate([D, E], axis=1), np.concatenate([E, D], axis=1)


def _projections(batch: DecodedBatch, embed_proj_dim: int, bias: bool) -> np.ndarray:
    fan_in, fan_out = projection_shapes(batch, embed_proj_dim)
    present = fan_in != fan_out
    return np.sum(present * (fan_in * fan_out + (fan_out if bias else 0)), axis=1)


def _forward_flops(
    batch: DecodedBatch, constants: ModelConstants, tokens: int, attended: int, include_lm_head: bool
) -> np.ndarray:
    """FLOPs (2 per MAC) of a forward over ``tokens`` new positions, each attending to ``attended`` positions."""
    E, F, L = batch.embed_dims.astype(np.float64), batch.ffn_dims.astype(np.float64), batch.layers
    per_layer = tokens * (4 * E * E + 2 * E * F) + 2.0 * tokens * attended * E
    macs = np.sum(L * per_layer, axis=1) + tokens * _projections(batch, constants.embed_proj_dim, bias=False)
    if include_lm_head:
        macs = macs + float(tokens) * constants.embed_proj_dim * constants.vocab_size
    return 2.0 * macs


class CostModel(ABC):
    """A cost of an architecture that a budget can bound; vectorised over a batch."""

    name: str = ""
    unit: str = ""

    @abstractmethod
    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        """The cost of every architecture in ``batch`` as an ``(n,)`` float array; ``+inf`` for a
        design no budget admits (one the cost cannot count or rules out). NaN and ``-inf`` are
        refused where a problem evaluates them (``-inf`` would fit every budget, as if free)."""

    def of(self, arch: Architecture | str | Mapping[str, Any]) -> float:
        """The cost of one architecture (or a preset name, a JSON file or object of one)."""
        arch = resolve_architecture(arch)
        what = f"the cost {self.name!r}"
        return float(checked_costs(per_design(self.evaluate(batch_of(arch), arch), 1, what), what, lambda i: arch)[0])

    def is_additive(self) -> bool:
        """Whether the cost is a sum of per-block terms plus projection terms (linear in CP-SAT)."""
        return False

    def is_monotone(self) -> bool:
        """Whether the cost never falls as a block gets deeper nor, unless it is additive, as its FFN
        ratio grows: then the cheapest design of each width order is known without a search, and
        a budget below all of them is proved infeasible before solving (every built-in cost; the
        feasibility check finds an additive cost's cheapest ratio itself). ``False`` (the default
        for a cost of your own): the solvers decide."""
        return False

    def options(self) -> dict[str, Any]:
        """The constructor arguments (for results, problem files and comparisons): by default each
        parameter of ``__init__``, read from the attribute of the same name."""
        return constructor_options(self)

    def positions(self) -> int | None:
        """The token positions the counted workload holds (``None``: not tied to one), which a
        model must have (``max_positions``) to run it."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.options() == other.options()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.options().items()))))


#: every cost model by name (``latency_ms``, ``decode_ms`` and ``memory_bytes`` are aliases)
COSTS: Registry[type[CostModel]] = Registry(
    "cost", aliases={"latency_ms": "latency", "decode_ms": "decode", "memory_bytes": "memory"}, sort=True
)


def register_cost(cls: type[CostModel], *, replace: bool = False) -> type[CostModel]:
    """Class decorator that makes a cost model available by its ``name`` (in budgets,
    problem files and the CLI); a taken name (a built-in's included) is refused unless
    ``replace``."""
    if not (isinstance(cls, type) and issubclass(cls, CostModel)) or not cls.name:
        raise MpsolveError("register_cost expects a CostModel subclass with a non-empty `name`")
    COSTS.add(cls.name, cls, replace)
    return cls


@register_cost
class ParamsCost(CostModel):
    """Unique parameters (shared blocks counted once unless the model is unshared)."""

    name = "params"
    unit = ""

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        E, F, L = batch.embed_dims, batch.ffn_dims, batch.layers
        copies = 1 if constants.shared else L
        D = constants.embed_proj_dim
        embeddings = constants.vocab_size * D + constants.max_positions * D
        blocks = np.sum(copies * layer_params(E, F), axis=1)
        return (embeddings + 2 * D + blocks + _projections(batch, D, bias=True)).astype(np.float64)

    def is_additive(self) -> bool:
        return True

    def is_monotone(self) -> bool:
        return True


@register_cost
class FlopsCost(CostModel):
    """FLOPs of one forward pass (2 per MAC), ``seq_len`` tokens, batch 1.

    Args:
        seq_len: sequence length ``n`` (the paper uses 1024).
        include_lm_head: also count the LM head (``n * D * V`` MACs).
    """

    name = "flops"
    unit = "FLOPs"

    def __init__(self, seq_len: int = 1024, include_lm_head: bool = False) -> None:
        _check_count(seq_len, "seq_len")
        self.seq_len = int(seq_len)
        self.include_lm_head = check_bool(include_lm_head, "include_lm_head")

    def options(self) -> dict[str, Any]:
        return {"seq_len": self.seq_len, "include_lm_head": self.include_lm_head}

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        return _forward_flops(batch, constants, self.seq_len, self.seq_len, self.include_lm_head)

    def positions(self) -> int:
        return self.seq_len

    def is_additive(self) -> bool:
        return True

    def is_monotone(self) -> bool:
        return True


@register_cost
class DecodeFlopsCost(FlopsCost):
    """FLOPs of generating one token with the KV cache (2 per MAC), ``seq_len`` cached positions, batch 1.

    Every layer application's weights once, its attention over the ``seq_len + 1`` positions, the
    width projections, and the LM head (``D * V`` MACs; generation needs the new token's logits).
    The per-token work of a design with a wide tied embedding or shared layers is much larger than
    its ``flops / seq_len`` suggests; where decoding is compute-bound this is the budget to bound
    (designs made under it, timed against OPT-350M: ``benchmarks/results/design_speedup.md``).

    Args:
        seq_len: positions already in the KV cache.
        include_lm_head: count the LM head.
    """

    name = "decode_flops"

    def __init__(self, seq_len: int = 1024, include_lm_head: bool = True) -> None:
        super().__init__(seq_len, include_lm_head)

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        return _forward_flops(batch, constants, 1, self.seq_len + 1, self.include_lm_head)

    def positions(self) -> int:
        return self.seq_len + 1  # the cached positions and the generated token


@register_cost
class MemoryCost(CostModel):
    """Peak inference memory in bytes: what the built torch model holds in a prefill that fills its KV cache.

    The weights, the KV cache of every layer application, and the largest working set of a block:
    the layer's input with its temporaries (the fused QKV projection and two ``seq_len x E``
    tensors of the attention, or the FFN's up-projection and activation), or the embeddings' three
    ``seq_len x D`` tensors if more; plus the last position's logits. The live tensors' peak is at
    most this (but for the position ids, 8 bytes a token; 16 in a padded batch), and equal to it where the
    largest working set is the last block's (its cache is then full; a block before it holds less of the cache).
    Attention is fused: torch's SDPA holds no ``seq_len x seq_len`` scores, with a padding mask or
    without (a runtime that materialises them holds more). A padded batch (``padded``) adds its
    boolean mask, ``batch_size x seq_len x seq_len`` bytes, and SDPA on CPU converts that mask into one of
    activations for each call: ``seq_len`` values a token beside the layer's input, QKV and SDPA's output
    (``5 E``), the largest working set once ``seq_len`` is a few times ``E``. An allocator's slack is not counted
    (glibc's heap keeps freed tensors): measured against peak resident memory both ways in
    ``benchmarks/results/`` (``memory*.md``); to budget for it, scale ``bytes_per_activation``.

    Args:
        seq_len: tokens held in the KV cache.
        batch_size: sequences processed together.
        bytes_per_param: 4 for fp32, 2 for fp16, 1 for int8 weights.
        bytes_per_activation: bytes per activation value.
        padded: the prompts of a batch are padded to one length (an ``attention_mask`` with padding),
            so the model holds a boolean attention mask through the prefill.
    """

    name = "memory"
    unit = "B"

    def __init__(
        self,
        seq_len: int = 1024,
        batch_size: int = 1,
        bytes_per_param: float = 4,
        bytes_per_activation: float = 4,
        padded: bool = False,
    ) -> None:
        for label, v in (("seq_len", seq_len), ("batch_size", batch_size)):
            _check_count(v, label)
        self.seq_len, self.batch_size = int(seq_len), int(batch_size)
        self.bytes_per_param = check_positive_number(bytes_per_param, "bytes_per_param")  # numpy numbers too
        self.bytes_per_activation = check_positive_number(bytes_per_activation, "bytes_per_activation")
        self.padded = check_bool(padded, "padded")

    def options(self) -> dict[str, Any]:
        return {
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
            "bytes_per_param": self.bytes_per_param,
            "bytes_per_activation": self.bytes_per_activation,
            "padded": self.padded,
        }

    def positions(self) -> int:
        return self.seq_len

    def is_monotone(self) -> bool:
        return True

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        E, L = batch.embed_dims.astype(np.float64), batch.layers
        weights = ParamsCost().evaluate(batch, constants) * self.bytes_per_param
        cache = np.sum(L * 2.0 * self.seq_len * self.batch_size * E, axis=1) * self.bytes_per_activation
        logits = self.batch_size * constants.vocab_size * self.bytes_per_activation
        mask = float(self.batch_size) * self.seq_len**2 if self.padded else 0.0  # one byte a query-key pair
        return weights + cache + np.max(self.working_set(E, batch.ffn_dims, constants), axis=1) + logits + mask

    def working_set(self, embed_dims: np.ndarray, ffn_dims: np.ndarray, constants: ModelConstants) -> np.ndarray:
        """Bytes a block of widths ``(E, F)`` holds beyond the weights and the KV cache, elementwise.

        A layer's input (its caller holds it through the layer) with the QKV output and the attention's output
        and projection (``6 E`` a token: SDPA lays its output out as ``(batch, seq, heads, head_dim)``, so
        the reshape is a view), or with the residual sum, the FFN's up-projection and activation
        (``2 E + 2 F``); at least the embeddings' (token, position, sum: ``3 D``). A width projection's
        ``E_in + E`` is less than a neighbour's: ``6 E_in`` (or ``3 D``) before it unless ``E > 5 E_in``, then ``6 E``.
        ``padded``: at least ``5 E + seq_len`` (SDPA's float copy of the mask, through its call).
        """
        E, F = np.asarray(embed_dims, dtype=np.float64), np.asarray(ffn_dims, dtype=np.float64)
        per_token = np.maximum(np.maximum(6 * E, 2 * E + 2 * F), 3.0 * constants.embed_proj_dim)
        if self.padded:  # in SDPA's call: the input, QKV, its output, and its float copy of the mask
            per_token = np.maximum(per_token, 5 * E + self.seq_len)
        return self.seq_len * self.batch_size * per_token * self.bytes_per_activation


def get_cost(spec: str | CostModel, **options: Any) -> CostModel:
    """A cost model from a name (with constructor options) or an instance."""
    if isinstance(spec, CostModel):
        if options:
            raise MpsolveError("options are only accepted with a cost given by name")
        spec.options()  # one of your own that does not keep its arguments: refused now, not in a result
        return spec
    cls = COSTS[spec]
    required = [p.name for p in inspect.signature(cls).parameters.values() if p.name not in options
                and p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if required:  # a latency cost needs its profile
        raise MpsolveError(f"cost {spec!r} needs the option {', '.join(required)}, e.g. "
                           f"{cls.__name__}({', '.join(f'{r}=...' for r in required)})")
    return construct(cls, options, f"cost {spec!r}")


def checked_costs(values: np.ndarray, what: str, design: Callable[[int], Any]) -> np.ndarray:
    """``values`` of a cost, or a one-line error naming ``what`` and ``design(i)`` of the first NaN (it would pass
    for over every budget) or ``-inf`` (under every budget, as if free); ``+inf`` is a design no budget admits."""
    bad = np.flatnonzero(np.isnan(values) | (values == -np.inf))
    if len(bad):
        value = "NaN" if np.isnan(values[bad[0]]) else "-inf"
        raise MpsolveError(f"{what} is {value} for {design(int(bad[0]))}: a cost is a number, or +inf for a design no "
                           "budget admits; check the cost's definition")
    return values


#: largest sequence length and batch size a cost accepts (its counts stay far inside float64)
MAX_COUNT = 2**30


def _check_count(value: Any, name: str) -> None:
    check_integer(value, name)
    if value > MAX_COUNT:
        raise MpsolveError(f"{name} {value} is above the largest supported value {MAX_COUNT:,}")
