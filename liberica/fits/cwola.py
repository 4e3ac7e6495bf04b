"""The statistics of a CWoLa hunt, from per-event arrays: windows, selections, fits, significances.

CWoLa hunting (Collins, Howe, Nachman, PRL 121 (2018) 241803; the LHC Olympics
2020 paper, section 4.1) slides a signal region (SR) in the resonant mass mjj,
with a sideband on each side; in each window a classifier of SR against
sideband events, trained on other folds, scores every event; the most SR-like
events are kept at a ladder of efficiencies, and their mjj spectrum is fitted
with the SR masked, the fit interpolated into the SR giving the background the
SR count is tested against. This module does everything after the scores; the
classifiers are another layer's (``models/``), and nothing here knows of them.

**Windows** (:func:`sliding_windows`) are log-spaced: each SR has high/low =
``width_ratio`` (3700/3300 by default, about 11.5%, so that the standard
R&D-set SR 3300-3700 GeV is one of them), each sideband the same log width, and
the next window starts ``step_ratio`` higher (half a window by default, so a
signal cannot hide at a window boundary). **Binning** (:func:`mjj_bins`):
log-spaced with 4 bins per SR by default (ratio width_ratio^(1/4), about
2.9%, of the order of a dijet mass resolution), so that every window edge,
sideband or SR, is a bin edge.

**Selection** (:func:`thresholds`, :func:`select`): per fold, the score
above which a fraction eps of *that fold's sideband events of this window*
lie; an event passes when its score, from the fold model that did not train on
it, is strictly above its fold's threshold. The sideband pass fraction is
therefore eps by construction (up to ties at the threshold, which fail), and the
SR pass fraction is what the classifier found; tighter efficiencies have higher
thresholds, so the selections are nested.

**Significance** (:func:`hunt_window`): per efficiency, the dijet function is
fitted (binned Poisson) to the selected events' mjj over the whole hunted range
with the SR masked (:func:`liberica.fits.spectrum.fit_sidebands`), and the SR
count is tested against the fit with its error as a constrained nuisance
parameter (:func:`liberica.fits.signal_region.significance`): signed, so that
background-only local Z's are about N(0, 1).

**Look-elsewhere** (:func:`global_significance`): pseudo-experiments of every
window's efficiency ladder from its fits, refitted; the method and its validity
are in the function's docstring.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from liberica.core.errors import LibericaError
from liberica.fits import lee
from liberica.fits.sideband_toys import fit_sideband_toys
from liberica.fits.signal_region import significance, significances
from liberica.fits.spectrum import EDGE_TOLERANCE, SidebandFit, Spectrum, fit_sidebands

log = logging.getLogger(__name__)

BENCHMARK_SIGNAL_REGION = (3300.0, 3700.0)
"""The standard signal region of the LHC Olympics R&D set (GeV): one of the default windows."""

DEFAULT_WIDTH_RATIO = BENCHMARK_SIGNAL_REGION[1] / BENCHMARK_SIGNAL_REGION[0]
"""A signal region's high/low edge (about 1.121): the benchmark's width, in log."""

DEFAULT_STEP_RATIO = math.sqrt(DEFAULT_WIDTH_RATIO)
"""From one window's low edge to the next's: half a window, in log."""

DEFAULT_BINS_PER_REGION = 4
"""mjj bins per signal region (and per sideband)."""

DEFAULT_BIN_RATIO = DEFAULT_WIDTH_RATIO ** (1.0 / DEFAULT_BINS_PER_REGION)
"""An mjj bin's high/low edge (about 1.029): a window edge every 2 bins."""

DEFAULT_FIRST = BENCHMARK_SIGNAL_REGION[0] / DEFAULT_WIDTH_RATIO**2
"""The hunted range's low edge (about 2625 GeV): the benchmark SR's lower sideband
starts one sideband above it, so that it is the third window."""

DEFAULT_LAST = BENCHMARK_SIGNAL_REGION[0] * DEFAULT_WIDTH_RATIO**5
"""The hunted range's high edge (about 5847 GeV): 7 window widths above the low edge,
which holds 9 windows of the default width and step."""

DEFAULT_EFFICIENCIES = (0.1, 0.01, 0.002)
"""The selection efficiencies (on sideband events), loosest first: the LHC Olympics'."""


MIN_SIDEBAND_EVENTS = 10
"""The fewest selected events in each sideband for an efficiency to be tested."""


class CwolaError(LibericaError, ValueError):
    """Windows, scores, folds or efficiencies a CWoLa hunt cannot use (the message says which)."""


# -- windows and binning ----------------------------------------------------------------


class MassWindow(NamedTuple):
    """A signal region in mjj with one sideband on each side (GeV), each half-open [low, high).

    Attributes:
        signal_region: (low, high)
        sidebands: ((low, high) below, (low, high) above), adjacent to the SR
    """

    signal_region: tuple[float, float]
    sidebands: tuple[tuple[float, float], tuple[float, float]]

    @property
    def low(self) -> float:
        """The lower sideband's low edge."""
        return self.sidebands[0][0]

    @property
    def high(self) -> float:
        """The upper sideband's high edge."""
        return self.sidebands[1][1]

    @property
    def centre(self) -> float:
        """The SR's log centre, sqrt(low x high) (GeV)."""
        return math.sqrt(self.signal_region[0] * self.signal_region[1])

    @property
    def label(self) -> str:
        """The SR for people: ``3300-3700 GeV``."""
        return f"{self.signal_region[0]:.0f}-{self.signal_region[1]:.0f} GeV"

    def regions(self, mjj: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Per event, whether it lies in the SR, and whether in a sideband."""
        mjj = np.asarray(mjj, dtype=float)
        (low, high), ((below, _), (_, above)) = self.signal_region, self.sidebands
        in_signal_region = (mjj >= low) & (mjj < high)
        in_sidebands = (mjj >= below) & (mjj < above) & ~in_signal_region
        return in_signal_region, in_sidebands

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``signal_region`` [low, high] and ``sidebands`` [[low, high], [low, high]]."""
        return {
            "signal_region": [float(x) for x in self.signal_region],
            "sidebands": [[float(x) for x in band] for band in self.sidebands],
        }


def _check_ratio(value: float, name: str) -> float:
    if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value > 1):
        raise CwolaError(f"{name} must be a finite number > 1, got {value!r}")
    return float(value)


def sliding_windows(
    first: float = DEFAULT_FIRST,
    last: float = DEFAULT_LAST,
    width_ratio: float = DEFAULT_WIDTH_RATIO,
    step_ratio: float = DEFAULT_STEP_RATIO,
) -> list[MassWindow]:
    """Log-spaced signal regions, each with a sideband of the same log width on each side.

    The k-th window's lower sideband starts at ``first x step_ratio^k``; its SR
    runs from ``width_ratio`` to ``width_ratio^2`` times that, its upper sideband
    up to ``width_ratio^3``; windows are made while that stays within ``last``.
    With the defaults: 9 windows in 2625-5847 GeV, SRs 11.5% wide in steps of
    half of one, the third being the benchmark SR 3300-3700 GeV; on
    :func:`mjj_bins`' default binning every window edge is a bin edge.

    Raises:
        CwolaError: for a range or ratio that cannot hold a window
    """
    width = _check_ratio(width_ratio, "width_ratio")
    step = _check_ratio(step_ratio, "step_ratio")
    if not (math.isfinite(first) and math.isfinite(last) and 0 < first < last):
        raise CwolaError(f"the window range needs 0 < first < last, got {first!r}, {last!r}")
    windows = []
    k = 0
    while True:
        low = first * step**k
        if low * width**3 > last * (1 + EDGE_TOLERANCE):
            break
        edges = (low, low * width, low * width**2, low * width**3)
        windows.append(
            MassWindow((edges[1], edges[2]), ((edges[0], edges[1]), (edges[2], edges[3])))
        )
        k += 1
    if not windows:
        raise CwolaError(
            f"no window of width ratio {width:g} with its sidebands fits in "
            f"[{first:g}, {last:g}] GeV (one needs a ratio of {width**3:.4g})"
        )
    return windows


def mjj_bins(
    low: float = DEFAULT_FIRST, high: float = DEFAULT_LAST, ratio: float = DEFAULT_BIN_RATIO
) -> np.ndarray:
    """Log-spaced bin edges ``low x ratio^j`` from ``low`` up to at most ``high`` (GeV).

    With ``ratio`` = width_ratio^(1/n) and a window step of width_ratio^(m/n)
    (defaults: n = 4 bins per SR, a step of 2 bins), the edges of the windows of
    :func:`sliding_windows` from the same ``low`` are all bin edges. The last
    edge is ``high`` where it lies on the grid, else the grid's last edge below it.

    Raises:
        CwolaError: for a range that does not hold one bin
    """
    ratio = _check_ratio(ratio, "ratio")
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise CwolaError(f"the mjj range needs 0 < low < high, got {low!r}, {high!r}")
    count = math.floor(math.log(high / low) / math.log(ratio) + 1e-9)
    if count < 1:
        raise CwolaError(f"[{low:g}, {high:g}] GeV holds no bin of ratio {ratio:g}")
    return low * ratio ** np.arange(count + 1)


def _on_edges(window: MassWindow, edges: np.ndarray) -> MassWindow:
    """The window with its edges replaced by the bin edges they lie on."""

    def snap(value: float) -> float:
        close = np.flatnonzero(np.isclose(edges, value, rtol=1e-6, atol=0))
        if len(close) != 1:
            raise CwolaError(
                f"window {window.label}: its edge {value:.6g} GeV is not a bin edge of the mjj "
                f"binning ({edges[0]:.6g}-{edges[-1]:.6g} GeV in {len(edges) - 1} bins); "
                "use mjj_bins with the windows' low edge and a ratio that divides their width"
            )
        return float(edges[close[0]])

    (a, b), (c, d) = window.sidebands
    a, b, c, d = (snap(x) for x in (a, b, c, d))
    if not (
        math.isclose(b, snap(window.signal_region[0]))
        and math.isclose(c, snap(window.signal_region[1]))
    ):
        raise CwolaError(f"window {window.label}: its sidebands are not adjacent to its SR")
    return MassWindow((b, c), ((a, b), (c, d)))


# -- selections -------------------------------------------------------------------------


def _check_efficiencies(efficiencies: Sequence[float]) -> np.ndarray:
    values = np.asarray(efficiencies, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise CwolaError(f"efficiencies must be a non-empty list, got {efficiencies!r}")
    if not np.all((values > 0) & (values <= 1)):
        raise CwolaError(f"efficiencies must lie in (0, 1], got {list(efficiencies)}")
    if np.any(np.diff(values) >= 0):
        raise CwolaError(
            f"efficiencies must be listed loosest first, strictly decreasing: {list(efficiencies)}"
        )
    return values


def _check_folds(fold: ArrayLike, size: int) -> np.ndarray:
    fold = np.asarray(fold)
    if fold.shape != (size,):
        raise CwolaError(f"fold must hold one entry per event ({size}), got shape {fold.shape}")
    if size and (not np.issubdtype(fold.dtype, np.integer) or fold.min() < 0):
        raise CwolaError("fold must hold integers >= 0 (the fold each event was scored in)")
    return fold


def _check_scores(scores: ArrayLike) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1:
        raise CwolaError(f"scores must be one per event, got shape {scores.shape}")
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        raise CwolaError(f"the score of event {bad[0]} is not finite ({scores[bad[0]]})")
    return scores


def thresholds(
    scores: ArrayLike, fold: ArrayLike, in_sidebands: ArrayLike, efficiencies: Sequence[float]
) -> np.ndarray:
    """Per fold and efficiency eps, the score above which eps of the fold's sideband events lie.

    The events defining each quantile are the window's sideband events of that
    fold (scored by the same fold model as the fold's SR events). With N of
    them sorted by decreasing score s_(0) >= s_(1) >= ..., the threshold is
    s_(m), m = round(eps N): exactly m sideband events lie strictly above it
    (fewer where scores tie at it); eps = 1 gives -inf (every event passes).

    Args:
        scores: per event, the score of the fold model that did not train on it
        fold: per event, its fold (integers 0..k-1)
        in_sidebands: per event, whether it lies in the window's sidebands
        efficiencies: the efficiencies, loosest first (strictly decreasing)

    Returns:
        an array of shape (folds, efficiencies), folds 0..max(fold)

    Raises:
        CwolaError: for mismatched arrays, efficiencies outside (0, 1] or not
            decreasing, or a fold without sideband events
    """
    scores = _check_scores(scores)
    fold = _check_folds(fold, len(scores))
    in_sidebands = np.asarray(in_sidebands, dtype=bool)
    if in_sidebands.shape != scores.shape:
        raise CwolaError(f"in_sidebands must hold one entry per event ({len(scores)})")
    eps = _check_efficiencies(efficiencies)
    folds = int(fold.max()) + 1 if len(fold) else 0
    if folds == 0:
        raise CwolaError("no event to define thresholds on")
    result = np.empty((folds, len(eps)))
    for k in range(folds):
        ordered = np.sort(scores[(fold == k) & in_sidebands])[::-1]
        if ordered.size == 0:
            raise CwolaError(f"fold {k} has no sideband event to define its thresholds on")
        passing = np.rint(eps * ordered.size).astype(int)
        result[k] = np.where(
            passing >= ordered.size, -np.inf, ordered[np.minimum(passing, ordered.size - 1)]
        )
        if np.any(passing == 0):
            log.warning(
                "fold %d has %d sideband events: efficiency %g keeps none of them",
                k, ordered.size, eps[np.argmax(passing == 0)],
            )  # fmt: skip
    return result


def select(scores: ArrayLike, fold: ArrayLike, thresholds: ArrayLike) -> np.ndarray:
    """Per event and efficiency, whether its score is above its fold's threshold.

    Args:
        scores: per event, its out-of-fold score
        fold: per event, its fold
        thresholds: :func:`thresholds`' array (folds, efficiencies)

    Returns:
        bool of shape (events, efficiencies); nested (a tighter efficiency's events are
        a subset of a looser one's) when the thresholds increase along a row, as
        :func:`thresholds`' do

    Raises:
        CwolaError: for an event whose fold has no threshold
    """
    scores = _check_scores(scores)
    fold = _check_folds(fold, len(scores))
    cuts = np.atleast_2d(np.asarray(thresholds, dtype=float))
    if len(fold) and fold.max() >= len(cuts):
        raise CwolaError(
            f"fold {int(fold.max())} has no threshold (thresholds for {len(cuts)} folds)"
        )
    return scores[:, None] > cuts[fold]


# -- one window -------------------------------------------------------------------------


class PassFraction(NamedTuple):
    """The fraction of events that pass a selection, with its binomial error.

    Attributes:
        selected: events passing
        total: events considered
        value: selected / total (nan with no event)
        error: sqrt(value (1 - value) / total)
    """

    selected: int
    total: int
    value: float
    error: float

    @classmethod
    def of(cls, selected: int, total: int) -> PassFraction:
        """From counts."""
        if total <= 0:
            return cls(int(selected), int(total), float("nan"), float("nan"))
        value = selected / total
        return cls(int(selected), int(total), value, math.sqrt(value * (1 - value) / total))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"selected": self.selected, "total": self.total,
                "value": _number(self.value), "error": _number(self.error)}  # fmt: skip


def _number(value: float) -> float | None:
    """A float for JSON, None for nan (JSON has no nan)."""
    value = float(value)
    return value if math.isfinite(value) else None


class EfficiencyHunt(NamedTuple):
    """One window at one selection efficiency.

    Attributes:
        efficiency: eps, the fraction of sideband events kept
        thresholds: the score thresholds per fold
        signal_region: selected events in the SR
        sidebands: selected events in the lower and upper sidebands
        signal_region_pass: the SR's pass fraction
        sideband_pass: the sidebands' (eps by construction, its binomial error
            that of the quantile)
        sideband_passes: the lower and the upper sideband's apart: on background only
            the SR's lies between them, at their mean where the selection's mjj
            dependence is smooth across the window (the SR is central in log mjj)
        counts: the selected events' mjj histogram over the hunt's edges
        fit: the dijet fit with the SR masked, over the whole range
        local_significance: Z of the SR count over the fit (nan where the fit failed)
        warnings: why the numbers are doubtful, empty when they are not
    """

    efficiency: float
    thresholds: np.ndarray
    signal_region: int
    sidebands: tuple[int, int]
    signal_region_pass: PassFraction
    sideband_pass: PassFraction
    sideband_passes: tuple[PassFraction, PassFraction]
    counts: np.ndarray
    fit: SidebandFit
    local_significance: float
    warnings: tuple[str, ...] = ()

    @property
    def interpolated_sideband_pass(self) -> tuple[float, float]:
        """The mean of the two sidebands' pass fractions and its error: the SR's expected
        pass fraction on background only, a smooth mjj dependence interpolated."""
        low, high = self.sideband_passes
        return 0.5 * (low.value + high.value), 0.5 * math.hypot(low.error, high.error)

    @property
    def pass_fraction_pull(self) -> float:
        """(SR pass fraction - the sidebands' interpolated) / their errors in quadrature."""
        expected, expected_error = self.interpolated_sideband_pass
        error = math.hypot(self.signal_region_pass.error, expected_error)
        difference = self.signal_region_pass.value - expected
        return difference / error if error > 0 else float("nan")

    def to_dict(self, background: str = "dijet") -> dict[str, Any]:
        """JSON-ready: ``efficiency``, ``selected``, ``background_fit`` (of the shape
        ``background``), ``local_significance``."""
        fit = self.fit.fit
        return {
            "efficiency": float(self.efficiency),
            "thresholds": [float(x) for x in self.thresholds],
            "selected": {
                "signal_region": self.signal_region,
                "sidebands": list(self.sidebands),
                "signal_region_pass_fraction": self.signal_region_pass.to_dict(),
                "sideband_pass_fraction": self.sideband_pass.to_dict(),
                "sideband_pass_fractions": [s.to_dict() for s in self.sideband_passes],
                "interpolated_sideband_pass_fraction": _number(self.interpolated_sideband_pass[0]),
                "pass_fraction_pull": _number(self.pass_fraction_pull),
                "counts": [float(x) for x in self.counts],
            },
            "background_fit": {
                "shape": background,
                "cost": "poisson",
                "valid": bool(fit.valid),
                "parameters": {k: float(v) for k, v in fit.parameters.items()},
                "errors": {k: float(v) for k, v in fit.errors.items()},
                "deviance": float(fit.cost),
                "ndf": int(fit.ndf),
                "chi2_ndf": _number(fit.chi2_ndf),
                "p_value": _number(fit.p_value),
                "observed_in_signal_region": float(self.fit.observed_in_mask),
                "expected_in_signal_region": float(self.fit.expected_in_mask),
                "expected_in_signal_region_error": _number(self.fit.expected_in_mask_error),
                "expected": [float(x) for x in self.fit.expected],
            },
            "local_significance": _number(self.local_significance),
            "warnings": list(self.warnings),
        }


class WindowHunt(NamedTuple):
    """One window's hunt at every efficiency.

    Attributes:
        window: the window, its edges on the binning
        edges: the mjj bin edges of the fits (the whole hunted range)
        background: the background shape's name
        efficiencies: one :class:`EfficiencyHunt` per efficiency, loosest first
    """

    window: MassWindow
    edges: np.ndarray
    background: str
    efficiencies: tuple[EfficiencyHunt, ...]

    @property
    def local_significances(self) -> np.ndarray:
        """The local Z per efficiency (nan where the fit failed)."""
        return np.array([e.local_significance for e in self.efficiencies])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``signal_region``, ``sidebands``, ``edges``, and per efficiency
        (``efficiencies``, loosest first) ``selected``, ``background_fit``,
        ``local_significance``."""
        return {
            **self.window.to_dict(),
            "background_shape": self.background,
            "edges": [float(x) for x in self.edges],
            "efficiencies": [e.to_dict(self.background) for e in self.efficiencies],
        }


def _local_significance(fit: SidebandFit) -> tuple[float, tuple[str, ...]]:
    """The SR count's Z over the sideband fit, or nan with the reason."""
    reasons = []
    if not fit.fit.valid:
        reasons.append("the sideband fit found no valid minimum")
    if not math.isfinite(fit.expected_in_mask_error):
        reasons.append("the sideband fit has no covariance")
    if not fit.expected_in_mask > 0:
        reasons.append(f"the fit predicts {fit.expected_in_mask:g} events in the SR")
    if reasons:
        return float("nan"), tuple(reasons)
    return significance(fit.observed_in_mask, fit.expected_in_mask, fit.expected_in_mask_error), ()


def hunt_window(
    mjj: ArrayLike,
    scores: ArrayLike,
    fold: ArrayLike,
    window: MassWindow,
    efficiencies: Sequence[float] = DEFAULT_EFFICIENCIES,
    edges: ArrayLike | None = None,
    background: str = "dijet",
    min_sideband_events: int = MIN_SIDEBAND_EVENTS,
) -> WindowHunt:
    """One window of the hunt: per efficiency, the selection, the masked fit, the local Z.

    An efficiency that keeps fewer than ``min_sideband_events`` events in either
    sideband is not tested (its local Z is nan, with the reason): the masked fit has
    nothing to bridge the signal region with, and its error there is then an
    extrapolation that pseudo-experiments show to be unreliable (background-only
    local Z's beyond 10). The sideband counts are fixed by design (eps of the
    sideband events), so the same cells are tested in the data and in every
    pseudo-experiment.

    Args:
        mjj: per event, the dijet mass (GeV), every event of the hunted range (the
            selection applies to all of them, the fit uses those within ``edges``)
        scores: per event, the score of this window's fold model that did not train on it
        fold: per event, its fold (0..k-1)
        window: the window (its edges must be bin edges of ``edges``)
        efficiencies: the efficiencies, loosest first
        edges: the mjj bin edges of the fits [default: :func:`mjj_bins`' default]
        background: the background shape's name
        min_sideband_events: the fewest selected events in each sideband of a tested cell

    Raises:
        CwolaError: for arrays, window edges or efficiencies it cannot use
    """
    mjj = np.asarray(mjj, dtype=float)
    scores = _check_scores(scores)
    if mjj.shape != scores.shape:
        raise CwolaError(f"mjj has {mjj.shape} entries but scores {scores.shape}")
    edges = mjj_bins() if edges is None else np.asarray(edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise CwolaError("the mjj bin edges must be an increasing list of at least 2 values")
    window = _on_edges(window, edges)
    in_signal_region, in_sidebands = window.regions(mjj)
    below = in_sidebands & (mjj < window.signal_region[0])
    low_total = int(np.count_nonzero(below))
    cuts = thresholds(scores, fold, in_sidebands, efficiencies)
    selected = select(scores, fold, cuts)
    results = []
    for j, eps in enumerate(_check_efficiencies(efficiencies)):
        chosen = selected[:, j]
        counts, _ = np.histogram(mjj[chosen], edges)
        fit = fit_sidebands(Spectrum.of(edges, counts), window.signal_region, background, "poisson")
        in_sr = int(np.count_nonzero(chosen & in_signal_region))
        low = int(np.count_nonzero(chosen & below))
        high = int(np.count_nonzero(chosen & in_sidebands)) - low
        if min(low, high) < min_sideband_events:
            z = float("nan")
            warnings: tuple[str, ...] = (
                f"{low} and {high} selected sideband events (fewer than {min_sideband_events} "
                "in one): not tested",
            )
            log.info("window %s, efficiency %g: %s", window.label, eps, warnings[0])
        else:
            z, warnings = _local_significance(fit)
            for warning in warnings:
                log.warning("window %s, efficiency %g: %s", window.label, eps, warning)
        results.append(
            EfficiencyHunt(
                efficiency=float(eps),
                thresholds=cuts[:, j].copy(),
                signal_region=in_sr,
                sidebands=(low, high),
                signal_region_pass=PassFraction.of(in_sr, int(in_signal_region.sum())),
                sideband_pass=PassFraction.of(low + high, int(in_sidebands.sum())),
                sideband_passes=(
                    PassFraction.of(low, low_total),
                    PassFraction.of(high, int(in_sidebands.sum()) - low_total),
                ),
                counts=counts.astype(float),
                fit=fit,
                local_significance=z,
                warnings=warnings,
            )
        )
    return WindowHunt(window, edges, background, tuple(results))


# -- the look-elsewhere effect ----------------------------------------------------------


class GlobalResult(NamedTuple):
    """The hunt's largest local excess and its global significance.

    Attributes:
        best_window: the index of the window with the largest local Z
        best_efficiency: the efficiency where it was found
        local_significance: the largest local Z of all windows and efficiencies
        local_p: its one-sided local p-value norm.sf(Z)
        global_p: the fraction of background-only pseudo-hunts whose largest local Z
            is at least as large (the bound 1/N with ``global_bound``)
        global_significance: norm.isf(global_p), 0 for p >= 1/2 (a lower bound with
            ``global_bound``)
        global_bound: whether no pseudo-hunt reached it
        trial_factor: global_p / local_p (an upper bound with ``global_bound``)
        pseudo_experiments: the number N of pseudo-hunts
        null_maxima: each pseudo-hunt's largest local Z
        failed_fits: pseudo-experiment fits without a valid minimum (left out of
            their hunt's maximum), of ``fits``
        fits: pseudo-experiment fits made
        seed: the seed of the pseudo-experiments
    """

    best_window: int
    best_efficiency: float
    local_significance: float
    local_p: float
    global_p: float
    global_significance: float
    global_bound: bool
    trial_factor: float
    pseudo_experiments: int
    null_maxima: np.ndarray
    failed_fits: int
    fits: int
    seed: int

    @property
    def global_label(self) -> str:
        """The global significance for people: "2.31" or "> 3.09"."""
        return f"{'> ' if self.global_bound else ''}{self.global_significance:.2f}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (a bound written as ``{"upper_bound": p}`` / ``{"lower_bound": Z}``)."""

        def bound(value: float, kind: str) -> float | dict[str, float]:
            return {kind: float(value)} if self.global_bound else float(value)

        return {
            "method": "pseudo-experiments of every window's nested efficiency ladder from its "
            "sideband fits, refitted; the largest local Z over windows and efficiencies",
            "best_window": int(self.best_window),
            "best_efficiency": float(self.best_efficiency),
            "local_significance": float(self.local_significance),
            "local_p": float(self.local_p),
            "global_p": bound(self.global_p, "upper_bound"),
            "global_significance": bound(self.global_significance, "lower_bound"),
            "global_bound": bool(self.global_bound),
            "trial_factor": bound(self.trial_factor, "upper_bound"),
            "pseudo_experiments": int(self.pseudo_experiments),
            "failed_fits": int(self.failed_fits),
            "fits": int(self.fits),
            "seed": int(self.seed),
            "null_maxima": [_number(x) for x in self.null_maxima],
        }


def _pseudo_maxima(
    hunt: WindowHunt, number: int, rng: np.random.Generator
) -> tuple[np.ndarray, int, int]:
    """Each pseudo-experiment's largest local Z over the window's efficiencies (-inf where
    every fit failed), the failed fits and the fits made.

    The fits run vectorized (:func:`liberica.fits.sideband_toys.fit_sideband_toys`);
    a pseudo-experiment it does not converge on is refitted with MIGRAD
    (:func:`liberica.fits.spectrum.fit_sidebands`, started from the data's fit).
    """
    used = [e for e in hunt.efficiencies if math.isfinite(e.local_significance)]
    maxima = np.full(number, -np.inf)
    if not used:
        return maxima, 0, 0
    means = np.stack([e.fit.expected for e in used])
    pseudo = lee.draw_pseudo_experiments(means, number, rng, nested=True)
    low, high = hunt.window.signal_region
    mask = (int(np.argmin(np.abs(hunt.edges - low))), int(np.argmin(np.abs(hunt.edges - high))))
    failed = 0
    for j, efficiency in enumerate(used):
        counts = pseudo[:, j]
        z = np.full(number, np.nan)
        toys = fit_sideband_toys(counts, hunt.edges, mask, hunt.background, efficiency.fit.fit)
        if toys is not None:
            done = toys.converged
            z[done] = significances(
                toys.observed_in_mask[done],
                toys.expected_in_mask[done],
                toys.expected_in_mask_error[done],
            )
        for k in np.flatnonzero(np.isnan(z)):
            spectrum = Spectrum.of(hunt.edges, counts[k])
            fit = fit_sidebands(spectrum, hunt.window.signal_region, hunt.background, "poisson",
                                start=efficiency.fit.fit)  # fmt: skip
            z[k], warnings = _local_significance(fit)
        failed += int(np.count_nonzero(np.isnan(z)))
        maxima = np.fmax(maxima, z)
    return maxima, failed, number * len(used)


def global_significance(
    hunts: Sequence[WindowHunt], pseudo_experiments: int = 200, seed: int = 0
) -> GlobalResult:
    """The global significance of the hunt's largest local Z over windows and efficiencies.

    **Method.** The statistic is the largest local Z of all windows and
    efficiencies. Its background-only distribution comes from N pseudo-hunts:
    for each window, N pseudo-experiments of its nested efficiency ladder are
    drawn (:func:`liberica.fits.lee.draw_pseudo_experiments`, ``nested=True``)
    from its sideband fits over the whole range, the SR included (the data's
    background-only model), so that a tighter efficiency's pseudo-events are a
    subset of a looser one's as the real selections are; each is refitted with
    the SR masked (started from the data's fit) and its local Z computed as the
    data's. Windows are drawn independently. A pseudo-hunt's statistic is its
    largest local Z; the global p-value is the fraction of pseudo-hunts at or
    above the data's (:func:`liberica.fits.lee.global_p_value`; a bound 1/N when
    none is), Z = norm.isf(p) (:func:`liberica.fits.lee.significance`). Fits
    that fail (data or pseudo) have no local Z and are left out of the maximum.

    **Validity.** The classifiers are held fixed: a pseudo-experiment replays
    the fluctuations of the selected spectra, not the classifier's freedom to
    learn a fluctuation of the SR (a classifier trained on a background
    fluctuation selects it, and that sculpted excess is not in the
    pseudo-experiments); the background-only hunts (the whole chain on
    signal-free samples) test that part. Overlapping windows share events, so
    their spectra are correlated; drawing them independently counts more
    independent trials than there are, which overestimates the global p-value:
    conservative. Within a window, the nested draw keeps the efficiencies'
    correlation.

    Args:
        hunts: the windows' hunts (:func:`hunt_window`)
        pseudo_experiments: the number N of pseudo-hunts
        seed: the seed of the pseudo-experiments (``np.random.default_rng``)

    Raises:
        CwolaError: with no window, or no valid local Z in any window
    """
    if not hunts:
        raise CwolaError("global_significance needs at least one window's hunt")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise CwolaError(f"seed must be an integer, got {seed!r}")
    if (
        isinstance(pseudo_experiments, bool)
        or not isinstance(pseudo_experiments, (int, np.integer))
        or pseudo_experiments < 1
    ):
        raise CwolaError(f"pseudo_experiments must be an integer >= 1, got {pseudo_experiments!r}")
    local = np.array([[e.local_significance for e in h.efficiencies] for h in hunts], dtype=float)
    if not np.isfinite(local).any():
        raise CwolaError("no window has a valid local significance: every sideband fit failed")
    best = np.unravel_index(np.nanargmax(local), local.shape)
    statistic = float(local[best])
    rng = np.random.default_rng(int(seed))
    maxima = np.full(int(pseudo_experiments), -np.inf)
    failed = fits = 0
    for hunt in hunts:
        window_maxima, window_failed, window_fits = _pseudo_maxima(
            hunt, int(pseudo_experiments), rng
        )
        maxima = np.maximum(maxima, window_maxima)
        failed += window_failed
        fits += window_fits
    if failed:
        log.warning(
            "%d of %d pseudo-experiment fits failed; left out of their maxima", failed, fits
        )
    global_p, bounded = lee.global_p_value(statistic, maxima)
    local_p = lee.p_value(statistic)
    return GlobalResult(
        best_window=int(best[0]),
        best_efficiency=float(hunts[best[0]].efficiencies[best[1]].efficiency),
        local_significance=statistic,
        local_p=local_p,
        global_p=global_p,
        global_significance=lee.significance(global_p),
        global_bound=bounded,
        trial_factor=global_p / local_p if local_p > 0 else float("inf"),
        pseudo_experiments=int(pseudo_experiments),
        null_maxima=maxima,
        failed_fits=failed,
        fits=fits,
        seed=int(seed),
    )


__all__ = [
    "BENCHMARK_SIGNAL_REGION",
    "CwolaError",
    "EfficiencyHunt",
    "GlobalResult",
    "MassWindow",
    "PassFraction",
    "WindowHunt",
    "global_significance",
    "hunt_window",
    "mjj_bins",
    "select",
    "sliding_windows",
    "thresholds",
]
