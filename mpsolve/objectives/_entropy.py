"""The MeRino entropy objective (spec section 2) and the simple alternatives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mpsolve.costs import ModelConstants, ParamsCost, batch_of
from mpsolve.objectives._base import Objective
from mpsolve.objectives._lookup import SpectrumTable, analytic_entropy, default_cache_dir
from mpsolve.spaces import Architecture, DecodedBatch, SearchSpace, resolve_architecture
from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.validation import check_bool, check_positive_number, is_finite_number

__all__ = ["MeRinoEntropy", "ParamsObjective", "DecoderParamsObjective", "effectiveness"]

VARIANTS = ("log", "rate")
EXPECTATIONS = ("analytic", "monte-carlo")
PENALTIES = ("linear", "exp", "none")
_TABLES: dict[tuple[int | str, int, Path], SpectrumTable] = {}


def _shared_table(draws: int | str, seed: int) -> SpectrumTable:
    """One table per draws, seed and cache folder: ``$MPSOLVE_CACHE_DIR`` set later in the process is followed."""
    key = (draws, seed, default_cache_dir())
    if key not in _TABLES:
        _TABLES[key] = SpectrumTable(draws=draws, seed=seed, cache_dir=key[2])
    return _TABLES[key]


def effectiveness(layers: np.ndarray, widths: np.ndarray, beta: float) -> np.ndarray:
    """``rho = beta * L / w`` with ``w = (1/L) sum_i L_i log2(width_i)`` (spec Eq. 9-11).

    Args:
        layers: ``(n, N)`` layers per block.
        widths: ``(n, N)`` widths (``E_i`` for MHSA, ``F_i`` for FFN).
        beta: scale; 1/16 reproduces the paper's Table 1.
    """
    depth = layers.sum(axis=1).astype(np.float64)
    weighted_log_width = np.sum(layers * np.log2(widths.astype(np.float64)), axis=1)
    return beta * depth * depth / weighted_log_width


#: exp(-x) is a subnormal float (few significant bits) above this x: -log of float64's smallest normal
_EXP_NORMAL = -float(np.log(np.finfo(np.float64).tiny))

#: the ratio init_std / eps the ``rate`` variant takes: singular values times it, squared, stay
#: far from float64's overflow (1e308) and from vanishing next to 1 (1e-16)
RATE_SCALE_RANGE = (1e-100, 1e100)


class MeRinoEntropy(Objective):
    """Expected subspace entropy of a transformer, weighted and depth-penalised.

    ``H = alpha_mhsa * p(rho_MHSA) * sum_i L_i 4 H(E_i x E_i)
        + alpha_ffn  * p(rho_FFN)  * sum_i L_i (H(E_i x F_i) + H(F_i x E_i))``
    with the penalty ``p(rho) = 1 - rho`` (``linear``), ``exp(-gamma rho)`` (``exp``) or 1
    (``none``, equivalently ``effectiveness=False``).

    Defaults: the linear penalty with ``beta`` 1/4 is what ``benchmarks/proxy_correlation.py``
    measured on its tuning corpus (every leading option set that the exact backends solve has
    it). ``rate``, eps 1, init std 1 and alpha (0.5, 1) are a convention: that benchmark cannot
    tell them apart from the ``log`` variant with alpha (1, 0.5). Whether the entropy ranks
    trained models better than parameter count is *not* established: see the README's
    "What the evidence shows" and ``benchmarks/results/``. ``beta`` 1/4 is four times the value
    that reproduces the paper's Table 1 ``rho`` (1/16), so ``details()['rho_*']`` are four times
    those of the table.

    The penalty assumes positive entropies. With the ``log`` variant and a small
    ``init_std`` (e.g. 0.02, singular values below 1) every matrix entropy is negative and a
    penalty below 1 *raises* the score of deeper models: keep ``init_std`` near 1 (the
    default) or use the ``rate`` variant (the default) when the penalty is on.

    Args:
        variant: per-matrix entropy, ``log`` (sum log(s + eps)) or ``rate`` (coding rate).
        eps: the small constant of the variant.
        init_std: std of the Gaussian initialisation the expectation is taken over.
        alpha: weights ``(alpha_mhsa, alpha_ffn)``.
        beta: scale of the effectiveness ``rho`` (1/16 reproduces the paper's Table 1).
        effectiveness: apply the depth penalty (``False`` is ``penalty='none'``; with another ``penalty`` than
            the default it is refused).
        penalty: form of the depth penalty.
        gamma: rate of the ``exp`` penalty.
        expectation: how the expected matrix entropy is computed: ``analytic`` (deterministic:
            exact for ``log`` with a tiny eps, Marchenko-Pastur with its finite-size mean otherwise;
            :func:`~mpsolve.objectives.analytic_entropy`) or ``monte-carlo`` (the paper's lookup
            table of random spectra).
        draws, table_seed: the Monte-Carlo table's random draws per shape (``"auto"``: the same
            work per shape, see :mod:`mpsolve.objectives._lookup`) and their seed.
        table: a :class:`SpectrumTable` to use instead of the shared on-disk one.
    """

    name = "entropy"

    def __init__(
        self,
        variant: str = "rate",
        eps: float = 1.0,
        init_std: float = 1.0,
        alpha: Sequence[float] = (0.5, 1.0),
        beta: float = 1 / 4,
        effectiveness: bool = True,
        penalty: str = "linear",
        gamma: float = 4.0,
        expectation: str = "analytic",
        draws: int | str = "auto",
        table_seed: int = 0,
        table: SpectrumTable | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise MpsolveError(f"unknown entropy variant {variant!r}; known: {', '.join(VARIANTS)}")
        if expectation not in EXPECTATIONS:
            raise MpsolveError(f"unknown expectation {expectation!r}; known: {', '.join(EXPECTATIONS)}")
        if table is not None and not isinstance(table, SpectrumTable):
            raise MpsolveError(f"table must be a SpectrumTable or None, got {table!r}")
        if table is not None and expectation != "monte-carlo":
            raise MpsolveError("a lookup table is only used with expectation='monte-carlo'; pass both, or neither")
        if penalty not in PENALTIES:
            raise MpsolveError(f"unknown penalty {penalty!r}; known: {', '.join(PENALTIES)}")
        if effectiveness is False and penalty not in ("linear", "none"):  # the default penalty: not asked for
            raise MpsolveError(f"effectiveness=False turns the depth penalty off, which conflicts with penalty="
                               f"{penalty!r}: give penalty='none' to turn it off, or leave effectiveness on")
        check_positive_number(eps, "eps")
        check_positive_number(init_std, "init_std")
        if variant == "rate" and not RATE_SCALE_RANGE[0] <= init_std / eps <= RATE_SCALE_RANGE[1]:
            raise MpsolveError(f"the rate entropy needs init_std / eps in [{RATE_SCALE_RANGE[0]:g}, "
                               f"{RATE_SCALE_RANGE[1]:g}]: its (s * init_std / eps)^2 would overflow to NaN or "
                               f"vanish to 0 for every design; got eps={eps!r}, init_std={init_std!r}")
        if draws != "auto" and (isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1):
            raise MpsolveError(f"draws must be a positive integer or 'auto', got {draws!r}")
        if isinstance(table_seed, bool) or not isinstance(table_seed, (int, np.integer)) or table_seed < 0:
            raise MpsolveError(f"table_seed must be a non-negative integer, got {table_seed!r}")
        parts = tuple(alpha) if isinstance(alpha, Iterable) and not isinstance(alpha, (str, Mapping, set)) else ()
        if len(parts) != 2 or not all(is_finite_number(a) and a >= 0 for a in parts):
            raise MpsolveError(f"alpha must be two non-negative numbers (mhsa, ffn), got {alpha!r}")
        alpha = tuple(float(a) for a in parts)
        if not any(alpha):  # every design would score 0: any answer would be "optimal"
            raise MpsolveError(f"alpha must weigh at least one part (mhsa, ffn) above 0, got {parts!r}; the "
                               "default is (0.5, 1.0)")
        if not all(is_finite_number(v) and v >= 0 for v in (beta, gamma)):
            raise MpsolveError(f"beta and gamma must be non-negative numbers, got beta={beta!r}, gamma={gamma!r}")
        self.variant, self.eps, self.init_std = variant, float(eps), float(init_std)
        self.alpha, self.beta, self.gamma = alpha, float(beta), float(gamma)
        self.penalty = penalty if check_bool(effectiveness, "effectiveness") else "none"
        self.expectation = expectation
        self.draws, self.table_seed = draws if draws == "auto" else int(draws), int(table_seed)
        if table is not None:  # its draws and seed make the scores: the options (and fingerprints) say them
            given = (self.draws, self.table_seed)
            if given not in (("auto", 0), (table.draws, table.seed)):
                raise MpsolveError(f"draws={given[0]!r}, table_seed={given[1]!r} conflict with the table's draws="
                                   f"{table.draws!r}, seed={table.seed!r}: pass the table alone")
            self.draws, self.table_seed = table.draws, table.seed
        self._table = table
        #: matrix entropies by the options they depend on, then by shape: options are attributes that may be set
        self._cache: dict[tuple[Any, ...], dict[tuple[int, int], float]] = {}

    def options(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "eps": self.eps,
            "init_std": self.init_std,
            "alpha": list(self.alpha),
            "beta": self.beta,
            "effectiveness": self.penalty != "none",
            "penalty": self.penalty,
            "gamma": self.gamma,
            "expectation": self.expectation,
            "draws": self.draws,
            "table_seed": self.table_seed,
        }

    @property
    def table(self) -> SpectrumTable:
        """The Monte-Carlo table (built on first use; the ``analytic`` expectation needs none)."""
        return self._table if self._table is not None else _shared_table(self.draws, self.table_seed)

    # -- pieces ----------------------------------------------------------------------------
    def matrix_entropy(self, m: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Expected entropy ``H(m x n)`` of each shape (broadcast arrays), from the table."""
        m, n = np.broadcast_arrays(np.asarray(m, dtype=np.int64), np.asarray(n, dtype=np.int64))
        lo, hi = np.minimum(m, n), np.maximum(m, n)
        packed = lo.ravel() * (int(hi.max(initial=0)) + 1) + hi.ravel()  # 1-D keys: far faster than axis=1
        keys, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        shapes = [(int(lo.flat[i]), int(hi.flat[i])) for i in first]
        cache = self._cache.setdefault(
            (self.variant, self.eps, self.init_std, self.expectation, self.draws, self.table_seed), {})
        missing = [s for s in shapes if s not in cache]
        if missing and self.expectation == "analytic":
            values = np.array([analytic_entropy(m_, n_, self.variant, self.eps, self.init_std) for m_, n_ in missing])
            cache.update(zip(missing, values.tolist()))
        elif missing:
            values = self.table.expected_entropy(missing, self.variant, self.eps, self.init_std)
            cache.update(zip(missing, values.tolist()))
        table = np.array([cache[s] for s in shapes])
        return table[inverse.ravel()].reshape(m.shape)

    def penalty_factor(self, rho: np.ndarray) -> np.ndarray:
        """The depth penalty ``p(rho)``."""
        rho = np.asarray(rho, dtype=np.float64)
        if self.penalty == "linear":
            return 1.0 - rho
        if self.penalty == "exp":
            return np.exp(-self.gamma * rho)
        return np.ones_like(rho)

    def check_space(self, space: SearchSpace) -> None:
        """The ``exp`` penalty must leave some design a normal float factor: ``exp(-gamma rho)``
        below float64's smallest normal number (``gamma rho > 708``) keeps too few bits to rank."""
        if self.penalty != "exp":
            return
        least = []  # the least rho of each weighted part: every block at its fewest layers and widest
        for weight, widths in zip(self.alpha, (space.embed_dims, space.ffn_table)):
            if weight > 0 and np.max(widths) > 1:
                least.append(self.beta * space.num_blocks * min(space.layers) / float(np.log2(np.max(widths))))
        if least and self.gamma * min(least) > _EXP_NORMAL:
            raise MpsolveError(f"the exp penalty exp(-gamma * rho) falls below the smallest normal float for every "
                               f"design of space {space.name!r} (gamma * rho >= {self.gamma * min(least):.4g} > "
                               f"{_EXP_NORMAL:.4g}), so scores lose their order: take gamma below "
                               f"{_EXP_NORMAL / min(least):.4g} (or a smaller beta)")

    def parts(self, batch: DecodedBatch) -> dict[str, np.ndarray]:
        """Unweighted sums, effectiveness and penalised parts of every architecture."""
        E, F, L = batch.embed_dims, batch.ffn_dims, batch.layers
        raw_mhsa = np.sum(L * 4.0 * self.matrix_entropy(E, E), axis=1)
        raw_ffn = np.sum(L * 2.0 * self.matrix_entropy(E, F), axis=1)
        rho_mhsa = effectiveness(L, E, self.beta)
        rho_ffn = effectiveness(L, F, self.beta)
        h_mhsa = self.penalty_factor(rho_mhsa) * raw_mhsa
        h_ffn = self.penalty_factor(rho_ffn) * raw_ffn
        return {
            "entropy": self.alpha[0] * h_mhsa + self.alpha[1] * h_ffn,
            "entropy_mhsa": h_mhsa,
            "entropy_ffn": h_ffn,
            "rho_mhsa": rho_mhsa,
            "rho_ffn": rho_ffn,
        }

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        return self.parts(batch)["entropy"]

    def details(self, arch: Architecture | str | Mapping[str, Any]) -> dict[str, float]:
        return {k: float(v[0]) for k, v in self.parts(batch_of(resolve_architecture(arch))).items()}


class ParamsObjective(Objective):
    """Unique parameter count (the largest model within budget)."""

    name = "params"

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        return ParamsCost().evaluate(batch, constants)


class DecoderParamsObjective(Objective):
    """LTS's proxy: parameters of the decoder, i.e. everything but the embeddings."""

    name = "decoder_params"

    def evaluate(self, batch: DecodedBatch, constants: ModelConstants) -> np.ndarray:
        D = constants.embed_proj_dim
        embeddings = (constants.vocab_size + constants.max_positions) * D
        return ParamsCost().evaluate(batch, constants) - embeddings
