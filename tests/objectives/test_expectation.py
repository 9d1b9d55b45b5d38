"""The analytic expected entropy against Monte-Carlo means of direct SVDs."""

import numpy as np
import pytest

from mpsolve import MeRinoEntropy
from mpsolve.objectives import SpectrumTable, analytic_entropy


@pytest.mark.parametrize(("variant", "eps", "std"), [("rate", 1.0, 1.0), ("log", 1e-6, 1.0), ("rate", 0.1, 0.5),
                                                    ("log", 1.01e-4, 1.0), ("log", 1e-3, 1.0), ("log", 1e-2, 0.5)])
def test_analytic_expectation_agrees_with_many_svds(variant, eps, std):
    rng = np.random.default_rng(7)
    shapes = [(64, 64), (96, 96)] + [(int(m), int(m * r)) for m, r in zip(rng.integers(48, 160, 4), (1.5, 2, 3, 4))]
    table = SpectrumTable(draws=400, seed=11, cache_dir=False)
    mc = table.expected_entropy(shapes, variant, eps, std)
    se = table.standard_error(shapes, variant, eps, std)
    analytic = np.array([analytic_entropy(m, n, variant, eps, std) for m, n in shapes])
    # Beyond the Monte-Carlo error, the finite-size remainder of the Marchenko-Pastur expectation
    # is below 0.1 nats on these shapes (largest, -0.09, for square 64 x 64 at eps/std = 0.1; see
    # benchmarks/results/expectation.md): 5 standard errors + 0.15 nats leave a margin on both.
    # (Before LOG_EDGE_EPS, log at eps/std 1.01e-4 and 1e-3 scored 64 x 64 1.52 and 0.96 nats low.)
    np.testing.assert_array_less(np.abs(analytic - mc), 5 * se + 0.15)


def test_analytic_log_expectation_is_exact_in_scale_and_transpose():
    a = analytic_entropy(64, 96, "log", 1e-9, 1.0)
    assert analytic_entropy(64, 96, "log", 3e-9, 3.0) - a == pytest.approx(64 * np.log(3.0), rel=1e-12)
    assert analytic_entropy(96, 64, "rate", 1.0, 1.0) == analytic_entropy(64, 96, "rate", 1.0, 1.0)


def test_analytic_is_the_default_and_a_table_needs_monte_carlo():
    assert MeRinoEntropy().options()["expectation"] == "analytic"
    with pytest.raises(Exception, match="monte-carlo"):
        MeRinoEntropy(table=SpectrumTable(draws=2, cache_dir=False))
