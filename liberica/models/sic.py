"""The significance improvement characteristic (SIC) of a classifier.

A cut on the score keeps a fraction eps_S of the signal and eps_B of the
background; in the Poisson regime S/sqrt(B) becomes eps_S/sqrt(eps_B) times the
uncut one, which is the SIC (LHC Olympics 2020, arXiv 2101.08320). A random cut
has eps_S = eps_B, so SIC = sqrt(eps_S) <= 1.

The peak of eps_S/sqrt(eps_B) is dominated at small eps_B by fluctuations of
the few background events left: with none left it is infinite. The peak is
therefore taken only where at least ``min_background`` background events pass,
i.e. at eps_B >= eps_b_floor = min_background / N_B, and the floor is part of
the result so that curves from samples of different size are read alike.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from liberica.core.errors import LibericaError
from liberica.models.train import roc

MAX_POINTS = 200
"""The thinned curve keeps at most about this many points (half on a linear eps_S
grid, half on a logarithmic eps_B grid), plus the peak and the floor."""


class SicError(LibericaError, ValueError):
    """Scores and labels from which no SIC can be computed."""


class SicCurve(NamedTuple):
    """A SIC curve, thinned for JSON, and its peak above the background floor.

    Attributes:
        eps_s: signal efficiencies of the thinned thresholds (increasing)
        eps_b: background efficiencies at the same thresholds (increasing)
        sic: eps_s / sqrt(eps_b) (no point with eps_b = 0 is kept)
        peak_sic: the largest SIC where at least ``min_background`` background events pass
        peak_eps_s: eps_S at that peak
        peak_eps_b: eps_B at that peak
        eps_b_floor: ``min_background`` / N_B, the smallest eps_B the peak may use
        min_background: background events that must pass a threshold for its SIC to count
    """

    eps_s: np.ndarray
    eps_b: np.ndarray
    sic: np.ndarray
    peak_sic: float
    peak_eps_s: float
    peak_eps_b: float
    eps_b_floor: float
    min_background: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists of floats)."""
        return {
            "eps_s": [float(v) for v in self.eps_s],
            "eps_b": [float(v) for v in self.eps_b],
            "sic": [float(v) for v in self.sic],
            "peak_sic": self.peak_sic,
            "peak_eps_s": self.peak_eps_s,
            "peak_eps_b": self.peak_eps_b,
            "eps_b_floor": self.eps_b_floor,
            "min_background": self.min_background,
        }


def _thinned(eps_s: np.ndarray, eps_b: np.ndarray, keep: list[int]) -> np.ndarray:
    """Indices of at most ~MAX_POINTS points that follow the curve in eps_S and in log eps_B."""
    half = MAX_POINTS // 2
    on_s = np.searchsorted(eps_s, np.linspace(0.0, 1.0, half), side="left")
    on_b = np.searchsorted(eps_b, np.geomspace(eps_b[0], 1.0, half), side="left")
    points = np.concatenate([on_s, on_b, keep, [0, len(eps_s) - 1]])
    return np.unique(np.clip(points, 0, len(eps_s) - 1))


def sic_curve(
    scores: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None = None,
    min_background: int = 25,
) -> SicCurve:
    """The SIC over all score thresholds (higher scores are more signal-like).

    Args:
        scores: ``(n,)`` classifier scores
        labels: ``(n,)`` 1 for signal, 0 for background
        weights: ``(n,)`` event weights for the efficiencies [default: unit];
            the background floor counts events, not weights
        min_background: background events that must pass a threshold for its
            SIC to be a candidate peak

    Raises:
        SicError: without signal, with fewer than ``min_background`` background
            events, or with non-finite scores
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if not np.isfinite(scores).all():
        raise SicError(
            f"{int(np.sum(~np.isfinite(scores)))} of {len(scores)} scores are not finite"
        )
    n_signal, n_background = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    if n_signal == 0 or n_background < max(min_background, 1):
        raise SicError(
            f"a SIC needs signal and at least min_background={min_background} background "
            f"events; got {n_signal} signal and {n_background} background"
        )
    eps_b, eps_s, _ = roc(scores, labels, weights)
    passing_b, _, _ = roc(scores, labels)  # the same thresholds, counting events
    passing_b = np.rint(passing_b * n_background)
    positive = eps_b > 0
    eps_s, eps_b, passing_b = eps_s[positive], eps_b[positive], passing_b[positive]
    sic = eps_s / np.sqrt(eps_b)
    allowed = np.flatnonzero(passing_b >= min_background)
    peak = int(allowed[np.argmax(sic[allowed])])
    points = _thinned(eps_s, eps_b, [peak, int(allowed[0])])
    return SicCurve(
        eps_s=eps_s[points],
        eps_b=eps_b[points],
        sic=sic[points],
        peak_sic=float(sic[peak]),
        peak_eps_s=float(eps_s[peak]),
        peak_eps_b=float(eps_b[peak]),
        eps_b_floor=min_background / n_background,
        min_background=int(min_background),
    )


def sic_at(curve: SicCurve, eps_s: float) -> float:
    """The SIC at signal efficiency ``eps_s``, from log eps_B interpolated linearly in eps_S
    (eps_B spans decades between the stored points, where a linear interpolation of
    eps_B itself overestimates it).

    Where several thresholds give the same eps_S, the smallest eps_B counts.
    Returns NaN outside the curve's range or where the interpolated eps_B is
    below the curve's floor (too few background events to say).
    """
    first = np.unique(curve.eps_s, return_index=True)[1]
    xs, ys = curve.eps_s[first], curve.eps_b[first]
    if not xs[0] <= eps_s <= xs[-1]:
        return math.nan
    positive = ys > 0
    if not positive.any():
        return math.nan
    eps_b = float(np.exp(np.interp(eps_s, xs[positive], np.log(ys[positive]))))
    if eps_b < curve.eps_b_floor * (1 - 1e-12):
        return math.nan
    return eps_s / math.sqrt(eps_b)
