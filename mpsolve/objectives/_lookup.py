"""The entropy lookup table ("Fast Entropy Approximation" of the paper).

The expected subspace entropy of a Gaussian ``m x n`` matrix depends only on its singular
values, which scale linearly with the initialisation std. The table therefore stores the
singular-value spectra of standard-Gaussian matrices per shape (fixed seed), and any option
set (variant, eps, init std) is an exact, millisecond reduction of those spectra.

How many matrices per shape: the entropy is a linear spectral statistic, whose fluctuation
from draw to draw is of order one whatever the size (a standard deviation of about 0.3-2
nats, largest for square shapes), while an SVD costs ``m^2 n``. ``draws="auto"`` therefore
spends the same work on every shape (:data:`AUTO_WORK` multiply-adds, between
:data:`AUTO_MIN_DRAWS` and :data:`AUTO_MAX_DRAWS` draws): small shapes, whose differences
decide the rankings of small models, get hundreds of draws; :meth:`SpectrumTable.standard_error`
states the Monte-Carlo error of every entry.

Spectra are built on demand for new shapes and cached on disk in the user cache dir, in a
file whose name carries the table version, seed and draws; the file stores a checksum of its
spectra, and a file that fails to load or to verify is rebuilt with a warning.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import numpy as np
import scipy.linalg
from scipy.special import digamma
from threadpoolctl import threadpool_limits

from mpsolve.utils.clock import check_deadline
from mpsolve.utils.errors import warn
from mpsolve.utils.files import atomic_write

__all__ = ["SpectrumTable", "exact_entropy", "entropy_of_spectrum", "default_cache_dir", "draws_for",
           "analytic_entropy", "TABLE_VERSION"]

TABLE_VERSION = 2
#: multiply-adds (``m^2 n`` per draw) that ``draws="auto"`` spends on each shape
AUTO_WORK = 2**31
AUTO_MIN_DRAWS = 8
AUTO_MAX_DRAWS = 2048
_CHECKSUM = "__sha256__"


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


def draws_for(m: int, n: int, draws: int | str) -> int:
    """Matrices averaged for an ``m x n`` shape: ``draws`` itself, or the ``"auto"`` rule."""
    if draws != "auto":
        return int(draws)
    lo, hi = min(m, n), max(m, n)
    return int(np.clip(AUTO_WORK // (lo * lo * hi), AUTO_MIN_DRAWS, AUTO_MAX_DRAWS))


def _checksum(spectra: dict[tuple[int, int], np.ndarray], seed: int, draws: int | str) -> str:
    """A digest of the spectra and of the options that made them."""
    digest = hashlib.sha256(f"v{TABLE_VERSION} seed={seed} draws={draws}".encode())
    for (m, n) in sorted(spectra):
        digest.update(f"{m}x{n}".encode())
        digest.update(np.ascontiguousarray(spectra[(m, n)], dtype=np.float64).tobytes())
    return digest.hexdigest()


#: below this ``eps / init_std`` the ``log`` variant is ``E sum log s`` (exact; the neglected
#: ``eps E sum 1/s`` is far below the Monte-Carlo error of any table)
LOG_EXACT_EPS = 1e-4
#: below this ``eps / init_std`` the ``log`` variant is Bartlett's ``E sum log s`` plus the Marchenko-Pastur
#: mean of ``sum log(1 + eps / s)``: the expansion of ``log(s + eps)`` misses the hard edge of a square
#: matrix's spectrum there (measured against SVD means: ``benchmarks/results/expectation.md``)
LOG_EDGE_EPS = 3e-2
_QUADRATURE_POINTS = 4096


def analytic_entropy(m: int, n: int, variant: str, eps: float, init_std: float) -> float:
    """Deterministic expected entropy of an ``m x n`` matrix of i.i.d. ``N(0, init_std^2)`` entries.

    - ``log`` with ``eps <= LOG_EXACT_EPS * init_std``: exactly ``1/2 E log det(W W^T)``, which by
      Bartlett's decomposition is ``1/2 sum_{i<m} (psi((n - i) / 2) + log 2) + m log init_std``
      (``m <= n``).
    - ``log`` with ``eps < LOG_EDGE_EPS * init_std``: that, plus ``m int log(1 + eps / s(x)) dF_c(x)``
      (the Marchenko-Pastur law below), whose integrand stays integrable where a square matrix's
      singular values reach 0 (the expansion below does not hold there).
    - otherwise: the Marchenko-Pastur limit ``m int f dF_c`` (``c = m / n``, ``f(x)`` the entropy of
      the singular value ``init_std sqrt(n x)``) plus the finite-size mean of the central limit
      theorem for linear spectral statistics of real Gaussian matrices (Bai & Silverstein, 2004,
      Thm 1.1): ``(f(a) + f(b)) / 4 - (1 / 2 pi) int_a^b f(x) / sqrt(4c - (x - 1 - c)^2) dx``.
      Both integrals are taken by the midpoint rule in ``x = 1 + c + 2 sqrt(c) cos(theta)``.

    The agreement with direct SVD means is measured by ``benchmarks/expectation.py``
    (``benchmarks/results/expectation.md``).
    """
    m, n = min(m, n), max(m, n)
    i = np.arange(m)
    log_det = 0.5 * np.sum(digamma((n - i) / 2) + np.log(2.0)) + m * np.log(init_std)
    if variant == "log" and eps <= LOG_EXACT_EPS * init_std:
        return float(log_det)
    c = m / n
    theta = (np.arange(_QUADRATURE_POINTS) + 0.5) * np.pi / _QUADRATURE_POINTS
    x = 1 + c + 2 * np.sqrt(c) * np.cos(theta)
    if variant == "log" and eps < LOG_EDGE_EPS * init_std:  # sin^2 / x, the law's weight, is bounded also for c = 1
        gain = np.log1p(eps / (init_std * np.sqrt(n * np.maximum(x, np.finfo(float).tiny))))
        return float(log_det + m * 2.0 * np.mean(gain * np.sin(theta) ** 2 / np.where(x > 0, x, np.inf)))
    edges = np.array([(1 - np.sqrt(c)) ** 2, (1 + np.sqrt(c)) ** 2])

    def f(v: np.ndarray) -> np.ndarray:
        return entropy_of_spectrum((init_std * np.sqrt(n * np.maximum(v, 0.0)))[:, None], variant, eps)

    fx = f(x)
    bulk = m * 2.0 * np.mean(fx * np.sin(theta) ** 2 / np.where(x > 0, x, np.inf))
    return float(bulk + np.sum(f(edges)) / 4 - np.mean(fx) / 2)


def _plausible(m: int, n: int, spectra: np.ndarray) -> bool:
    """Shape, finiteness and ``E sum s^2 = m n`` (its relative sd per draw is ``sqrt(2 / mn)``, at most 3 %)."""
    return (spectra.ndim == 2 and spectra.shape[1] == m and bool(np.all(np.isfinite(spectra)))
            and bool(np.all(spectra >= 0)) and abs(np.mean(np.sum(spectra**2, axis=1)) / (m * n) - 1) < 0.2)


def exact_entropy(m: int, n: int, variant: str, eps: float, init_std: float, rng: np.random.Generator) -> float:
    """Entropy of one freshly drawn ``m x n`` Gaussian matrix by exact SVD."""
    W = rng.standard_normal((m, n)) * init_std
    return float(entropy_of_spectrum(singular_values(W), variant, eps))


class SpectrumTable:
    """Singular-value spectra of standard-Gaussian matrices, per shape, cached on disk.

    Args:
        draws: random matrices averaged per shape, or ``"auto"`` (the same work per shape).
        seed: seed of the draws (each shape gets its own stream derived from it).
        cache_dir: where the table lives; ``None`` for the default user cache dir,
            ``False`` for an in-memory table.
    """

    _lock = threading.Lock()

    def __init__(self, draws: int | str = "auto", seed: int = 0, cache_dir: str | Path | None | bool = None) -> None:
        if draws != "auto" and (isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1):
            raise ValueError(f"draws must be a positive integer or 'auto', got {draws!r}")
        self.draws, self.seed = draws if draws == "auto" else int(draws), int(seed)
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
                with np.load(self.path, allow_pickle=False) as data:
                    stored = str(data[_CHECKSUM])
                    for name in data.files:
                        if name != _CHECKSUM:
                            m, n = (int(v) for v in name.split("x"))
                            self._spectra[(m, n)] = np.asarray(data[name], dtype=np.float64)
                if stored != _checksum(self._spectra, self.seed, self.draws):
                    raise ValueError("checksum mismatch")
                if not all(_plausible(m, n, s) for (m, n), s in self._spectra.items()):
                    raise ValueError("spectra are not those of standard-Gaussian matrices")
            except Exception as exc:  # any unreadable or altered file is rebuilt, never trusted
                warn(f"entropy lookup table {self.path} is unreadable or altered ({exc}); rebuilding it")
                self._spectra.clear()

    def _compute(self, m: int, n: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, m, n])
        spectra = []
        for _ in range(draws_for(m, n, self.draws)):
            check_deadline()  # a solve's time limit covers building the table
            spectra.append(_fast_singular_values(rng.standard_normal((m, n))))
        return np.stack(spectra)

    def spectra(self, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
        """``(draws, min(m, n))`` spectra of every shape, computing and saving missing ones."""
        with self._lock:
            self._load()
            missing = sorted({self.key(m, n) for m, n in shapes} - set(self._spectra))
            # One BLAS thread: these mid-sized factorisations gain little from more, and
            # OpenBLAS threads that spin-wait on a busy machine slow them down up to 60x.
            try:
                with threadpool_limits(limits=1, user_api="blas"):
                    for key in missing:
                        self._spectra[key] = self._compute(*key)
            finally:
                if missing and missing[0] in self._spectra:
                    self._save()  # what was built, even when the deadline stopped the rest
            return [self._spectra[self.key(m, n)] for m, n in shapes]

    def _save(self) -> None:
        if self.path is None:
            return
        buffer = io.BytesIO()
        np.savez(buffer, **{f"{m}x{n}": s for (m, n), s in self._spectra.items()},
                 **{_CHECKSUM: np.array(_checksum(self._spectra, self.seed, self.draws))})
        try:
            atomic_write(self.path, buffer.getvalue())
        except OSError as exc:  # an unwritable cache costs recomputation, not the answer
            warn(f"entropy lookup table {self.path} cannot be saved ({exc.strerror or exc}): it will be built again "
                 "next time; set MPSOLVE_CACHE_DIR to a writable folder")

    def expected_entropy(self, shapes: list[tuple[int, int]], variant: str, eps: float, init_std: float) -> np.ndarray:
        """Expected entropy of each shape for the given options (mean over the draws)."""
        return np.array([float(np.mean(entropy_of_spectrum(s * init_std, variant, eps))) for s in self.spectra(shapes)])

    def standard_error(self, shapes: list[tuple[int, int]], variant: str, eps: float, init_std: float) -> np.ndarray:
        """Monte-Carlo standard error of each :meth:`expected_entropy` entry (sd over draws / sqrt(draws))."""
        return np.array([float(np.std(entropy_of_spectrum(s * init_std, variant, eps), ddof=1) / np.sqrt(len(s)))
                         if len(s) > 1 else np.inf for s in self.spectra(shapes)])

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
