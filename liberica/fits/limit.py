"""Upper limit on mu: asymptotic CLs with the q~mu test statistic, at 95% CL.

This is the calculation of ``pyhf.infer.hypotest(..., test_stat="qtilde")``
(arXiv:1007.1727: q~mu on data and on the background-only Asimov data set,
CLs = CLs+b / CLb, and the expected band from the background-only
distribution), evaluated on the compiled likelihood so that a scan costs
seconds. A test compares its CLs with pyhf's at the same mu.

``cabinetry.fit.limit`` needs a bracket and spent minutes per limit on the
default workspace here; instead, a coarse scan from 0 to beyond the observed
limit brackets every crossing, and Brent's method refines each one.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from liberica.fits.likelihood import FitPoint, Likelihood

log = logging.getLogger(__name__)

UPPER_LIMIT_SECONDS = 600.0
"""Budget of the CLs limit (the fits of the calculator, the coarse scan and Brent's
refinements, about 100 fits): about 1-4 s on hzz4l's samples here."""

#: the expected band, in standard deviations of the background-only test statistic;
#: +2 gives the lowest limit, so the limits come out ordered -2, -1, 0, +1, +2 sigma
_BAND = (2.0, 1.0, 0.0, -1.0, -2.0)


class UpperLimit(NamedTuple):
    """Observed and expected upper limits on mu.

    Attributes:
        observed: the observed limit
        expected: the expected limits at -2, -1, 0 (median), +1, +2 sigma
        confidence_level: e.g. 0.95
        scan_mu: every mu evaluated: the coarse scan and the refinements, ascending
        scan_observed_cls: observed CLs at each scanned mu
        scan_expected_cls: expected CLs (five per mu, band order as above)
    """

    observed: float
    expected: list[float]
    confidence_level: float
    scan_mu: list[float]
    scan_observed_cls: list[float]
    scan_expected_cls: list[list[float]]


class CLsCalculator:
    """Asymptotic CLs of mu for the q~mu test statistic, with cached fits.

    Args:
        likelihood: the compiled likelihood (its data are the observed data)
    """

    def __init__(self, likelihood: Likelihood) -> None:
        self._likelihood = likelihood
        poi = likelihood.poi_index
        self._poi = poi
        upper = likelihood.bounds[poi][1]
        self._bounds = {poi: (0.0, upper)}  # q~mu: mu_hat is not allowed below 0
        self._free = likelihood.fit(bounds=self._bounds, step="CLs: free fit (mu >= 0)")
        background_only = likelihood.fit(fixed={poi: 0.0}, step="CLs: background-only fit")
        self._asimov = likelihood.expected_data(background_only.bestfit)
        self._free_asimov = likelihood.fit(
            self._asimov,
            init=background_only.bestfit,
            bounds=self._bounds,
            step="CLs: free fit to the background-only Asimov data",
        )
        self._cache: dict[float, tuple[float, list[float]]] = {}

    @property
    def evaluated(self) -> dict[float, tuple[float, list[float]]]:
        """mu -> (observed CLs, expected CLs) of every point computed so far."""
        return dict(self._cache)

    @property
    def mu_hat(self) -> float:
        """mu at the free minimum on data (bounded at 0)."""
        return float(self._free.bestfit[self._poi])

    def _q(self, mu: float, data, free: FitPoint) -> float:
        if free.bestfit[self._poi] > mu:
            return 0.0
        conditional = self._likelihood.fit(
            data,
            fixed={self._poi: mu},
            init=free.bestfit,
            step=f"CLs scan at mu = {mu:.4g}",
            must_converge=False,
        )
        return max(conditional.twice_nll - free.twice_nll, 0.0)

    def cls(self, mu: float) -> tuple[float, list[float]]:
        """Observed CLs and the five expected CLs (band order) at ``mu`` > 0."""
        if mu not in self._cache:
            sqrt_q = np.sqrt(self._q(mu, None, self._free))
            sqrt_qa = np.sqrt(self._q(mu, self._asimov, self._free_asimov))
            if sqrt_q <= sqrt_qa:
                t = sqrt_q - sqrt_qa
            else:
                t = (sqrt_q**2 - sqrt_qa**2) / (2 * sqrt_qa)
            observed = norm.cdf(-sqrt_qa - t) / norm.cdf(-t)
            # pyhf's default "normal" base distribution: no clipping of the band
            expected = [float(norm.cdf(-sqrt_qa - n) / norm.cdf(-n)) for n in _BAND]
            self._cache[mu] = (float(observed), expected)
            self._likelihood.report("CLs scan", len(self._cache))
        return self._cache[mu]


def upper_limit(
    likelihood: Likelihood,
    confidence_level: float = 0.95,
    scan_points: int = 16,
    scan_max: float | None = None,
    seconds: float | None = None,
) -> UpperLimit:
    """Observed and expected CLs upper limits on mu.

    Args:
        likelihood: the compiled likelihood of the workspace
        confidence_level: the limit's confidence level
        scan_points: points of the coarse scan that brackets the crossings
        scan_max: end of the scan; default mu_hat + 5 sigma(mu_hat), at least 1
        seconds: the budget of every fit of the limit [default: ``UPPER_LIMIT_SECONDS``]

    Raises:
        FitBudgetExceeded: if its fits take longer than their budget
    """
    with likelihood.budget(
        "upper limit (CLs scan)",
        UPPER_LIMIT_SECONDS if seconds is None else seconds,
        "liberica.fits.limit.UPPER_LIMIT_SECONDS",
    ):
        return _upper_limit(likelihood, confidence_level, scan_points, scan_max)


def _upper_limit(
    likelihood: Likelihood, confidence_level: float, scan_points: int, scan_max: float | None
) -> UpperLimit:
    calculator = CLsCalculator(likelihood)
    alpha = 1.0 - confidence_level
    if scan_max is None:
        covariance = likelihood.covariance(calculator._free.bestfit)
        sigma = float(np.sqrt(covariance[likelihood.poi_index, likelihood.poi_index]))
        scan_max = max(calculator.mu_hat + 5.0 * sigma, 1.0)
    grid = np.linspace(scan_max / scan_points, scan_max, scan_points)
    for mu in grid:
        calculator.cls(float(mu))

    def crossing(curve) -> float:
        values = np.asarray([curve(mu) for mu in grid]) - alpha
        below = np.flatnonzero(values < 0)
        if below.size == 0:
            log.warning(
                "CLs stays above %.3g up to mu = %.3g: no limit in the scan", alpha, scan_max
            )
            return float("nan")
        first = below[0]
        if first == 0:
            low = 1e-6 * scan_max
            if curve(low) - alpha < 0:
                return float("nan")
        else:
            low = float(grid[first - 1])
        return float(brentq(lambda mu: curve(mu) - alpha, low, float(grid[first]), xtol=1e-4))

    observed = crossing(lambda mu: calculator.cls(mu)[0])
    expected = [crossing(lambda mu, k=k: calculator.cls(mu)[1][k]) for k in range(len(_BAND))]
    # every evaluated point: the grid plus those Brent's method added near the crossings
    scanned = sorted(calculator.evaluated.items())
    return UpperLimit(
        observed=observed,
        expected=expected,
        confidence_level=confidence_level,
        scan_mu=[mu for mu, _ in scanned],
        scan_observed_cls=[cls[0] for _, cls in scanned],
        scan_expected_cls=[list(cls[1]) for _, cls in scanned],
    )
