"""Spectrum shapes by name: signal peaks and smooth backgrounds, as densities in GeV.

Every shape is a :class:`Shape`: parameter names, starting values and limits
for a spectrum, and ``density(m, *params)`` in events per GeV (background) or
per unit probability (signal, normalized to 1 over the real line). Bin
contents come from ``Shape.integrals``: the signal peaks' exact CDFs, and for
the smooth backgrounds :func:`bin_integrals`, the density integrated over each
bin with Gauss-Legendre points, so steeply falling spectra are not biased by
bin centres.

Backgrounds take ``x``, the mass scaled to the fit range (``polynomial``,
``exp_poly``) or ``m / sqrt(s)`` (``dijet``); their first parameter is the
normalization.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import stats

SQRT_S_GEV = 13_000.0
"""The centre-of-mass energy of the dijet function's x = m / sqrt(s)."""

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)


class Shape(NamedTuple):
    """One spectrum shape.

    Attributes:
        name: its registry name
        kind: ``signal`` (normalized peak) or ``background`` (events per GeV)
        parameters: parameter names, in ``density``'s order
        density: ``f(m, *params)`` on an array of masses
        start: ``f(edges, values) -> (starting values, limits)`` for a spectrum
        cdf: ``F(m, *params)``, the exact integral, where known (a narrow peak in a
            wide bin needs it)
    """

    name: str
    kind: str
    parameters: tuple[str, ...]
    density: Callable[..., np.ndarray]
    start: Callable[[np.ndarray, np.ndarray], tuple[list[float], list[tuple[float, float]]]]
    cdf: Callable[..., np.ndarray] | None = None

    def integrals(self, params, edges: np.ndarray) -> np.ndarray:
        """The shape integrated over each bin: exactly with ``cdf``, else by quadrature."""
        if self.cdf is not None:
            return np.diff(self.cdf(np.asarray(edges, dtype=float), *params))
        return bin_integrals(lambda m: self.density(m, *params), edges)

    def integrator(self, edges: np.ndarray) -> Callable[..., np.ndarray]:
        """``integrals(params, edges)`` with the quadrature points of ``edges`` computed once,
        for the many evaluations of one fit (the same numbers)."""
        edges = np.asarray(edges, dtype=float)
        if self.cdf is not None:
            return lambda params: np.diff(self.cdf(edges, *params))
        integrate = bin_integrator(edges)
        return lambda params: integrate(lambda m: self.density(m, *params))


def quadrature(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The quadrature of :func:`bin_integrals`: per bin its Gauss-Legendre points, shape
    (bins, 8), the points' weights (8,) and the bins' half-widths; the integral of f over
    bin i is ``(f(points[i]) @ weights) * half[i]``."""
    edges = np.asarray(edges, dtype=float)
    half = 0.5 * np.diff(edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    return centre[:, None] + half[:, None] * _NODES[None, :], _WEIGHTS, half


def bin_integrator(
    edges: np.ndarray,
) -> Callable[[Callable[[np.ndarray], np.ndarray]], np.ndarray]:
    """:func:`bin_integrals` on fixed ``edges``, their quadrature points computed once."""
    points, _, half = quadrature(edges)
    flat = points.ravel()

    def integrate(density: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        return (density(flat).reshape(points.shape) @ _WEIGHTS) * half

    return integrate


def bin_integrals(density: Callable[[np.ndarray], np.ndarray], edges: np.ndarray) -> np.ndarray:
    """The integral of ``density`` over each bin of ``edges`` (8-point Gauss-Legendre)."""
    return bin_integrator(edges)(density)


def _peak_start(edges, values):
    centres = 0.5 * (edges[1:] + edges[:-1])
    weights = np.clip(values, 0, None)
    total = weights.sum()
    mean = float(np.sum(weights * centres) / total) if total > 0 else float(centres.mean())
    spread = np.sqrt(np.sum(weights * (centres - mean) ** 2) / total) if total > 0 else 0.0
    width = float(max(spread, np.diff(edges).min()))
    return mean, width


def _gaussian_start(edges, values):
    mean, width = _peak_start(edges, values)
    return [mean, width], [(edges[0], edges[-1]), (1e-3 * width, edges[-1] - edges[0])]


def _crystal_ball_start(edges, values):
    mean, width = _peak_start(edges, values)
    limits = [(edges[0], edges[-1]), (1e-3 * width, edges[-1] - edges[0]), (0.1, 10.0), (1.01, 50)]
    return [mean, width, 1.5, 5.0], limits


def gaussian(m: np.ndarray, mean: float, sigma: float) -> np.ndarray:
    """A normalized Gaussian peak."""
    return stats.norm.pdf(m, mean, sigma)


def _gaussian_cdf(m: np.ndarray, mean: float, sigma: float) -> np.ndarray:
    return stats.norm.cdf(m, mean, sigma)


def crystal_ball(m: np.ndarray, mean: float, sigma: float, alpha: float, n: float) -> np.ndarray:
    """A normalized Crystal Ball: a Gaussian core, a power-law tail below ``mean - alpha sigma``."""
    return stats.crystalball.pdf(m, alpha, n, loc=mean, scale=sigma)


def _crystal_ball_cdf(m: np.ndarray, mean: float, sigma: float, alpha: float, n: float):
    return stats.crystalball.cdf(m, alpha, n, loc=mean, scale=sigma)


def _scaled(m: np.ndarray, low: float, high: float) -> np.ndarray:
    return (np.asarray(m, dtype=float) - low) / (high - low)


def polynomial(order: int) -> Shape:
    """``p0 (1 + p1 x + ... + pn x^n)``, x the mass scaled to [0, 1] over the fit range."""

    def make(low: float, high: float) -> Callable[..., np.ndarray]:
        def density(m, p0, *coefficients):
            x = _scaled(m, low, high)
            return p0 * (1.0 + np.polynomial.polynomial.polyval(x, [0.0, *coefficients]))

        return density

    names = ("p0", *(f"p{k}" for k in range(1, order + 1)))
    return _ranged(f"polynomial{order}", names, make, [(-50.0, 50.0)] * order, [0.0] * order)


def exp_poly(order: int) -> Shape:
    """``p0 exp(-p1 x) (1 + p2 x + ... )``: an exponential times a polynomial of ``order``."""

    def make(low: float, high: float) -> Callable[..., np.ndarray]:
        def density(m, p0, slope, *coefficients):
            x = _scaled(m, low, high)
            poly = 1.0 + np.polynomial.polynomial.polyval(x, [0.0, *coefficients])
            return p0 * np.exp(-slope * x) * poly

        return density

    names = ("p0", "p1", *(f"p{k}" for k in range(2, order + 2)))
    return _ranged(
        f"exp_poly{order}", names, make, [(-50.0, 100.0)] + [(-50.0, 50.0)] * order,
        [1.0] + [0.0] * order,
    )  # fmt: skip


class RangedShape(NamedTuple):
    """A background whose variable depends on the fit range: ``bind(low, high)`` gives a Shape."""

    name: str
    parameters: tuple[str, ...]
    bind: Callable[[float, float], Shape]


def _ranged(name, names, make, limits, starts) -> RangedShape:
    def bind(low: float, high: float) -> Shape:
        density = make(low, high)

        def start(edges, values):
            level = max(float(np.mean(np.clip(values, 0, None) / np.diff(edges))), 1e-12)
            return [level, *starts], [(0.0, np.inf), *limits]

        return Shape(name, "background", names, density, start)

    return RangedShape(name, names, bind)


def dijet(m: np.ndarray, p0: float, p1: float, p2: float, p3: float) -> np.ndarray:
    """The 4-parameter dijet function ``p0 (1 - x)^p1 / x^(p2 + p3 ln x)``, x = m / sqrt(s)."""
    x = np.asarray(m, dtype=float) / SQRT_S_GEV
    return p0 * np.exp(p1 * np.log1p(-x) - (p2 + p3 * np.log(x)) * np.log(x))


def _log_dijet(x: np.ndarray, p1: float, p2: float, p3: float) -> np.ndarray:
    log_x = np.log(x)
    return p1 * np.log1p(-x) - (p2 + p3 * log_x) * log_x


def _dijet_bound(low: float, high: float) -> Shape:
    """The dijet function normalized at the fit range's low edge: ``p0`` is the density there.

    The same function as :func:`dijet` (``p0`` rescaled), but ``p0`` no longer
    spans decades with p1-p3, which keeps MIGRAD's covariance well conditioned.
    """
    x_low = low / SQRT_S_GEV

    def density(m, p0, p1, p2, p3):
        x = np.asarray(m, dtype=float) / SQRT_S_GEV
        return p0 * np.exp(_log_dijet(x, p1, p2, p3) - _log_dijet(x_low, p1, p2, p3))

    def start(edges, values):
        widths = np.diff(edges)
        density_0 = np.clip(values, 0, None) / widths
        # a power law through the spectrum's level for p1 = 10, p2 = 5, p3 = 0
        centres = 0.5 * (edges[1:] + edges[:-1])
        shape = density(centres, 1.0, 10.0, 5.0, 0.0)
        keep = density_0 > 0
        level = float(np.sum(density_0[keep]) / np.sum(shape[keep])) if keep.any() else 1.0
        # p1-p3 free: over a narrow x range they trade off against each other, and the
        # normalization at the low edge keeps the function finite wherever they go
        limits = [(0.0, np.inf)] + [(-np.inf, np.inf)] * 3
        return [max(level, 1e-12), 10.0, 5.0, 0.0], limits

    return Shape("dijet", "background", ("p0", "p1", "p2", "p3"), density, start)


def exponential(m: np.ndarray, p0: float, p1: float) -> np.ndarray:
    """A one-slope exponential ``p0 exp(-p1 m / 1 TeV)`` (a control: too stiff for a dijet)."""
    return p0 * np.exp(-p1 * np.asarray(m, dtype=float) / 1000.0)


def _exponential_start(edges, values):
    centres = 0.5 * (edges[1:] + edges[:-1])
    density = np.clip(values, 0, None) / np.diff(edges)
    keep = density > 0
    slope = 1.0
    if keep.sum() >= 2:
        slope = max(-np.polyfit(centres[keep] / 1000.0, np.log(density[keep]), 1)[0], 1e-3)
    level = float(np.sum(density[keep]) / np.sum(np.exp(-slope * centres[keep] / 1000.0)))
    return [level, slope], [(0.0, np.inf), (-100.0, 100.0)]


SIGNAL_SHAPES: dict[str, Shape] = {
    "gaussian": Shape(
        "gaussian", "signal", ("mean", "sigma"), gaussian, _gaussian_start, _gaussian_cdf
    ),
    "crystal_ball": Shape(
        "crystal_ball",
        "signal",
        ("mean", "sigma", "alpha", "n"),
        crystal_ball,
        _crystal_ball_start,
        _crystal_ball_cdf,
    ),
}
"""Signal peaks by name (normalized densities)."""

BACKGROUND_SHAPES: dict[str, Shape | RangedShape] = {
    "dijet": RangedShape("dijet", ("p0", "p1", "p2", "p3"), _dijet_bound),
    "exponential": Shape(
        "exponential", "background", ("p0", "p1"), exponential, _exponential_start
    ),
    **{f"polynomial{k}": polynomial(k) for k in range(0, 5)},
    **{f"exp_poly{k}": exp_poly(k) for k in range(0, 4)},
}
"""Backgrounds by name (events per GeV); ``polynomialN`` and ``exp_polyN`` for N = 0-4 and 0-3."""


def signal_shape(name: str) -> Shape:
    """A signal shape by name.

    Raises:
        KeyError: naming the known shapes
    """
    if name not in SIGNAL_SHAPES:
        raise KeyError(f"unknown signal shape {name!r}; known: {', '.join(SIGNAL_SHAPES)}")
    return SIGNAL_SHAPES[name]


def background_shape(name: str, low: float, high: float) -> Shape:
    """A background shape by name, bound to the fit range [low, high] GeV.

    Raises:
        KeyError: naming the known shapes
    """
    if name not in BACKGROUND_SHAPES:
        raise KeyError(f"unknown background shape {name!r}; known: {', '.join(BACKGROUND_SHAPES)}")
    shape = BACKGROUND_SHAPES[name]
    return shape.bind(low, high) if isinstance(shape, RangedShape) else shape


__all__ = [
    "BACKGROUND_SHAPES",
    "SIGNAL_SHAPES",
    "Shape",
    "background_shape",
    "bin_integrals",
    "bin_integrator",
    "quadrature",
    "signal_shape",
]
