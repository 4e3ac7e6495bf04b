"""The signal-region significance: its limits, its ordering and its null distribution."""

from __future__ import annotations

import numpy as np
import pytest

from liberica.fits.signal_region import (
    SignalRegionError,
    constrained_background,
    significance,
    significances,
)


def _poisson_z(n: float, b: float) -> float:
    q0 = 2.0 * ((n * np.log(n / b) if n > 0 else 0.0) - (n - b))
    return float(np.sign(n - b) * np.sqrt(q0))


@pytest.mark.parametrize("n, b", [(150, 100.0), (3, 0.5), (60, 100.0), (0, 4.0), (12, 12.0)])
def test_a_vanishing_error_gives_the_poisson_likelihood_ratio(n, b):
    assert significance(n, b, 0.0) == pytest.approx(_poisson_z(n, b), abs=1e-12)
    assert significance(n, b, 1e-6) == pytest.approx(_poisson_z(n, b), abs=1e-6)


def test_a_larger_background_error_gives_a_smaller_significance_either_way():
    errors = [0.0, 1.0, 5.0, 20.0, 80.0]
    excess = [significance(160, 100.0, s) for s in errors]
    deficit = [significance(50, 100.0, s) for s in errors]
    assert all(a > b > 0 for a, b in zip(excess, excess[1:], strict=False))
    assert all(a < b < 0 for a, b in zip(deficit, deficit[1:], strict=False))


@pytest.mark.parametrize("sigma", [0.0, 300.0, 2000.0])
def test_large_counts_approach_the_gaussian_formula(sigma):
    b, n = 1e6, 1e6 + 3000.0
    assert significance(n, b, sigma) == pytest.approx((n - b) / np.sqrt(b + sigma**2), rel=0.01)


def test_the_constrained_background_solves_the_likelihood_equation():
    n = np.array([0.0, 3.0, 50.0, 400.0, 7.0])
    b = np.array([4.0, 0.5, 80.0, 380.0, 30.0])
    sigma = np.array([3.0, 0.2, 10.0, 25.0, 40.0])
    root = constrained_background(n, b, sigma)
    assert np.all(root >= 0)
    inside = root > 0  # n / b - 1 - (b - b_hat) / sigma^2 = 0 at an interior maximum
    residual = n[inside] / root[inside] - 1 - (root[inside] - b[inside]) / sigma[inside] ** 2
    assert np.allclose(residual, 0, atol=1e-10)
    assert root[0] == pytest.approx(0.0)  # no event and b_hat below sigma^2: at the boundary
    assert np.allclose(
        significances(n, b, sigma), [significance(*x) for x in zip(n, b, sigma, strict=True)]
    )


def test_background_only_significances_are_standard_normal():
    rng = np.random.default_rng(11)
    toys, b, sigma = 20_000, 200.0, 15.0
    b_hat = np.clip(rng.normal(b, sigma, toys), 1.0, None)  # the auxiliary measurement
    z = significances(rng.poisson(b, toys), b_hat, sigma)
    assert abs(z.mean()) < 3 / np.sqrt(toys)
    assert 0.95 < z.std() < 1.05
    # the error must enter: with sigma ignored the same toys are far wider than N(0, 1)
    assert significances(rng.poisson(b, toys), b_hat, 0.0).std() > 1.2


@pytest.mark.parametrize(
    "args, words",
    [((-1, 5.0, 1.0), "observed count"), ((5, np.nan, 1.0), "not finite"),
     ((5, 0.0, 0.0), "no Poisson likelihood"), ((5, 3.0, -1.0), "error")],
)  # fmt: skip
def test_counts_and_backgrounds_without_a_significance_are_refused(args, words):
    with pytest.raises(SignalRegionError, match=words):
        significance(*args)
