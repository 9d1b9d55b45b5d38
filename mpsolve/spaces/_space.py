"""Declarative block-wise search space with the integer encoding every solver works on.

An architecture of an ``N``-block space is encoded as ``3 N`` grid indices, block by block:
``[e_1, r_1, l_1, e_2, r_2, l_2, ...]`` where ``e_i`` indexes ``embed_dims``, ``r_i``
indexes ``ffn_ratios`` and ``l_i`` indexes ``layers``. A batch is an ``(n, 3 N)`` integer
array. Because every grid is sorted, the width order ``E_1 <= ... <= E_N`` is the order
``e_1 <= ... <= e_N`` of the indices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mpsolve.spaces._architecture import (
    Architecture,
    Block,
    check_limit,
    check_model_constants,
    ffn_dim,
    model_constants,
)
from mpsolve.utils.clock import check_deadline
from mpsolve.utils.errors import ArchitectureError, SpaceError, shown
from mpsolve.utils.memory import check_memory
from mpsolve.utils.random import RandomState, check_random_state
from mpsolve.utils.validation import check_bool, check_integer, is_finite_number, is_fraction, is_integer

__all__ = ["SearchSpace", "DecodedBatch"]

VARS_PER_BLOCK = 3


@dataclass(frozen=True)
class DecodedBatch:
    """Per-block values of a batch of encoded architectures, each an ``(n, N)`` array."""

    embed_dims: np.ndarray
    ffn_dims: np.ndarray
    layers: np.ndarray


class SearchSpace:
    """A block-wise MeRino search space (spec section 5).

    Args:
        num_blocks: number of blocks ``N``.
        embed_dims: grid of block widths ``E`` (multiples of ``head_dim``).
        ffn_ratios: grid of FFN ratios ``r`` (``r * E`` must be an integer for every ``E``).
        layers: grid of layers per block ``L``.
        vocab_size, embed_proj_dim, max_positions, head_dim, shared, activation: the model
            constants every architecture of the space shares.
        name: a label for printing.
    """

    def __init__(
        self,
        num_blocks: int = 4,
        embed_dims: Sequence[int] = (128, 256, 384, 512, 640, 768, 896, 1024),
        ffn_ratios: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
        layers: Sequence[int] = (1, 2, 3, 4),
        *,
        vocab_size: int = 50272,
        embed_proj_dim: int = 768,
        max_positions: int = 2048,
        head_dim: int = 64,
        shared: bool = True,
        activation: str = "gelu",
        name: str = "custom",
    ) -> None:
        if not isinstance(name, str) or not name:  # a TOML date or table would break every result file
            raise SpaceError(f"a space's name must be a non-empty string, got {shown(name)}")
        check_integer(num_blocks, "num_blocks", error=SpaceError)
        check_limit(num_blocks, "num_blocks", SpaceError)
        self.num_blocks = int(num_blocks)
        self.embed_dims = _grid(embed_dims, "embed_dims", int)
        self.ffn_ratios = _grid(ffn_ratios, "ffn_ratios", float)
        self.layers = _grid(layers, "layers", int)
        self.vocab_size = vocab_size
        self.embed_proj_dim = embed_proj_dim
        self.max_positions = max_positions
        self.head_dim = head_dim
        self.shared = shared
        self.activation = activation
        self.name = name
        for n, v in (
            ("vocab_size", vocab_size),
            ("embed_proj_dim", embed_proj_dim),
            ("max_positions", max_positions),
            ("head_dim", head_dim),
        ):  # as Python ints: a numpy one would hash another way than the equal space and is not JSON
            setattr(self, n, check_integer(v, n, error=SpaceError))
        check_model_constants(self, SpaceError)
        self.shared = bool(self.shared)  # np.bool_ is not JSON
        for label, name, grid in (("embed_dims", "embed_dim", self.embed_dims),
                                  ("ffn_ratios", "ffn_ratio", self.ffn_ratios), ("layers", "layers", self.layers)):
            if min(grid) <= 0:
                raise SpaceError(f"{label} must be positive, got {shown(list(grid))}")
            check_limit(max(grid), name, SpaceError)
        bad = [e for e in self.embed_dims if e % head_dim]
        if bad:
            raise SpaceError(
                f"embed_dims {shown(bad)} are not multiples of head_dim {head_dim}; every width must be a multiple "
                f"of the head dimension (e.g. {shown([max(head_dim, e // head_dim * head_dim) for e in bad])})"
            )
        for e in self.embed_dims:
            for r in self.ffn_ratios:
                if abs(e * r - round(e * r)) > 1e-9:
                    raise SpaceError(f"ffn_ratio {r} times embed_dim {e} is not an integer FFN width")
                if min(e, round(e * r)) < 2:  # log2(1) = 0: the entropy's depth penalty would divide by zero
                    raise SpaceError(f"embed_dim {e} with ffn_ratio {r} gives a width below 2 "
                                     f"(FFN {round(e * r)}); use widths of 2 or more")
        self._e = np.asarray(self.embed_dims, dtype=np.int64)
        self._r = np.asarray(self.ffn_ratios, dtype=np.float64)
        self._l = np.asarray(self.layers, dtype=np.int64)
        self._f = np.array([[ffn_dim(e, r) for r in self.ffn_ratios] for e in self.embed_dims], dtype=np.int64)
        self.upper = np.tile([len(self.embed_dims), len(self.ffn_ratios), len(self.layers)], self.num_blocks) - 1

    # -- description ----------------------------------------------------------------------
    @property
    def n_var(self) -> int:
        """Length of the integer encoding (``3 * num_blocks``)."""
        return VARS_PER_BLOCK * self.num_blocks

    @property
    def ffn_table(self) -> np.ndarray:
        """``F[e, r]``: FFN width of every (width index, ratio index)."""
        return self._f

    def matrix_shapes(self) -> list[tuple[int, int]]:
        """Every weight-matrix shape the entropy needs: ``E x E`` and ``E x F`` (short side first)."""
        shapes = {(int(e), int(e)) for e in self._e}
        shapes |= {(int(min(e, f)), int(max(e, f))) for e, row in zip(self._e, self._f) for f in row}
        return sorted(shapes)

    def size(self, ordered: bool = True) -> int:
        """Exact number of architectures (with the non-decreasing width order by default)."""
        k, n = len(self.embed_dims), self.num_blocks
        # a truthy string ("no") counted the ordered designs, silently
        widths = math.comb(k + n - 1, n) if check_bool(ordered, "ordered", SpaceError) else k**n
        return widths * (len(self.ffn_ratios) * len(self.layers)) ** n

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_blocks": self.num_blocks,
            "embed_dims": list(self.embed_dims),
            "ffn_ratios": list(self.ffn_ratios),
            "layers": list(self.layers),
            **model_constants(self),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        known = set(cls().to_dict())
        unknown = set(data) - known
        if unknown:
            raise SpaceError(f"unknown search-space field(s) {shown(sorted(map(str, unknown)))}; known: "
                             f"{sorted(known)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise SpaceError(f"bad search-space definition: {exc}") from None

    def __repr__(self) -> str:
        return (
            f"SearchSpace(name={self.name!r}, num_blocks={self.num_blocks}, embed_dims={list(self.embed_dims)}, "
            f"ffn_ratios={list(self.ffn_ratios)}, layers={list(self.layers)}, shared={self.shared}, "
            f"size={self.size():.3g})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and {**self.to_dict(), "name": 0} == {**other.to_dict(), "name": 0}

    def __hash__(self) -> int:
        return hash(repr({**self.to_dict(), "name": 0}))

    # -- encoding ---------------------------------------------------------------------------
    def decode_batch(self, X: np.ndarray) -> DecodedBatch:
        """Per-block ``E``, ``F``, ``L`` of an ``(n, 3N)`` batch of encodings."""
        X = self.check_encoding(X)
        ei, ri, li = self.widths(X), self.ratios(X), self.depths(X)
        return DecodedBatch(embed_dims=self._e[ei], ffn_dims=self._f[ei, ri], layers=self._l[li])

    def check_encoding(self, X: np.ndarray) -> np.ndarray:
        """Validate a batch (or one row) of encodings and return it as an ``(n, 3N)`` int array."""
        X = np.asarray(X)
        if X.dtype.kind not in "iuf":  # booleans, strings, objects: numpy's own errors would be raw TypeErrors
            raise ArchitectureError(f"encodings must be integer grid indices, got an array of {X.dtype}")
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.n_var:
            raise ArchitectureError(f"encodings must have shape (n, {self.n_var}), got {X.shape}")
        if X.size and (not np.issubdtype(X.dtype, np.integer)):
            if not np.all(np.isfinite(X)) or np.any(X != np.round(X)):
                raise ArchitectureError("encodings must be integer grid indices")
            X = X.astype(np.int64)
        if X.size and (X.min() < 0 or np.any(X > self.upper)):
            raise ArchitectureError(f"encoding index out of range; upper bounds are {self.upper.tolist()}")
        return X.astype(np.int64, copy=False)

    # -- the parts of an encoding (the only code that knows the layout) ---------------------------
    @staticmethod
    def widths(X: np.ndarray) -> np.ndarray:
        """The width indices ``e_i`` of encodings (``(n, N)`` for a batch, ``(N,)`` for one)."""
        return np.asarray(X)[..., 0::VARS_PER_BLOCK]

    @staticmethod
    def ratios(X: np.ndarray) -> np.ndarray:
        """The FFN-ratio indices ``r_i`` of encodings."""
        return np.asarray(X)[..., 1::VARS_PER_BLOCK]

    @staticmethod
    def depths(X: np.ndarray) -> np.ndarray:
        """The layer-count indices ``l_i`` of encodings."""
        return np.asarray(X)[..., 2::VARS_PER_BLOCK]

    def compose(
        self, widths: np.ndarray, ratios: np.ndarray | int = 0, depths: np.ndarray | int = 0
    ) -> np.ndarray:
        """Encodings from per-block width, ratio and depth indices (``(n, N)`` arrays or scalars)."""
        widths = np.asarray(widths, dtype=np.int64).reshape(-1, self.num_blocks)
        X = np.empty((len(widths), self.n_var), dtype=np.int64)
        X[:, 0::VARS_PER_BLOCK] = widths
        X[:, 1::VARS_PER_BLOCK] = ratios
        X[:, 2::VARS_PER_BLOCK] = depths
        return X

    def order_violation(self, X: np.ndarray) -> np.ndarray:
        """By how many grid steps each encoding's widths decrease (``<= 0``: the order holds)."""
        drops = -np.diff(self.widths(X), axis=-1)
        return np.max(drops, axis=-1, initial=0).astype(np.float64)

    def is_ordered(self, X: np.ndarray) -> np.ndarray:
        """Boolean mask: which encodings have non-decreasing widths."""
        return self.order_violation(self.check_encoding(X)) <= 0

    def decode(self, x: np.ndarray) -> Architecture:
        """The :class:`Architecture` of one encoding."""
        x = self.check_encoding(x)[0]
        blocks = tuple(
            Block(int(self._e[x[3 * i]]), float(self._r[x[3 * i + 1]]), int(self._l[x[3 * i + 2]]))
            for i in range(self.num_blocks)
        )
        return Architecture(blocks=blocks, **model_constants(self))

    def encode(self, arch: Architecture) -> np.ndarray:
        """The encoding of an architecture, or :class:`ArchitectureError` if it is not in the space."""
        if not isinstance(arch, Architecture):
            raise ArchitectureError(f"encode needs an Architecture, got {arch!r}")
        if len(arch.blocks) != self.num_blocks:
            raise ArchitectureError(f"architecture has {len(arch.blocks)} blocks, the space {self.num_blocks}")
        mismatch = {k: (getattr(arch, k), v) for k, v in model_constants(self).items() if getattr(arch, k) != v}
        if mismatch:
            raise ArchitectureError(
                "architecture constants differ from the space's: "
                + ", ".join(f"{k}={a!r} (space: {s!r})" for k, (a, s) in mismatch.items())
            )
        out = []
        for i, b in enumerate(arch.blocks):
            for value, grid, name in (
                (b.embed_dim, self.embed_dims, "embed_dim"),
                (b.ffn_ratio, self.ffn_ratios, "ffn_ratio"),
                (b.layers, self.layers, "layers"),
            ):
                hits = [j for j, g in enumerate(grid) if abs(g - value) < 1e-9]
                if not hits:
                    raise ArchitectureError(f"block {i}: {name}={value} is not in the space's grid {list(grid)}")
                out.append(hits[0])
        return np.asarray(out, dtype=np.int64)

    # -- sampling and neighbourhoods --------------------------------------------------------------
    def sample(self, n: int, random_state: RandomState = None) -> np.ndarray:
        """``n`` encodings drawn uniformly from the (ordered) space."""
        check_integer(n, "sample size n", minimum=0, error=SpaceError)
        check_memory(8 * n * (len(self.embed_dims) + 4 * self.num_blocks), f"a sample of {n} designs",
                     "draw fewer at a time", SpaceError)
        rng = check_random_state(random_state)
        k, N = len(self.embed_dims), self.num_blocks
        # Uniform non-decreasing width sequences: a random N-subset of k+N-1 slots (stars and bars).
        keys = rng.random((n, k + N - 1))
        widths = np.sort(np.argsort(keys, axis=1)[:, :N], axis=1) - np.arange(N)
        ratios = rng.integers(0, len(self.ffn_ratios), size=(n, N))
        depths = rng.integers(0, len(self.layers), size=(n, N))
        return self.compose(widths, ratios, depths)

    def mutate(
        self, X: np.ndarray, random_state: RandomState = None, p_neighbour: float = 0.5, p_repeat: float = 0.0
    ) -> np.ndarray:
        """Mutate every row (spec section 4).

        Picks a block and one of its ``E``, ``r``, ``L`` uniformly; re-samples it as a
        neighbouring grid value with probability ``p_neighbour``, else uniformly over the
        grid; then restores the non-decreasing width order. With ``p_repeat > 0`` a row is
        mutated again with that probability, repeatedly (a geometric number of mutations).
        """
        if not is_fraction(p_neighbour):
            raise SpaceError(f"p_neighbour must be in [0, 1], got {p_neighbour!r}")
        if not is_fraction(p_repeat, one=False):  # 1 would mutate forever
            raise SpaceError(f"p_repeat must be in [0, 1), got {p_repeat!r}")
        rng = check_random_state(random_state)
        Y = self._mutate_once(X, rng, p_neighbour)
        again = rng.random(len(Y)) < p_repeat
        while again.any():  # about 1 / (1 - p_repeat) rounds: a solve's time limit stops a p_repeat near 1
            check_deadline()
            Y[again] = self._mutate_once(Y[again], rng, p_neighbour)
            again &= rng.random(len(Y)) < p_repeat
        return Y

    def _mutate_once(self, X: np.ndarray, rng: np.random.Generator, p_neighbour: float) -> np.ndarray:
        X = self.check_encoding(X).copy()
        n = X.shape[0]
        col = rng.integers(0, self.num_blocks, size=n) * 3 + rng.integers(0, 3, size=n)
        upper = self.upper[col]
        rows = np.arange(n)
        cur = X[rows, col]
        step = np.where(rng.random(n) < 0.5, -1, 1)
        neighbour = np.clip(cur + step, 0, upper)
        neighbour = np.where(neighbour == cur, np.clip(cur - step, 0, upper), neighbour)
        uniform = np.floor(rng.random(n) * (upper + 1)).astype(np.int64)
        X[rows, col] = np.where(rng.random(n) < p_neighbour, neighbour, uniform)
        return self.repair(X)

    def repair(self, X: np.ndarray) -> np.ndarray:
        """A valid encoding of every row: indices rounded and clipped to the grids, then the
        width order restored by sorting each row's width indices (ratios and depths stay)."""
        X = np.asarray(X)
        X = X[None, :] if X.ndim == 1 else X  # one row: a batch of one, as check_encoding takes it
        # else a raw numpy error, or (NaN) rows of int64's smallest value returned as valid
        if X.dtype.kind not in "iuf" or X.ndim != 2 or X.shape[1] != self.n_var or np.isnan(X).any():
            what = f"an array of {X.dtype}" if X.dtype.kind not in "iuf" else f"shape {X.shape}" + (
                ", with NaN" if X.ndim == 2 and X.shape[1] == self.n_var else "")
            raise ArchitectureError(f"repair needs rows of {self.n_var} numbers (grid indices, rounded and clipped), "
                                    f"got {what}")
        X = np.clip(np.rint(X.astype(np.float64)), 0, self.upper).astype(np.int64)
        X[:, 0::VARS_PER_BLOCK] = np.sort(self.widths(X), axis=1)
        return X

    def neighbours(self, x: np.ndarray) -> np.ndarray:
        """All ordered encodings one grid step away from ``x`` in one variable."""
        x = self.check_encoding(x)[0]
        out = []
        for j in range(self.n_var):
            for d in (-1, 1):
                y = x.copy()
                y[j] += d
                if 0 <= y[j] <= self.upper[j]:
                    out.append(y)
        if not out:
            return np.empty((0, self.n_var), dtype=np.int64)
        Y = np.unique(np.asarray(out), axis=0)
        return Y[self.is_ordered(Y)]

    def enumerate(self, chunk_size: int = 1 << 20):
        """Yield every ordered encoding, in chunks of at most ``chunk_size`` rows."""
        check_integer(chunk_size, "chunk_size", error=SpaceError)
        k, N = len(self.embed_dims), self.num_blocks
        widths = np.array([c for c in _combinations_with_replacement(k, N)], dtype=np.int64).reshape(-1, N)
        per_block = np.array(
            [(r, l) for r in range(len(self.ffn_ratios)) for l in range(len(self.layers))], dtype=np.int64
        )
        m = len(per_block)
        total_rl = m**N
        rl_chunk = max(1, min(total_rl, chunk_size))
        for w in widths:
            for start in range(0, total_rl, rl_chunk):
                idx = np.arange(start, min(total_rl, start + rl_chunk), dtype=np.int64)
                X = np.empty((len(idx), self.n_var), dtype=np.int64)
                X[:, 0::3] = w
                rest = idx
                for b in range(N - 1, -1, -1):
                    choice = rest % m
                    rest = rest // m
                    X[:, 3 * b + 1] = per_block[choice, 0]
                    X[:, 3 * b + 2] = per_block[choice, 1]
                yield X


def _combinations_with_replacement(k: int, n: int):
    from itertools import combinations_with_replacement

    return combinations_with_replacement(range(k), n)


def _grid(values: Sequence[Any], name: str, kind: type) -> tuple[Any, ...]:
    kinds = "integers" if kind is int else "numbers"
    if isinstance(values, (str, bytes)):  # a string iterates over its characters
        raise SpaceError(f"{name} must be a list of {kinds}, got {shown(values)}")
    try:
        vals = list(values)
    except TypeError:
        raise SpaceError(f"{name} must be a list of {kinds}, got {shown(values)}") from None
    if not vals:
        raise SpaceError(f"{name} is empty: give at least one value")
    out = []
    for v in vals:
        if not (is_finite_number(v) or (kind is int and is_integer(v))):
            raise SpaceError(f"{name} must contain finite numbers, got {shown(v)}")
        if kind is int and not is_integer(v) and float(v) != int(v):  # a huge integer is checked against its limit
            raise SpaceError(f"{name} must contain integers, got {shown(v)}")
        out.append(kind(v))
    if len(set(out)) != len(out):
        raise SpaceError(f"{name} contains duplicates: {shown(vals)}")
    return tuple(sorted(out))
