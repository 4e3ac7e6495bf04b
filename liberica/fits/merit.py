"""Figures of merit of a selection in a mass window: S/sqrt(B), with a background
uncertainty, the Asimov discovery significance (Cowan's formulas), and Punzi's.

``S`` and ``B`` are the expected signal and background yields in the window;
``delta_rel`` is the relative background uncertainty, dB = delta_rel x B.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

PUNZI_A = 5.0
"""Punzi's a: the significance (in sigma) the search aims at."""


def s_over_sqrt_b(s: float, b: float) -> float:
    """S / sqrt(B) (nan where B <= 0)."""
    return s / math.sqrt(b) if b > 0 else float("nan")


def s_over_sqrt_s_b_db2(s: float, b: float, delta_rel: float) -> float:
    """S / sqrt(S + B + dB^2), dB = delta_rel x B."""
    denominator = s + b + (delta_rel * b) ** 2
    return s / math.sqrt(denominator) if denominator > 0 else float("nan")


def asimov_z(s: float, b: float, sigma_b: float = 0.0) -> float:
    """The median discovery significance of a counting experiment (Cowan et al.).

    Without a background uncertainty, Z_A = sqrt(2((S+B) ln(1 + S/B) - S)).
    With ``sigma_b``, Z_A = sqrt(2((S+B) ln((S+B)(B+sb^2) / (B^2 + (S+B) sb^2))
    - (B^2/sb^2) ln(1 + sb^2 S / (B (B+sb^2))))).
    """
    if b <= 0:
        return float("nan")
    if s <= 0:
        return 0.0
    n = s + b
    if sigma_b <= 0:
        return math.sqrt(2.0 * (n * math.log1p(s / b) - s))
    v = sigma_b**2
    first = n * math.log(n * (b + v) / (b * b + n * v))
    second = (b * b / v) * math.log1p(v * s / (b * (b + v)))
    return math.sqrt(max(2.0 * (first - second), 0.0))


def punzi(efficiency: float, b: float, a: float = PUNZI_A) -> float:
    """Punzi's figure of merit eps_S / (a/2 + sqrt(B)), eps_S relative to the generated signal."""
    return efficiency / (a / 2.0 + math.sqrt(max(b, 0.0)))


def on_off_z(n: float, m: float, tau: float) -> float:
    """The profile-likelihood discovery Z of n ~ Pois(s + b) with an off measurement m ~ Pois(tau b).

    The profiled likelihood ratio in closed form: under s = 0, b = (n + m) / (1 + tau);
    free, s = n - m / tau and b = m / tau. With Asimov n = S + B, m = tau B and
    tau = B / sigma_b^2 it equals :func:`asimov_z` with ``sigma_b``.
    """
    if not tau > 0:
        raise ValueError(f"the off/on ratio tau must be > 0, got {tau}")
    if n <= m / tau:
        return 0.0

    def log_l(s: float, b: float) -> float:
        mu_on, mu_off = s + b, tau * b
        return _xlogy(n, mu_on) - mu_on + _xlogy(m, mu_off) - mu_off

    b0 = (n + m) / (1.0 + tau)
    q0 = 2.0 * (log_l(n - m / tau, m / tau) - log_l(0.0, b0))
    return math.sqrt(max(q0, 0.0))


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


class Window(NamedTuple):
    """A mass window [low, high] GeV, as whole bins of a spectrum, and the yields in it."""

    low: float
    high: float
    signal: float
    background: float
    background_variance: float


def window_yields(
    edges: np.ndarray,
    signal: np.ndarray,
    background: np.ndarray,
    background_variance: np.ndarray,
    window: tuple[float, float],
) -> Window:
    """S and B summed over the bins whose centres lie in ``window`` (the window snapped to them).

    Raises:
        ValueError: if no bin centre lies in the window
    """
    edges = np.asarray(edges, dtype=float)
    centres = 0.5 * (edges[1:] + edges[:-1])
    inside = (centres >= window[0]) & (centres <= window[1])
    if not inside.any():
        raise ValueError(f"no bin centre in the window [{window[0]:g}, {window[1]:g}] GeV")
    first, last = np.flatnonzero(inside)[[0, -1]]
    return Window(
        float(edges[first]),
        float(edges[last + 1]),
        float(np.sum(np.asarray(signal)[inside])),
        float(np.sum(np.asarray(background)[inside])),
        float(np.sum(np.asarray(background_variance)[inside])),
    )


def figures_of_merit(
    s: float, b: float, delta_rel: float, efficiency: float, a: float = PUNZI_A
) -> dict[str, float]:
    """Every figure of merit of one selection, keyed as in ``search/results.json``."""
    return {
        "s_over_sqrt_b": s_over_sqrt_b(s, b),
        "s_over_sqrt_s_b_db2": s_over_sqrt_s_b_db2(s, b, delta_rel),
        "asimov_z": asimov_z(s, b, delta_rel * b),
        "asimov_z_no_uncertainty": asimov_z(s, b),
        "punzi": punzi(efficiency, b, a),
    }
