"""Binned fits of a 1-D spectrum with iminuit: background under H0, signal plus background
under H1, and the Wilks significance of the signal.

A :class:`Spectrum` holds, per bin, the sum of weights and the sum of squared
weights (for data, the counts twice). Two costs, by name (:data:`COSTS`):

- ``chi2``, for MC-like weighted spectra (Cowan, "Statistical tests with
  weighted Monte Carlo events"): chi2 = sum_i (sum_j w_ij - f_i)^2 / sum_j w_ij^2.
  **Empty bins:** a bin with sum w^2 = 0 holds no event, so its variance is
  unknown; it is left out of the sum and of the degrees of freedom.
  :func:`data_mc_chi2` compares data with a weighted MC prediction, with
  variance n_i + sum w^2 of the MC.
- ``poisson``, the binned Poisson likelihood as the deviance
  -2 ln(L / L_saturated) = 2 sum_i (f_i - n_i + n_i ln(n_i / f_i)). For a
  weighted spectrum each bin is the scaled Poisson of (sum w, sum w^2): with
  k_i = sum w / sum w^2, n_i -> k_i sum w and f_i -> k_i f_i (iminuit's
  treatment of weighted histograms).

The signal shape is fixed from a signal-only fit (:func:`fit_signal`). Under H0
the background parameters float; under H1 the signal yield floats too and may
go negative. Wilks' theorem with one parameter of interest gives the signed
significance Z = sign(s_hat) sqrt(cost_H0 - cost_H1) and the discovery
significance max(Z, 0).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from iminuit import Minuit
from iminuit import cost as iminuit_cost
from scipy import stats

from liberica.core.errors import LibericaError
from liberica.fits.shapes import Shape, background_shape, signal_shape

log = logging.getLogger(__name__)

EDGE_TOLERANCE = 1e-9
"""Relative tolerance when a fit range is matched to bin edges."""


class SpectrumError(LibericaError, ValueError):
    """A spectrum or a fit range that cannot be fitted (the message says why)."""


class Spectrum(NamedTuple):
    """A binned spectrum: edges (GeV), sum of weights and sum of squared weights per bin."""

    edges: np.ndarray
    values: np.ndarray
    variances: np.ndarray

    @classmethod
    def of(cls, edges, values, variances=None) -> Spectrum:
        """A spectrum from arrays; without ``variances``, counts (variance = value)."""
        edges = np.asarray(edges, dtype=float)
        values = np.asarray(values, dtype=float)
        variances = values.copy() if variances is None else np.asarray(variances, dtype=float)
        if edges.ndim != 1 or len(edges) != len(values) + 1 or values.shape != variances.shape:
            raise SpectrumError(
                f"a spectrum needs n + 1 edges for n values and variances, got {len(edges)} "
                f"edges, {values.shape} values and {variances.shape} variances"
            )
        if np.any(np.diff(edges) <= 0):
            raise SpectrumError("spectrum edges must increase")
        if not (np.all(np.isfinite(values)) and np.all(np.isfinite(variances))):
            raise SpectrumError("spectrum values and variances must be finite")
        if np.any(variances < 0):
            raise SpectrumError("spectrum variances (sum of w^2) must be >= 0")
        return cls(edges, values, variances)

    @classmethod
    def from_hist(cls, histogram) -> Spectrum:
        """A spectrum from a 1-D ``hist`` histogram (Weight storage, or counts)."""
        values = histogram.values()
        variances = histogram.variances()
        return cls.of(histogram.axes[0].edges, values, values if variances is None else variances)

    def within(self, low: float, high: float) -> Spectrum:
        """The bins inside [low, high], whose ends must be bin edges.

        Raises:
            SpectrumError: if ``low`` or ``high`` is not a bin edge
        """
        index = []
        for end in (low, high):
            close = np.flatnonzero(np.isclose(self.edges, end, rtol=EDGE_TOLERANCE, atol=0))
            if len(close) != 1:
                raise SpectrumError(
                    f"fit range end {end:g} GeV is not a bin edge "
                    f"(edges {self.edges[0]:g}-{self.edges[-1]:g} GeV in {len(self.values)} bins)"
                )
            index.append(int(close[0]))
        first, last = index
        if last <= first:
            raise SpectrumError(f"empty fit range [{low:g}, {high:g}] GeV")
        return Spectrum(
            self.edges[first : last + 1], self.values[first:last], self.variances[first:last]
        )


# -- costs ------------------------------------------------------------------------------


def weighted_chi2(spectrum: Spectrum, expected: np.ndarray) -> tuple[float, int]:
    """Cowan's weighted chi2 over the bins with sum w^2 > 0, and how many bins it used."""
    used = spectrum.variances > 0
    value = iminuit_cost.chi2(
        spectrum.values[used], np.sqrt(spectrum.variances[used]), expected[used]
    )
    return float(value), int(used.sum())


def data_mc_chi2(data: np.ndarray, mc: Spectrum) -> tuple[float, int]:
    """chi2 of data counts against a weighted MC prediction, variance n_i + sum w^2 (MC).

    Bins where both are zero are left out.
    """
    data = np.asarray(data, dtype=float)
    variance = data + mc.variances
    used = variance > 0
    value = np.sum((data[used] - mc.values[used]) ** 2 / variance[used])
    return float(value), int(used.sum())


NEGATIVE_EXPECTATION_COST = 1e30
"""The Poisson cost of a prediction with a bin at or below zero: no Poisson model has one."""


def poisson_scales(spectrum: Spectrum) -> np.ndarray:
    """Per bin, k = |sum w| / sum w^2: the scale that makes a weighted bin an effective count.

    Counts (sum w^2 = sum w) get 1. A bin with no entry (sum w^2 = 0) takes the
    median scale of the others, as iminuit does, so that an empty bin of a
    weighted spectrum weighs as an empty bin of its effective counts.
    """
    values, variances = spectrum.values, spectrum.variances
    filled = variances > 0
    scale = np.ones_like(values)
    scale[filled] = np.abs(values[filled]) / variances[filled]
    usable = filled & (scale > 0)
    if usable.any():
        scale[~usable] = float(np.median(scale[usable]))
    return scale


def poisson_deviance(spectrum: Spectrum, expected: np.ndarray) -> tuple[float, int]:
    """-2 ln(L / L_saturated) of the (scaled) Poisson bins, and the bins it used.

    A prediction with any bin <= 0 costs ``NEGATIVE_EXPECTATION_COST``: the fit
    backs off it instead of treating a negative yield under an empty bin as free.
    """
    expected = np.asarray(expected, dtype=float)
    if np.any(expected <= 0):
        return NEGATIVE_EXPECTATION_COST, len(expected)
    scale = poisson_scales(spectrum)
    value = iminuit_cost.poisson_chi2(scale * spectrum.values, scale * expected)
    return float(value), len(spectrum.values)


COSTS: dict[str, Callable[[Spectrum, np.ndarray], tuple[float, int]]] = {
    "chi2": weighted_chi2,
    "poisson": poisson_deviance,
}
"""The costs of a spectrum fit by name: ``f(spectrum, expected) -> (value, bins used)``."""


def _cost(name: str) -> Callable[[Spectrum, np.ndarray], tuple[float, int]]:
    if name not in COSTS:
        raise SpectrumError(f"unknown cost {name!r}; known: {', '.join(COSTS)}")
    return COSTS[name]


# -- fits -------------------------------------------------------------------------------


class Fit(NamedTuple):
    """One fit of a spectrum.

    Attributes:
        parameters: best-fit values by name
        errors: their HESSE errors (0 for fixed parameters)
        cost: the cost at the minimum (chi2, or the Poisson deviance)
        ndf: bins used minus free parameters
        p_value: the cost's chi2 p-value with ``ndf`` (nan where ndf <= 0)
        valid: whether MIGRAD found a valid minimum
        expected: the fitted prediction per bin
        at_limit: the free parameters that ended at a limit
        bins: the bins the cost used (the weighted chi2 leaves out bins with
            sum w^2 = 0), of ``len(expected)``
    """

    parameters: dict[str, float]
    errors: dict[str, float]
    cost: float
    ndf: int
    p_value: float
    valid: bool
    expected: np.ndarray
    at_limit: tuple[str, ...] = ()
    bins: int = 0

    @property
    def chi2_ndf(self) -> float:
        """cost / ndf (nan where ndf <= 0)."""
        return self.cost / self.ndf if self.ndf > 0 else float("nan")


class SignalShape(NamedTuple):
    """A signal peak fixed from a signal-only fit: the shape, its parameters, its yield."""

    shape: Shape
    parameters: tuple[float, ...]
    fit: Fit

    @property
    def mean(self) -> float:
        """The fitted peak position (GeV)."""
        return float(self.parameters[self.shape.parameters.index("mean")])

    @property
    def sigma(self) -> float:
        """The fitted core width (GeV)."""
        return float(self.parameters[self.shape.parameters.index("sigma")])

    def window(self, n_sigma: float = 2.0) -> tuple[float, float]:
        """The mass window mean +- n_sigma sigma (GeV)."""
        return self.mean - n_sigma * self.sigma, self.mean + n_sigma * self.sigma


class SearchFit(NamedTuple):
    """Background-only (H0) and signal-plus-background (H1) fits, and the Wilks significance.

    Attributes:
        cost: the cost's name
        background: the background shape's name
        h0, h1: the two fits (H1's parameters include ``signal_yield``)
        signal_yield: H1's fitted signal yield (events, may be negative)
        signal_yield_error: its HESSE error
        delta: cost(H0) - cost(H1) (>= 0)
        z: the signed significance sign(s_hat) sqrt(delta)
        z_discovery: max(z, 0)
        warnings: what makes these numbers doubtful (an invalid minimum, a
            parameter at its limit), empty when there is none
    """

    cost: str
    background: str
    h0: Fit
    h1: Fit
    signal_yield: float
    signal_yield_error: float
    delta: float
    z: float
    z_discovery: float
    warnings: tuple[str, ...] = ()


def _minimize(
    function: Callable[..., float],
    names: tuple[str, ...],
    start: list[float],
    limits: list[tuple[float, float]],
    fixed: dict[str, float],
) -> Minuit:
    """MIGRAD (then HESSE) from ``start``; a second MIGRAD with strategy 2 if the first fails."""
    values = dict(zip(names, start, strict=True)) | fixed
    minuit = Minuit(function, *[values[n] for n in names], name=names)
    minuit.errordef = Minuit.LEAST_SQUARES
    for name, limit in zip(names, limits, strict=True):
        minuit.limits[name] = limit
    for name in fixed:
        minuit.fixed[name] = True
    if all(minuit.fixed):
        return minuit
    minuit.migrad()
    for _ in range(2):  # from where it stopped, then with strategy 2
        if minuit.valid:
            break
        minuit.strategy = 2
        minuit.migrad()
    minuit.hesse()
    return minuit


def _fit(
    spectrum: Spectrum,
    cost_name: str,
    names: tuple[str, ...],
    predict: Callable[[np.ndarray], np.ndarray],
    start: list[float],
    limits: list[tuple[float, float]],
    fixed: dict[str, float] | None = None,
) -> Fit:
    cost_function = _cost(cost_name)
    fixed = dict(fixed or {})

    def objective(*params: float) -> float:
        with np.errstate(over="ignore", invalid="ignore"):  # MIGRAD's trial steps
            expected = predict(np.asarray(params))
        if not np.all(np.isfinite(expected)):
            return 1e30
        return cost_function(spectrum, expected)[0]

    minuit = _minimize(objective, names, start, limits, fixed)
    params = np.asarray(minuit.values)
    expected = predict(params)
    value, used = cost_function(spectrum, expected)
    ndf = used - sum(1 for n in names if not minuit.fixed[n])
    p_value = float(stats.chi2.sf(value, ndf)) if ndf > 0 else float("nan")
    valid = bool(minuit.valid) if not all(minuit.fixed) else True
    valid = valid and value < NEGATIVE_EXPECTATION_COST
    at_limit = tuple(
        n
        for n, limit in zip(names, limits, strict=True)
        if not minuit.fixed[n]
        and any(np.isfinite(end) and np.isclose(minuit.values[n], end, rtol=1e-6, atol=1e-9)
                for end in limit)
    )  # fmt: skip
    return Fit(
        dict(zip(names, map(float, params), strict=True)),
        {n: (0.0 if minuit.fixed[n] else float(minuit.errors[n])) for n in names},
        value,
        ndf,
        p_value,
        valid,
        expected,
        at_limit,
        used,
    )


def fit_signal(
    spectrum: Spectrum, shape: str = "gaussian", cost: str = "chi2", core: float | None = None
) -> SignalShape:
    """Fit a signal-only spectrum with ``yield x shape``; the shape is then fixed for H1.

    Args:
        spectrum: the signal MC (or any peak)
        shape: the signal shape's name
        cost: ``chi2`` or ``poisson``
        core: refit on the bins within mean +- core x sigma of a first fit (a
            Gaussian core where the reconstructed peak has wider tails)

    Raises:
        SpectrumError: if the spectrum has no positive content
    """
    first = _fit_signal(spectrum, shape, cost)
    if core is None:
        return first
    centres = 0.5 * (spectrum.edges[1:] + spectrum.edges[:-1])
    inside = np.flatnonzero(np.abs(centres - first.mean) < core * first.sigma)
    if len(inside) < 4:
        return first
    low, high = spectrum.edges[inside[0]], spectrum.edges[inside[-1] + 1]
    return _fit_signal(spectrum.within(low, high), shape, cost)


def _fit_signal(spectrum: Spectrum, shape: str, cost: str) -> SignalShape:
    if spectrum.values.sum() <= 0:
        raise SpectrumError("the signal spectrum has no positive content to fit")
    peak = signal_shape(shape)
    start, limits = peak.start(spectrum.edges, spectrum.values)
    total = float(spectrum.values.sum())
    names = ("signal_yield", *peak.parameters)

    def predict(params: np.ndarray) -> np.ndarray:
        return params[0] * peak.integrals(params[1:], spectrum.edges)

    fit = _fit(spectrum, cost, names, predict, [total, *start], [(0.0, 10 * total), *limits])
    if not fit.valid:
        log.warning("the signal-only %s fit did not converge", shape)
    return SignalShape(peak, tuple(fit.parameters[n] for n in peak.parameters), fit)


def _background_predictor(shape: Shape, edges: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def predict(params: np.ndarray) -> np.ndarray:
        return shape.integrals(params, edges)

    return predict


def fit_background(
    spectrum: Spectrum,
    background: str = "dijet",
    cost: str = "chi2",
    fit_range: tuple[float, float] | None = None,
    fixed: dict[str, float] | None = None,
) -> Fit:
    """Fit the background shape alone (H0) in ``fit_range`` [default: the whole spectrum]."""
    spectrum = spectrum.within(*fit_range) if fit_range else spectrum
    shape = background_shape(background, spectrum.edges[0], spectrum.edges[-1])
    start, limits = shape.start(spectrum.edges, spectrum.values)
    predict = _background_predictor(shape, spectrum.edges)
    first = _fit(spectrum, cost, shape.parameters, predict, start, limits, fixed)
    if first.valid:
        return first
    # a second start from the first fit's minimum
    retry = _fit(
        spectrum, cost, shape.parameters, predict, list(first.parameters.values()), limits, fixed
    )
    return retry if retry.cost <= first.cost else first


def _signal_starts(spectrum: Spectrum, template: np.ndarray, background: np.ndarray) -> list[float]:
    """Starting signal yields for H1 beyond zero: the excess over the background-only fit
    under the peak, and three standard deviations of the content there, either way."""
    peak = template > 0.5 * template.max() if template.max() > 0 else template > 0
    scale = float(np.sqrt(max(np.sum(np.abs(spectrum.variances[peak])), 1.0)))
    covered = float(np.sum(template[peak])) or 1.0
    excess = float(np.sum(spectrum.values[peak] - background[peak])) / covered
    return [excess, 2.0 * excess, 3.0 * scale, -3.0 * scale]


def fit_search(
    spectrum: Spectrum,
    signal: SignalShape,
    background: str = "dijet",
    cost: str = "chi2",
    fit_range: tuple[float, float] | None = None,
    fixed: dict[str, float] | None = None,
) -> SearchFit:
    """H0 (background only) and H1 (plus the fixed signal shape, free yield) on one spectrum.

    Args:
        spectrum: the spectrum (MC, pseudo-data or data)
        signal: the fixed signal shape (:func:`fit_signal`)
        background: the background shape's name (``fits.shapes.BACKGROUND_SHAPES``)
        cost: ``chi2`` or ``poisson``
        fit_range: [low, high] GeV, bin edges of the spectrum [default: all bins]
        fixed: background parameters held fixed, by name
    """
    spectrum = spectrum.within(*fit_range) if fit_range else spectrum
    shape = background_shape(background, spectrum.edges[0], spectrum.edges[-1])
    template = signal.shape.integrals(signal.parameters, spectrum.edges)
    predict_background = _background_predictor(shape, spectrum.edges)
    names = (*shape.parameters, "signal_yield")
    _, limits = shape.start(spectrum.edges, spectrum.values)
    # the signal yield may go negative; its range is ten times the spectrum's content
    reach = 10.0 * max(float(np.sum(np.abs(spectrum.values))), 1.0)
    limits = [*limits, (-reach, reach)]

    def predict(params: np.ndarray) -> np.ndarray:
        return predict_background(params[:-1]) + params[-1] * template

    def fit_h1(start: list[float]) -> Fit:
        return _fit(spectrum, cost, names, predict, start, limits, fixed)

    def fit_h0(start: list[float]) -> Fit:
        return _fit(spectrum, cost, names, predict, start, limits, {**(fixed or {}),
                    "signal_yield": 0.0})  # fmt: skip

    alone = fit_background(spectrum, background, cost, None, fixed)
    h0 = alone._replace(
        parameters={**alone.parameters, "signal_yield": 0.0},
        errors={**alone.errors, "signal_yield": 0.0},
    )
    background_start = list(alone.parameters.values())
    h1 = fit_h1([*background_start, 0.0])
    if not h1.valid or h1.cost > h0.cost:  # more starts before anything is reported
        default_start, _ = shape.start(spectrum.edges, spectrum.values)
        tries = [
            fit_h1([*start, signal_start])
            for start in (background_start, default_start)
            for signal_start in _signal_starts(spectrum, template, alone.expected)
        ]
        h1 = min([h1, *tries], key=lambda f: (not f.valid, f.cost))
    # H0 is H1 at s = 0: a second H0 fit from H1's background catches a stuck H0 minimum
    again = fit_h0([*h1.parameters.values()][:-1] + [0.0])
    if again.cost < h0.cost:
        h0 = again
    warnings = []
    for label, fit in (("H0", h0), ("H1", h1)):
        if not fit.valid:
            warnings.append(f"the {label} fit ({cost}, {background}) found no valid minimum")
        if fit.at_limit:
            warnings.append(f"the {label} fit ended at the limit of {', '.join(fit.at_limit)}")
    if h1.cost > h0.cost + 1e-6:  # H1 contains H0: a worse minimum is MIGRAD's, not the data's
        warnings.append(f"the H1 fit ended above H0 ({h1.cost:.4g} > {h0.cost:.4g}); Z taken as 0")
    for warning in warnings:
        log.warning("%s", warning)
    delta = max(h0.cost - h1.cost, 0.0)
    s_hat = h1.parameters["signal_yield"]
    z = float(np.sign(s_hat) * np.sqrt(delta))
    return SearchFit(
        cost,
        background,
        h0,
        h1,
        s_hat,
        h1.errors["signal_yield"],
        delta,
        z,
        max(z, 0.0),
        tuple(warnings),
    )
