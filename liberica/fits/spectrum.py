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

A **sideband fit** (:func:`fit_sidebands`) fits the background to the bins
outside a masked signal region and interpolates it into the mask: the
background a signal-region count is compared with (a CWoLa hunt's, whose
selection may hold a bump in the signal region that must not pull the fit). Its
error in the mask propagates the fit's HESSE covariance through the sum over
the masked bins, with a numerical Jacobian.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
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


Cost = Callable[[np.ndarray], tuple[float, int]]
"""A cost bound to one spectrum: ``f(expected) -> (value, bins used)``."""


def _weighted_chi2_of(spectrum: Spectrum) -> Cost:
    used = spectrum.variances > 0
    values, errors = spectrum.values[used], np.sqrt(spectrum.variances[used])
    bins = int(used.sum())

    def cost(expected: np.ndarray) -> tuple[float, int]:
        return float(iminuit_cost.chi2(values, errors, expected[used])), bins

    return cost


def weighted_chi2(spectrum: Spectrum, expected: np.ndarray) -> tuple[float, int]:
    """Cowan's weighted chi2 over the bins with sum w^2 > 0, and how many bins it used."""
    return _weighted_chi2_of(spectrum)(expected)


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


def _poisson_deviance_of(spectrum: Spectrum) -> Cost:
    scale = poisson_scales(spectrum)  # once per fit, not once per MIGRAD call
    counts = scale * spectrum.values
    bins = len(spectrum.values)

    def cost(expected: np.ndarray) -> tuple[float, int]:
        expected = np.asarray(expected, dtype=float)
        if np.any(expected <= 0):
            return NEGATIVE_EXPECTATION_COST, len(expected)
        return float(iminuit_cost.poisson_chi2(counts, scale * expected)), bins

    return cost


def poisson_deviance(spectrum: Spectrum, expected: np.ndarray) -> tuple[float, int]:
    """-2 ln(L / L_saturated) of the (scaled) Poisson bins, and the bins it used.

    A prediction with any bin <= 0 costs ``NEGATIVE_EXPECTATION_COST``: the fit
    backs off it instead of treating a negative yield under an empty bin as free.
    """
    return _poisson_deviance_of(spectrum)(expected)


COSTS: dict[str, Callable[[Spectrum, np.ndarray], tuple[float, int]]] = {
    "chi2": weighted_chi2,
    "poisson": poisson_deviance,
}
"""The costs of a spectrum fit by name: ``f(spectrum, expected) -> (value, bins used)``."""

_BOUND_COSTS: dict[str, Callable[[Spectrum], Cost]] = {
    "chi2": _weighted_chi2_of,
    "poisson": _poisson_deviance_of,
}
"""The same costs bound to a spectrum once, for the many calls of one fit."""


def _cost(name: str) -> Callable[[Spectrum], Cost]:
    if name not in _BOUND_COSTS:
        raise SpectrumError(f"unknown cost {name!r}; known: {', '.join(COSTS)}")
    return _BOUND_COSTS[name]


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
        covariance: HESSE's covariance of ``parameters`` in their order (rows and
            columns of fixed parameters 0; nan where HESSE failed), None where
            nothing was fitted
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
    covariance: np.ndarray | None = None

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
    strategy: int = 1,
) -> Minuit:
    """MIGRAD (then HESSE) from ``start``; a second MIGRAD with strategy 2 if the first fails.

    ``strategy`` is the first MIGRAD's (0 where the start is known to be good).
    """
    values = dict(zip(names, start, strict=True)) | fixed
    minuit = Minuit(function, *[values[n] for n in names], name=names)
    minuit.errordef = Minuit.LEAST_SQUARES
    minuit.strategy = strategy
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


def _covariance(minuit: Minuit) -> np.ndarray | None:
    """HESSE's covariance as an array (fixed parameters 0), nan where it has none."""
    if all(minuit.fixed):
        return None
    if minuit.covariance is None:
        return np.full((len(minuit.parameters),) * 2, np.nan)
    return np.array(minuit.covariance, dtype=float)


def _fit(
    spectrum: Spectrum,
    cost_name: str,
    names: tuple[str, ...],
    predict: Callable[[np.ndarray], np.ndarray],
    start: list[float],
    limits: list[tuple[float, float]],
    fixed: dict[str, float] | None = None,
    strategy: int = 1,
) -> Fit:
    cost_function = _cost(cost_name)(spectrum)
    fixed = dict(fixed or {})

    def objective(*params: float) -> float:
        with np.errstate(over="ignore", invalid="ignore"):  # MIGRAD's trial steps
            expected = predict(np.asarray(params))
        if not np.all(np.isfinite(expected)):
            return 1e30
        return cost_function(expected)[0]

    minuit = _minimize(objective, names, start, limits, fixed, strategy)
    params = np.asarray(minuit.values)
    expected = predict(params)
    value, used = cost_function(expected)
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
        _covariance(minuit),
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
    return shape.integrator(edges)


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


class SidebandFit(NamedTuple):
    """A background fitted outside a masked region and interpolated into it.

    Attributes:
        fit: the fit over the unmasked bins (its ``expected``, ``cost``, ``ndf``,
            ``p_value`` and ``bins`` are theirs)
        edges: the fit range's bin edges
        observed: the spectrum's content per bin over the whole fit range
        expected: the fitted background per bin over the whole fit range, mask included
        mask: the masked region (low, high), bin edges (GeV)
        observed_in_mask: the spectrum's content in the masked bins
        expected_in_mask: the fitted background summed over the masked bins
        expected_in_mask_error: its error from the fit's covariance (nan where
            HESSE gave none)
    """

    fit: Fit
    edges: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    mask: tuple[float, float]
    observed_in_mask: float
    expected_in_mask: float
    expected_in_mask_error: float

    @property
    def masked(self) -> np.ndarray:
        """Per bin of the fit range, whether it lies in the mask."""
        centres = 0.5 * (self.edges[1:] + self.edges[:-1])
        return (centres > self.mask[0]) & (centres < self.mask[1])


def _edge_index(edges: np.ndarray, value: float, what: str) -> int:
    close = np.flatnonzero(np.isclose(edges, value, rtol=EDGE_TOLERANCE, atol=0))
    if len(close) != 1:
        raise SpectrumError(
            f"{what} {value:g} GeV is not a bin edge "
            f"(edges {edges[0]:g}-{edges[-1]:g} GeV in {len(edges) - 1} bins)"
        )
    return int(close[0])


def _sum_error(integrate: Callable[[np.ndarray], float], fit: Fit, names: tuple[str, ...]) -> float:
    """The error of ``integrate(parameters)`` from the fit's covariance (numerical Jacobian).

    Central differences with a step of 1e-3 of each free parameter's error: small
    against the curvature the covariance describes, large against rounding.
    """
    covariance = fit.covariance
    if covariance is None:
        return 0.0
    if not np.all(np.isfinite(covariance)):
        return float("nan")
    centre = np.array([fit.parameters[n] for n in names])
    jacobian = np.zeros(len(names))
    for i, name in enumerate(names):
        error = fit.errors[name]
        if not error > 0:  # fixed: no row in the covariance
            continue
        step = np.zeros(len(names))
        step[i] = 1e-3 * error
        jacobian[i] = (integrate(centre + step) - integrate(centre - step)) / (2 * step[i])
    variance = float(jacobian @ covariance @ jacobian)
    return float(np.sqrt(variance)) if variance >= 0 else float("nan")


def _decorrelated_fit(
    spectrum: Spectrum,
    cost: str,
    names: tuple[str, ...],
    predict: Callable[[np.ndarray], np.ndarray],
    previous: Fit,
) -> Fit | None:
    """The fit in ``previous``'s decorrelated parameters u, theta = theta_prev + L u (C = L L^T).

    The same cost and minimum as the fit in theta, but better conditioned: the
    dijet function's p1-p3 are correlated at 0.99 over a narrow range, so that
    MIGRAD needs about 160 calls to learn the Hessian in theta and about 60 in u,
    where it starts with the right one (strategy 0 is enough, measured), and
    HESSE's numerical second derivatives in theta underestimate the error of the
    fit's sum over a masked region (by 2-10% on smooth dijet spectra of 200 to
    20,000 events, against the Fisher information J^T diag(1/mu) J), while in u
    they agree with it within 0.5%. The limits in theta are dropped (a negative
    normalization already costs ``NEGATIVE_EXPECTATION_COST``). None where
    ``previous`` has no positive-definite covariance.
    """
    covariance = previous.covariance
    if covariance is None or not np.all(np.isfinite(covariance)):
        return None
    try:
        factor = np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        return None
    centre = np.array([previous.parameters[n] for n in names])
    whitened = tuple(f"u{k}" for k in range(len(names)))

    def predict_u(u: np.ndarray) -> np.ndarray:
        return predict(centre + factor @ u)

    unlimited = [(-np.inf, np.inf)] * len(names)
    fit = _fit(spectrum, cost, whitened, predict_u, [0.0] * len(names), unlimited, None, 0)
    u = np.array([fit.parameters[n] for n in whitened])
    covariance = factor @ fit.covariance @ factor.T
    return fit._replace(
        parameters=dict(zip(names, map(float, centre + factor @ u), strict=True)),
        errors=dict(zip(names, map(float, np.sqrt(np.diag(covariance))), strict=True)),
        covariance=covariance,
    )


def fit_sidebands(
    spectrum: Spectrum,
    mask: tuple[float, float],
    background: str = "dijet",
    cost: str = "poisson",
    fit_range: tuple[float, float] | None = None,
    start: Mapping[str, float] | Fit | None = None,
) -> SidebandFit:
    """Fit the background to the bins outside ``mask`` and interpolate it into the mask.

    The shape is bound to the whole fit range (the dijet function's ``p0`` is the
    density at its low edge, whatever is masked); the cost sums only the bins
    outside the mask, and ``ndf`` counts only them. The fit from the shape's
    start (or ``start``'s values) is refitted in its own decorrelated parameters,
    whose HESSE covariance gives the error in the mask (:func:`_decorrelated_fit`).

    Args:
        spectrum: the spectrum (e.g. the selected events' mjj, counts)
        mask: (low, high) GeV of the masked region, bin edges of the fit range
        background: the background shape's name (``fits.shapes.BACKGROUND_SHAPES``)
        cost: ``poisson`` or ``chi2``
        fit_range: [low, high] GeV, bin edges of the spectrum [default: all bins]
        start: starting values by parameter name, or a previous fit of the same
            shape (e.g. the data's, for a pseudo-experiment drawn from it), whose
            covariance then decorrelates the parameters (:func:`_decorrelated_fit`):
            one fit instead of two [default: the shape's own start]

    Raises:
        SpectrumError: if a mask end is not a bin edge of the fit range, the mask is
            empty, or too few bins are left to fit
    """
    spectrum = spectrum.within(*fit_range) if fit_range else spectrum
    edges = spectrum.edges
    low, high = (float(end) for end in mask)
    first = _edge_index(edges, low, "signal-region mask end")
    stop = _edge_index(edges, high, "signal-region mask end")
    if stop <= first:
        raise SpectrumError(f"empty signal-region mask [{low:g}, {high:g}] GeV")
    shape = background_shape(background, edges[0], edges[-1])
    names = shape.parameters
    keep = np.ones(len(spectrum.values), dtype=bool)
    keep[first:stop] = False
    if keep.sum() <= len(names):
        raise SpectrumError(
            f"the mask [{low:g}, {high:g}] GeV leaves {int(keep.sum())} bins of "
            f"{len(keep)} to fit {len(names)} {background} parameters"
        )
    # the costs read only values and variances: the edges stay the fit range's
    outside = Spectrum(edges, spectrum.values[keep], spectrum.variances[keep])
    initial, limits = shape.start(edges, np.where(keep, spectrum.values, 0.0))
    integrate = shape.integrator(edges)

    def predict(params: np.ndarray) -> np.ndarray:
        return integrate(params)[keep]

    fit = None
    if isinstance(start, Fit):
        initial = [start.parameters[n] for n in names]
        fit = _decorrelated_fit(outside, cost, names, predict, start)
    elif start is not None:
        initial = [float(start[n]) for n in names]
    if fit is None or not fit.valid:
        fit = _fit(outside, cost, names, predict, initial, limits)
        if not fit.valid:  # a second start from the first fit's minimum
            retry = _fit(outside, cost, names, predict, list(fit.parameters.values()), limits)
            fit = retry if retry.cost <= fit.cost else fit
        # the covariance from HESSE in the fit's own decorrelated parameters
        polished = _decorrelated_fit(outside, cost, names, predict, fit) if fit.valid else None
        if polished is not None and polished.valid and polished.cost <= fit.cost + 1e-6:
            fit = polished._replace(at_limit=fit.at_limit)
    params = np.array([fit.parameters[n] for n in names])
    expected = integrate(params)
    integrate_mask = shape.integrator(edges[first : stop + 1])

    def in_mask(values: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(integrate_mask(values)))

    return SidebandFit(
        fit=fit,
        edges=edges,
        observed=spectrum.values,
        expected=expected,
        mask=(float(edges[first]), float(edges[stop])),
        observed_in_mask=float(np.sum(spectrum.values[first:stop])),
        expected_in_mask=float(np.sum(expected[first:stop])),
        expected_in_mask_error=_sum_error(in_mask, fit, names),
    )


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
