"""The entropy lookup table ("Fast Entropy Approximation" of the paper).

The expected subspace entropy of a Gaussian ``m x n`` matrix depends only on its singular
values, which scale linearly with the initialisation std. The table therefore stores the
singular-value spectra of ``draws`` standard-Gaussian matrices per shape (fixed seed), and
any option set (variant, eps, init std) is an exact, millisecond reduction of those spectra.
Spectra are built on demand for new shapes and cached on disk in the user cache dir, in a
file whose name carries the table version, seed and number of draws.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

__all__ = ["SpectrumTable", "exact_entropy", "entropy_of_spectrum", "default_cache_dir", "TABLE_VERSION"]

TABLE_VERSION = 1


def default_cache_dir() -> Path:
    """``$MPSOLVE_CACHE_DIR`` if set, else the platform's user cache dir for mpsolve."""
    env = os.environ.get("MPSOLVE_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("mpsolve"))


def entropy_of_spectrum(s: np.ndarray, variant: str, eps: float) -> np.ndarray:
    """Subspace entropy (spec section 2) of singular values ``s`` along the last axis."""
    if variant == "log":
        return np.sum(np.log(s + eps), axis=-1)
    if variant == "rate":
        return 0.5 * np.sum(np.log1p((s / eps) ** 2), axis=-1)
    raise ValueError(f"unknown entropy variant {variant!r}; known: 'log', 'rate'")


def singular_values(W: np.ndarray) -> np.ndarray:
    """Singular values of ``W`` (exact SVD, LAPACK gesdd)."""
    return scipy.linalg.svdvals(W, check_finite=False)


def _fast_singular_values(W: np.ndarray) -> np.ndarray:
    """Singular values of a short-wide ``W``; through the Gram matrix when it is well conditioned.

    A Gaussian ``m x n`` matrix with ``n >= 1.25 m`` has condition number below ~20, so the
    eigenvalues of ``W W^T`` give its singular values to ~1e-13 relative, several times faster
    than an SVD; square-ish matrices (tiny singular values) take the exact SVD.
    """
    m, n = W.shape
    if n < 1.25 * m:
        return singular_values(W)
    eig = scipy.linalg.eigvalsh(W @ W.T, check_finite=False)
    return np.sqrt(np.clip(eig[::-1], 0.0, None))


def exact_entropy(m: int, n: int, variant: str, eps: float, init_std: float, rng: np.random.Generator) -> float:
    """Entropy of one freshly drawn ``m x n`` Gaussian matrix by exact SVD."""
    W = rng.standard_normal((m, n)) * init_std
    return float(entropy_of_spectrum(singular_values(W), variant, eps))


class SpectrumTable:
    """Singular-value spectra of standard-Gaussian matrices, per shape, cached on disk.

    Args:
        draws: random matrices averaged per shape.
        seed: seed of the draws (each shape gets its own stream derived from it).
        cache_dir: where the table lives; ``None`` for the default user cache dir,
            ``False`` for an in-memory table.
    """

    _lock = threading.Lock()

    def __init__(self, draws: int = 4, seed: int = 0, cache_dir: str | Path | None | bool = None) -> None:
        if draws < 1:
            raise ValueError(f"draws must be >= 1, got {draws}")
        self.draws, self.seed = int(draws), int(seed)
        if cache_dir is False:
            self.path: Path | None = None
        else:
            base = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)  # type: ignore[arg-type]
            self.path = base / f"spectra-v{TABLE_VERSION}-seed{self.seed}-draws{self.draws}.npz"
        self._spectra: dict[tuple[int, int], np.ndarray] = {}
        self._loaded = False

    @staticmethod
    def key(m: int, n: int) -> tuple[int, int]:
        """Shapes are stored as (short side, long side): a matrix and its transpose agree."""
        return (min(m, n), max(m, n))

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.path is not None and self.path.exists():
            try:
                with np.load(self.path) as data:
                    for name in data.files:
                        m, n = (int(v) for v in name.split("x"))
                        self._spectra[(m, n)] = data[name]
            except (OSError, ValueError, KeyError):
                self._spectra.clear()  # a corrupt cache is rebuilt, never trusted

    def _compute(self, m: int, n: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, m, n])
        return np.stack([_fast_singular_values(rng.standard_normal((m, n))) for _ in range(self.draws)])

    def spectra(self, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
        """``(draws, min(m, n))`` spectra of every shape, computing and saving missing ones."""
        with self._lock:
            self._load()
            missing = sorted({self.key(m, n) for m, n in shapes} - set(self._spectra))
            # One BLAS thread: these mid-sized factorisations gain little from more, and
            # OpenBLAS threads that spin-wait on a busy machine slow them down up to 60x.
            with threadpool_limits(limits=1, user_api="blas"):
                for key in missing:
                    self._spectra[key] = self._compute(*key)
            if missing:
                self._save()
            return [self._spectra[self.key(m, n)] for m, n in shapes]

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **{f"{m}x{n}": s for (m, n), s in self._spectra.items()})
            os.replace(tmp, self.path)
        except OSError:
            pass  # an unwritable cache only costs recomputation

    def expected_entropy(self, shapes: list[tuple[int, int]], variant: str, eps: float, init_std: float) -> np.ndarray:
        """Expected entropy of each shape for the given options (mean over the draws)."""
        return np.array([float(np.mean(entropy_of_spectrum(s * init_std, variant, eps))) for s in self.spectra(shapes)])

    def verify(
        self,
        shapes: list[tuple[int, int]],
        variant: str = "log",
        eps: float = 1e-6,
        init_std: float = 1.0,
        seed: int = 12345,
    ) -> dict[tuple[int, int], float]:
        """Relative error of the table against exact SVD of fresh matrices (another seed)."""
        rng = np.random.default_rng(seed)
        table = self.expected_entropy(shapes, variant, eps, init_std)
        errors = {}
        with threadpool_limits(limits=1, user_api="blas"):
            for (m, n), t in zip(shapes, table):
                exact = exact_entropy(m, n, variant, eps, init_std, rng)
                errors[(m, n)] = abs(t - exact) / max(abs(exact), 1e-12)
        return errors
