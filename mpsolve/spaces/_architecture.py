"""The architecture of one MeRino model: blocks of shared transformer layers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mpsolve.utils.errors import ArchitectureError, shown
from mpsolve.utils.validation import check_integer, is_finite_number

__all__ = ["Block", "Architecture", "ffn_dim", "MODEL_CONSTANTS", "model_constants"]

#: the fields every architecture of a space shares (a space and an architecture both carry them)
MODEL_CONSTANTS = ("vocab_size", "embed_proj_dim", "max_positions", "head_dim", "shared", "activation")
#: activations the model builder implements
ACTIVATION_NAMES = ("gelu", "gelu_tanh", "gelu_new", "relu", "silu")
#: largest values accepted: with them, every parameter and FLOPs count stays exact in int64
#: (at most about 2^61 FLOPs), so no cost can overflow silently
LIMITS = {"embed_dim": 2**14, "ffn_ratio": 16, "layers": 64, "num_blocks": 32, "vocab_size": 2**22,
          "embed_proj_dim": 2**14, "max_positions": 2**16, "head_dim": 2**12}


def check_limit(value: Any, name: str, error: type[Exception]) -> None:
    """Raise ``error`` when ``value`` exceeds ``LIMITS[name]`` (values already checked positive)."""
    if value > LIMITS[name]:
        shown = repr(value) if len(repr(value)) <= 24 else f"{str(value)[:12]}... ({len(str(value))} digits)"
        raise error(f"{name} {shown} is above the largest supported value {LIMITS[name]:,}")


def check_model_constants(obj: Any, error: type[Exception]) -> None:
    """``shared`` a bool (Python or numpy), a known ``activation``, and sizes within :data:`LIMITS`."""
    if not isinstance(obj.shared, (bool, np.bool_)):
        raise error(f"shared must be true or false, got {shown(obj.shared)}")
    if obj.activation not in ACTIVATION_NAMES:
        raise error(f"unknown activation {shown(obj.activation)}; known: {', '.join(ACTIVATION_NAMES)}")
    for name in ("vocab_size", "embed_proj_dim", "max_positions", "head_dim"):
        check_limit(getattr(obj, name), name, error)


def model_constants(obj: Any) -> dict[str, Any]:
    """The :data:`MODEL_CONSTANTS` of an architecture, a space or a model config."""
    return {name: getattr(obj, name) for name in MODEL_CONSTANTS}


def ffn_dim(embed_dim: int, ffn_ratio: float) -> int:
    """FFN width ``F = round(r * E)`` (every grid of the presets makes this exact)."""
    return int(round(embed_dim * ffn_ratio))


@dataclass(frozen=True)
class Block:
    """``layers`` transformer layers of width ``embed_dim`` and FFN ratio ``ffn_ratio``."""

    embed_dim: int
    ffn_ratio: float
    layers: int

    @property
    def ffn_dim(self) -> int:
        return ffn_dim(self.embed_dim, self.ffn_ratio)

    def to_dict(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "ffn_ratio": self.ffn_ratio, "layers": self.layers}


@dataclass(frozen=True)
class Architecture:
    """A decoder-only transformer of the MeRino family (spec section 1).

    Args:
        blocks: the blocks, input to output; widths must be non-decreasing.
        vocab_size: vocabulary size ``V`` (token embedding tied with the LM head).
        embed_proj_dim: token-embedding width ``D``.
        max_positions: number of learned position embeddings.
        head_dim: attention head dimension (``heads = E / head_dim``).
        shared: whether the layers of a block share one set of weights.
    """

    blocks: tuple[Block, ...]
    vocab_size: int = 50272
    embed_proj_dim: int = 768
    max_positions: int = 2048
    head_dim: int = 64
    shared: bool = True
    activation: str = field(default="gelu")

    def __post_init__(self) -> None:
        if isinstance(self.blocks, (Block, str)) or not isinstance(self.blocks, Iterable):
            raise ArchitectureError(f"blocks must be a list of Block objects, got {shown(self.blocks)}")
        object.__setattr__(self, "blocks", tuple(self.blocks))
        self.validate()
        # as Python values: numpy ones (a grid read from an array) are not JSON, and an integer ffn_ratio would give
        # the architecture another to_json and digest than its own JSON round trip
        if not all(type(b.embed_dim) is int and type(b.ffn_ratio) is float and type(b.layers) is int
                   for b in self.blocks):  # (rebuilt only then: a predicate builds one per design)
            object.__setattr__(self, "blocks", tuple(Block(int(b.embed_dim), float(b.ffn_ratio), int(b.layers))
                                                     for b in self.blocks))
        for name in ("vocab_size", "embed_proj_dim", "max_positions", "head_dim"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "shared", bool(self.shared))  # np.bool_ is not JSON

    def validate(self) -> None:
        """Raise :class:`ArchitectureError` naming the first problem found."""
        if not self.blocks:
            raise ArchitectureError("an architecture needs at least one block")
        for name in ("vocab_size", "embed_proj_dim", "max_positions", "head_dim"):
            check_integer(getattr(self, name), name, error=ArchitectureError)
        check_model_constants(self, ArchitectureError)
        if len(self.blocks) > LIMITS["num_blocks"]:
            raise ArchitectureError(f"{len(self.blocks)} blocks is above the largest supported {LIMITS['num_blocks']}")
        for i, b in enumerate(self.blocks):
            if not isinstance(b, Block):
                raise ArchitectureError(f"block {i} is not a Block: {shown(b)}")
            check_integer(b.embed_dim, f"block {i}: embed_dim", error=ArchitectureError)
            if b.embed_dim % self.head_dim:
                raise ArchitectureError(
                    f"block {i}: embed_dim {b.embed_dim} is not a multiple of head_dim {self.head_dim}; "
                    f"use a multiple of {self.head_dim}"
                )
            check_integer(b.layers, f"block {i}: layers", error=ArchitectureError)
            # numpy numbers too (np.float32 is no float): a ratio read from an array is one
            if not (is_finite_number(b.ffn_ratio) and b.ffn_ratio > 0):
                raise ArchitectureError(f"block {i}: ffn_ratio must be a positive finite number, got "
                                        f"{shown(b.ffn_ratio)}")
            for name in ("embed_dim", "ffn_ratio", "layers"):
                check_limit(getattr(b, name), f"{name}", ArchitectureError)
            if abs(b.ffn_ratio * b.embed_dim - b.ffn_dim) > 1e-9 or b.ffn_dim < 1:
                raise ArchitectureError(
                    f"block {i}: ffn_ratio {shown(b.ffn_ratio)} times embed_dim {b.embed_dim} is not a positive integer"
                )
            if min(b.embed_dim, b.ffn_dim) < 2:  # log2(1) = 0: the entropy's depth penalty would divide by zero
                raise ArchitectureError(f"block {i}: widths of 1 (embed_dim {b.embed_dim}, FFN {b.ffn_dim}) are not "
                                        "supported; use 2 or more")
        widths = [b.embed_dim for b in self.blocks]
        for i in range(1, len(widths)):
            if widths[i] < widths[i - 1]:
                raise ArchitectureError(
                    f"widths must be non-decreasing with depth, but block {i} has embed_dim {widths[i]} "
                    f"< {widths[i - 1]} of block {i - 1}: reorder the blocks"
                )

    # -- derived quantities -------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Total number of layer applications ``L = sum_i L_i``."""
        return sum(b.layers for b in self.blocks)

    @property
    def embed_dims(self) -> tuple[int, ...]:
        return tuple(b.embed_dim for b in self.blocks)

    @property
    def ffn_dims(self) -> tuple[int, ...]:
        return tuple(b.ffn_dim for b in self.blocks)

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(b.layers for b in self.blocks)

    def replace(self, **changes: Any) -> Architecture:
        """A copy with some fields changed (``dataclasses.replace`` that re-validates)."""
        fields = {**self._fields(), **changes}
        return Architecture(**fields)

    def _fields(self) -> dict[str, Any]:
        return {"blocks": self.blocks, **model_constants(self)}

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON ``architecture`` object."""
        d = self._fields()
        d["blocks"] = [b.to_dict() for b in self.blocks]
        return d

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def digest(self) -> str:
        """A short fingerprint of the architecture (12 hex digits of its JSON's SHA-256), e.g. to name cached files."""
        return hashlib.sha256(self.to_json(sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        """Parse the JSON ``architecture`` object, with errors that name the bad field."""
        if not isinstance(data, Mapping):
            raise ArchitectureError(f"an architecture must be a JSON object, got {type(data).__name__}")
        known = {"blocks", *MODEL_CONSTANTS}
        unknown = set(data) - known
        if unknown:
            raise ArchitectureError(f"unknown architecture field(s) {sorted(unknown)}; known: {sorted(known)}")
        if "blocks" not in data:
            raise ArchitectureError("architecture is missing 'blocks' (a list of {embed_dim, ffn_ratio, layers})")
        raw_blocks = data["blocks"]
        if not isinstance(raw_blocks, Sequence) or isinstance(raw_blocks, (str, bytes)):
            raise ArchitectureError("'blocks' must be a list of {embed_dim, ffn_ratio, layers} objects")
        blocks = []
        for i, rb in enumerate(raw_blocks):
            if not isinstance(rb, Mapping) or set(rb) != {"embed_dim", "ffn_ratio", "layers"}:
                raise ArchitectureError(
                    f"blocks[{i}] must be an object with keys embed_dim, ffn_ratio, layers; got {shown(rb)}"
                )
            blocks.append(
                Block(
                    embed_dim=_as_int(rb["embed_dim"], f"blocks[{i}].embed_dim"),
                    ffn_ratio=_as_float(rb["ffn_ratio"], f"blocks[{i}].ffn_ratio"),
                    layers=_as_int(rb["layers"], f"blocks[{i}].layers"),
                )
            )
        kwargs: dict[str, Any] = {"blocks": tuple(blocks)}
        for name in ("vocab_size", "embed_proj_dim", "max_positions", "head_dim"):
            if name in data:
                kwargs[name] = _as_int(data[name], name)
        if "shared" in data:
            if not isinstance(data["shared"], bool):
                raise ArchitectureError(f"'shared' must be true or false, got {shown(data['shared'])}")
            kwargs["shared"] = data["shared"]
        if "activation" in data:
            kwargs["activation"] = str(data["activation"])
        return cls(**kwargs)

    def __str__(self) -> str:
        blocks = ", ".join(f"{b.layers}x(E={b.embed_dim}, r={b.ffn_ratio:g})" for b in self.blocks)
        return f"[{blocks}]{' shared' if self.shared else ''}"


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not value.is_integer()):
        raise ArchitectureError(f"{name} must be an integer, got {shown(value)}")
    return int(value)


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ArchitectureError(f"{name} must be a number, got {shown(value)}")
    return float(value)
