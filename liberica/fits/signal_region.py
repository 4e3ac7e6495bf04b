"""The significance of a signal-region count over a background known to +- sigma.

A count n in a signal region is compared with a background estimate b_hat +- sigma
(e.g. a sideband fit interpolated into the region, :func:`liberica.fits.spectrum.
fit_sidebands`). The background is a nuisance parameter b with a Gaussian
constraint, the signal s a free yield:

    L(s, b) = Pois(n | s + b) x N(b_hat | b, sigma)

The unconditional maximum is s_hat = n - b_hat, b = b_hat (s may be negative).
Under s = 0, d ln L / db = n / b - 1 - (b - b_hat) / sigma^2 = 0 is the quadratic
b^2 + (sigma^2 - b_hat) b - n sigma^2 = 0, whose positive root is b_hathat (0 for
n = 0 and b_hat <= sigma^2). Then

    q0 = -2 ln(L(0, b_hathat) / L(s_hat, b_hat))
       = 2 [n ln(n / b_hathat) - (n - b_hathat)] + (b_hathat - b_hat)^2 / sigma^2

and the signed significance is Z = sign(n - b_hat) sqrt(q0): negative for a
deficit, so that background-only Z's are close to N(0, 1) (Wilks, one parameter)
rather than piled up at 0. For sigma -> 0 it is the Poisson likelihood ratio of n
over a known b_hat; for large counts, (n - b_hat) / sqrt(b_hat + sigma^2).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from liberica.core.errors import LibericaError


class SignalRegionError(LibericaError, ValueError):
    """A count or background that has no significance (the message says which)."""


def constrained_background(
    observed: ArrayLike, expected: ArrayLike, error: ArrayLike
) -> np.ndarray:
    """b_hathat: the background that maximizes L(0, b), the positive root of the quadratic.

    Written without cancellation on both sides: (B + sqrt(D)) / 2 where
    B = b_hat - sigma^2 >= 0, else 2 n sigma^2 / (sqrt(D) - B).
    """
    n, b, sigma = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (observed, expected, error))
    )
    variance = sigma**2
    linear = b - variance
    root = np.sqrt(linear**2 + 4.0 * n * variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        small = np.where(root - linear > 0, 2.0 * n * variance / (root - linear), 0.0)
    return np.where(linear >= 0, 0.5 * (linear + root), small)


def _check(n: np.ndarray, b: np.ndarray, sigma: np.ndarray) -> None:
    for name, values in (("observed count", n), ("expected background", b), ("error", sigma)):
        bad = ~np.isfinite(values)
        if bad.any():
            raise SignalRegionError(f"the {name} is not finite: {values[bad].flat[0]!r}")
    if np.any(n < 0) or np.any(sigma < 0):
        which = "observed count" if np.any(n < 0) else "background error"
        raise SignalRegionError(f"the {which} must be >= 0")
    unknown = (b <= 0) & (sigma == 0)
    if unknown.any():
        raise SignalRegionError(
            f"a background of {b[unknown].flat[0]:g} +- 0 has no Poisson likelihood; "
            "the expected background must be > 0 or have an error"
        )


def significances(observed: ArrayLike, expected: ArrayLike, error: ArrayLike) -> np.ndarray:
    """:func:`significance` of arrays of counts, backgrounds and errors (broadcast).

    Raises:
        SignalRegionError: for a negative or non-finite count or error, or a background
            <= 0 known exactly
    """
    n, b, sigma = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (observed, expected, error))
    )
    _check(n, b, sigma)
    constrained = np.where(sigma > 0, constrained_background(n, b, sigma), b)
    with np.errstate(divide="ignore", invalid="ignore"):
        poisson = 2.0 * (special.xlogy(n, n) - special.xlogy(n, constrained) - (n - constrained))
        penalty = np.where(
            sigma > 0, (constrained - b) ** 2 / np.where(sigma > 0, sigma, 1.0) ** 2, 0.0
        )
    q0 = np.maximum(poisson + penalty, 0.0)  # rounding below 0 at n = b_hat
    return np.sign(n - b) * np.sqrt(q0)


def significance(observed: float, expected: float, error: float) -> float:
    """The signed profile-likelihood significance of ``observed`` over ``expected`` +- ``error``.

    Args:
        observed: the count n in the signal region (need not be whole: a weighted count)
        expected: the background estimate b_hat there
        error: its error sigma (0: a background known exactly)

    Returns:
        Z = sign(n - b_hat) sqrt(q0) (module docstring)

    Raises:
        SignalRegionError: for a negative or non-finite count or error, or a background
            <= 0 known exactly
    """
    return float(significances(observed, expected, error))


__all__ = ["SignalRegionError", "constrained_background", "significance", "significances"]
