"""Data/MC agreement of a feature's histogram: a number and a threshold, not the eye.

A feature that simulation does not describe teaches a model trained on MC
something the data do not hold; it is found by comparing each feature's data
with the sum of the MC processes (nominal) and flagging those beyond a threshold.

The rules, per feature:

1. **Bins.** The observable's bins (no under- and overflow: the bins a plot
   shows) are merged from the left until each merged bin expects at least
   ``min_expected`` MC events (default 5); a last group below it joins the one
   before. Merging looks at MC only, so that the data do not choose the bins.
2. **Normalization.** With ``shape_only`` (the default) MC is scaled to the
   data's total first and one degree of freedom is spent on it. Every feature
   of a region is filled from the same events, so a normalization mismatch
   (luminosity, a cross-section, an efficiency) is shared by all of them and
   would flag them all alike; the shape is what tells one feature from another.
   The normalization ratio data/MC is reported either way.
3. **chi2.** ``sum (d - m)^2 / (m + s^2)`` over the merged bins: ``d`` the data,
   ``m`` the (scaled) MC, ``s^2`` its sum of squared weights (the MC statistical
   variance) and ``m`` the data's Poisson variance expected under MC (Pearson;
   the observed count, Neyman's choice, is biased low by downward fluctuations
   and zero in an empty bin). An optional relative MC uncertainty ``f`` adds
   ``(f m)^2`` to the denominator (default 0: statistics only). ``ndf`` is the
   number of merged bins, less one with ``shape_only``; the p-value is the chi2
   distribution's survival function.
4. **Pulls.** ``(d - m) / sqrt(m + s^2 [+ (f m)^2])`` per merged bin; the
   largest in magnitude is reported with its bin.
5. **Flag.** The measure (``chi2_ndf``, or ``max_pull`` as |pull|) above the
   threshold flags the feature. Defaults (:data:`DEFAULT_THRESHOLDS`): chi2/ndf
   above 5, which even with 5 degrees of freedom has p = 1.4e-4 under
   agreement (3 would have p = 0.01 there: one false flag per hundred such
   features), so a flagged feature is mismodelled, not unlucky; |pull| above 5.

Measured on seeded toys of 10^5 data events and 4 x 10^5 MC events, 40 bins
(10 seeds each; ``tests/test_agreement.py`` holds some of them):

- data drawn from MC: chi2/ndf 0.65-1.1 (below 1: the MC's own statistical
  error is in the denominator while these data fluctuate around MC exactly);
- the rate 2% above MC: shape-only 0.64-1.08, absolute 1.0-2.6;
- a falling pT spectrum (slope 30 GeV) with data at 1.02 x pT: 4.1-5.6,
  at the threshold. A 2% energy-scale error of a steep spectrum is visible
  with 10^5 events; ``mc_relative_uncertainty: 0.02`` brings it to 1.6-2.8;
- a resolution 30% wider (a 4 GeV peak): about 800; a pT spectrum 30% wider: 150-175.

The same on dilepton_ad's generated sample, whose pseudo-data carry a recorded
mis-modelling (d0 significance 1.3 x wider, MET scale 2% higher), its 35 feature
regions against the background MC, shape-only:

- 0.05 fb^-1 (97k selected data events): the two d0 significances 625 and 685,
  flagged; MET 4.3; every other feature 2.6 at most;
- 0.4 fb^-1, its default (768k events): d0 significances about 2100, MET 12.1,
  flagged too; with ``mc_relative_uncertainty: 0.02`` MET is 3.2 and only the d0
  significances are flagged (1500).

chi2/ndf of a fixed mismodelling grows with the events: a sample much larger
than 10^5 events flags smaller effects, unless ``mc_relative_uncertainty``
states how well the features are known. MC with wrong weights fails too (with
dilepton_ad's ``corrupt_weights``, nine ttbar events of weight x 1e4 flag the
b-jet counts): read the weight checks (``processors/weight_checks.py``) first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import hist
import numpy as np
from scipy import stats

from liberica.core.definition import AnalysisDefinition, FeatureAgreementConfig
from liberica.core.errors import LibericaError
from liberica.processors.histograms import DATA_PROCESS, NOMINAL

MEASURES = ("chi2_ndf", "max_pull")
"""What a threshold can apply to."""

DEFAULT_THRESHOLDS = {"chi2_ndf": 5.0, "max_pull": 5.0}
"""The threshold of each measure where the definition gives none (module doc, rule 5)."""

DEFAULT_MIN_EXPECTED = 5.0
"""Expected MC events a merged bin needs at least (module doc, rule 1)."""


class AgreementError(LibericaError, ValueError):
    """A feature that cannot be compared (the message names it and why)."""


class Agreement(NamedTuple):
    """The data/MC agreement of one feature.

    Attributes:
        name: the feature (its region)
        measure: ``chi2_ndf`` or ``max_pull``, the value compared with the threshold
        value: the measure's value (|max_pull| for ``max_pull``)
        threshold: the threshold it was compared with
        flagged: value > threshold
        chi2: sum of squared pulls over the merged bins
        ndf: merged bins, less one with ``shape_only``
        chi2_ndf: chi2 / ndf
        p_value: probability of a chi2 at least this large under agreement
        max_pull: the pull of largest magnitude, signed (data above MC: positive)
        max_pull_bin: the low and high edge of its merged bin
        normalization: data / MC events over the compared bins
        data_events: data events in the compared bins
        mc_events: MC events (sum of weights) in the compared bins, before scaling
        shape_only: MC was scaled to the data's total
        bins: the observable's bins compared
        edges: the merged bins' edges
    """

    name: str
    measure: str
    value: float
    threshold: float
    flagged: bool
    chi2: float
    ndf: int
    chi2_ndf: float
    p_value: float
    max_pull: float
    max_pull_bin: tuple[float, float]
    normalization: float
    data_events: float
    mc_events: float
    shape_only: bool
    bins: int
    edges: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (metrics.json)."""
        entry = self._asdict()
        entry["max_pull_bin"] = list(self.max_pull_bin)
        entry["edges"] = list(self.edges)
        return entry


class AgreementSummary(NamedTuple):
    """The agreement of several features under one rule.

    Attributes:
        results: feature -> its :class:`Agreement`, in the order compared
        flagged: the flagged features, in that order
        measure: the measure compared with the threshold
        threshold: the threshold
        shape_only: MC was scaled to data per feature
        min_expected: the bin-merging rule's expected events
        mc_relative_uncertainty: the relative MC uncertainty added in quadrature
        processes: the MC processes summed
        not_assessed: feature -> why it could not be compared (no data, no MC, or
            one merged bin: no degree of freedom); such a feature is not flagged
    """

    results: dict[str, Agreement]
    flagged: list[str]
    measure: str
    threshold: float
    shape_only: bool
    min_expected: float
    mc_relative_uncertainty: float
    processes: tuple[str, ...]
    not_assessed: dict[str, str] = {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (metrics.json)."""
        return {
            "measure": self.measure,
            "threshold": self.threshold,
            "shape_only": self.shape_only,
            "min_expected": self.min_expected,
            "mc_relative_uncertainty": self.mc_relative_uncertainty,
            "processes": list(self.processes),
            "not_assessed": dict(self.not_assessed),
            "flagged": list(self.flagged),
            "features": {name: result.to_dict() for name, result in self.results.items()},
        }


def merged_bins(expected: np.ndarray, min_expected: float) -> list[tuple[int, int]]:
    """Groups ``[start, stop)`` of adjacent bins, each expecting at least ``min_expected``.

    From the left, bins join a group until its sum reaches ``min_expected``; a
    last group below it joins the one before (module doc, rule 1). A histogram
    expecting less in total is one group.
    """
    groups: list[tuple[int, int]] = []
    start, total = 0, 0.0
    for index, value in enumerate(expected):
        total += float(value)
        if total >= min_expected:
            groups.append((start, index + 1))
            start, total = index + 1, 0.0
    if start < len(expected):
        if groups:
            groups[-1] = (groups[-1][0], len(expected))
        else:
            groups.append((start, len(expected)))
    return groups


def _threshold(measure: str, threshold: float | None) -> float:
    if measure not in MEASURES:
        raise AgreementError(
            f"unknown agreement measure {measure!r} (known: {', '.join(MEASURES)})"
        )
    return DEFAULT_THRESHOLDS[measure] if threshold is None else float(threshold)


def compare(
    edges: Sequence[float],
    data: Sequence[float],
    mc: Sequence[float],
    mc_variance: Sequence[float],
    *,
    name: str = "",
    measure: str = "chi2_ndf",
    threshold: float | None = None,
    shape_only: bool = True,
    min_expected: float = DEFAULT_MIN_EXPECTED,
    mc_relative_uncertainty: float = 0.0,
) -> Agreement:
    """The agreement of a feature's data with its MC (module doc).

    Args:
        edges: the observable's bin edges
        data: data events per bin
        mc: MC sum of weights per bin (every process summed, nominal)
        mc_variance: MC sum of squared weights per bin
        name: the feature, for the result and messages
        measure: ``chi2_ndf`` or ``max_pull``
        threshold: flag above it (default: :data:`DEFAULT_THRESHOLDS`)
        shape_only: scale MC to the data's total first
        min_expected: expected MC events per merged bin
        mc_relative_uncertainty: a relative MC uncertainty per bin, added in
            quadrature (a systematic floor; 0: statistics only)

    Raises:
        AgreementError: for an unknown measure, arrays that do not match the
            edges, or a feature with no MC or data to compare (naming it)
    """
    threshold = _threshold(measure, threshold)
    edges = np.asarray(edges, dtype=float)
    data, mc, mc_variance = (np.asarray(a, dtype=float) for a in (data, mc, mc_variance))
    if not data.shape == mc.shape == mc_variance.shape == (len(edges) - 1,):
        raise AgreementError(
            f"feature {name!r}: {len(edges) - 1} bins, but data, MC and MC variance have "
            f"{data.shape}, {mc.shape} and {mc_variance.shape} entries"
        )
    data_events, mc_events = float(data.sum()), float(mc.sum())
    if not mc_events > 0:
        raise AgreementError(
            f"feature {name!r}: the MC expects {mc_events:g} events: nothing to compare"
        )
    if shape_only and not data_events > 0:
        raise AgreementError(f"feature {name!r}: no data events to normalize MC to")
    scale = data_events / mc_events if shape_only else 1.0
    groups = merged_bins(mc, min_expected)
    ndf = len(groups) - (1 if shape_only else 0)
    if ndf < 1:
        raise AgreementError(
            f"feature {name!r}: MC expects {mc_events:g} events, one merged bin of "
            f"min_expected {min_expected:g}: no degree of freedom left"
        )
    starts = [start for start, _ in groups]
    observed = np.add.reduceat(data, starts)
    expected = scale * np.add.reduceat(mc, starts)
    variance = expected + scale**2 * np.add.reduceat(mc_variance, starts)
    variance = variance + (mc_relative_uncertainty * expected) ** 2
    if np.any(variance <= 0):
        low = edges[starts[int(np.argmin(variance))]]
        raise AgreementError(
            f"feature {name!r}: the merged bin from {low:g} has no positive variance "
            "(negative MC weights?)"
        )
    pulls = (observed - expected) / np.sqrt(variance)
    chi2 = float(np.sum(pulls**2))
    largest = int(np.argmax(np.abs(pulls)))
    merged_edges = tuple(float(edges[start]) for start in starts) + (float(edges[-1]),)
    values = {"chi2_ndf": chi2 / ndf, "max_pull": abs(float(pulls[largest]))}
    return Agreement(
        name=name,
        measure=measure,
        value=values[measure],
        threshold=threshold,
        flagged=bool(values[measure] > threshold),
        chi2=chi2,
        ndf=ndf,
        chi2_ndf=values["chi2_ndf"],
        p_value=float(stats.chi2.sf(chi2, ndf)),
        max_pull=float(pulls[largest]),
        max_pull_bin=(merged_edges[largest], merged_edges[largest + 1]),
        normalization=data_events / mc_events,
        data_events=data_events,
        mc_events=mc_events,
        shape_only=shape_only,
        bins=len(edges) - 1,
        edges=merged_edges,
    )


def histogram_inputs(h: hist.Hist, processes: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Edges, data, MC sum of weights and MC variance (nominal, no flow) of a region's
    ``Hist(observable, process, variation)``.

    Raises:
        AgreementError: for a process the histogram lacks
    """
    if h.ndim != 3:
        raise AgreementError(
            f"a feature's histogram has one observable axis, not {h.ndim - 2}: {h.axes.name}"
        )
    known = list(h.axes["process"])
    missing = [p for p in (*processes, DATA_PROCESS) if p not in known]
    if missing:
        raise AgreementError(f"the histograms have no process {missing} (known: {known})")
    mc = np.zeros(h.axes[0].size)
    variance = np.zeros(h.axes[0].size)
    for process in processes:
        one = h[:, process, NOMINAL]
        mc += one.values()
        variances = one.variances()
        variance += one.values() if variances is None else variances
    data = h[:, DATA_PROCESS, NOMINAL].values()
    return np.asarray(h.axes[0].edges, dtype=float), data, mc, variance


def compare_histograms(
    histograms: Mapping[str, hist.Hist],
    features: Sequence[str],
    processes: Sequence[str],
    *,
    measure: str = "chi2_ndf",
    threshold: float | None = None,
    shape_only: bool = True,
    min_expected: float = DEFAULT_MIN_EXPECTED,
    mc_relative_uncertainty: float = 0.0,
) -> AgreementSummary:
    """The agreement of each feature's region histogram, and the flagged features.

    Args:
        histograms: ``{region: Hist(observable, process, variation)}`` of a run
        features: the regions compared, one feature each
        processes: the MC processes summed
        measure, threshold, shape_only, min_expected, mc_relative_uncertainty: as
            :func:`compare`

    Raises:
        AgreementError: for a region the run lacks; a feature :func:`compare` refuses
            (no data, no MC, no degree of freedom) is listed in ``not_assessed``
    """
    threshold = _threshold(measure, threshold)
    missing = [f for f in features if f not in histograms]
    if missing:
        raise AgreementError(f"the run has no histograms of region(s) {missing}")
    results, not_assessed = {}, {}
    for feature in features:
        edges, data, mc, variance = histogram_inputs(histograms[feature], processes)
        try:
            results[feature] = compare(
                edges,
                data,
                mc,
                variance,
                name=feature,
                measure=measure,
                threshold=threshold,
                shape_only=shape_only,
                min_expected=min_expected,
                mc_relative_uncertainty=mc_relative_uncertainty,
            )
        except AgreementError as err:
            not_assessed[feature] = str(err)
    return AgreementSummary(
        results=results,
        flagged=[name for name, result in results.items() if result.flagged],
        measure=measure,
        threshold=threshold,
        shape_only=shape_only,
        min_expected=min_expected,
        mc_relative_uncertainty=mc_relative_uncertainty,
        processes=tuple(processes),
        not_assessed=not_assessed,
    )


def mc_processes(definition: AnalysisDefinition, config: FeatureAgreementConfig) -> tuple[str, ...]:
    """The processes the feature check sums: the configured ones, else every background."""
    if config.processes:
        return tuple(config.processes)
    return tuple(p.name for p in definition.processes.values() if p.kind == "background")


def feature_agreement(
    histograms: Mapping[str, hist.Hist], definition: AnalysisDefinition
) -> AgreementSummary:
    """The definition's feature check (``checks.feature_agreement``) on a run's histograms.

    Raises:
        AgreementError: if the definition asks for no feature check, or as
            :func:`compare_histograms`
    """
    config = definition.checks.feature_agreement
    if config is None:
        raise AgreementError(f"{definition.source}: the definition has no checks.feature_agreement")
    return compare_histograms(
        histograms,
        config.regions,
        mc_processes(definition, config),
        measure=config.measure,
        threshold=config.threshold,
        shape_only=config.shape_only,
        min_expected=config.min_expected,
        mc_relative_uncertainty=config.mc_relative_uncertainty,
    )


def kept_features(summary: AgreementSummary, config: FeatureAgreementConfig) -> list[str]:
    """The features an analysis keeps: all, or the unflagged ones with ``drop_flagged``."""
    flagged = set(summary.flagged) if config.drop_flagged else set()
    return [name for name in summary.results if name not in flagged]
