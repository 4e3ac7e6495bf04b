"""Anomaly regions: cuts on an anomaly score at fixed background-MC efficiency, from one 2-D histogram.

A chunked run cannot sort every event's score, so the thresholds come from the
filled 2-D histogram of the hunted observable against the score (fine,
log-spaced score bins; a ``versus`` region): the background MC's score
distribution, summed over the observable's bins (its flow bins excluded: the
efficiency is of the events in the observable's range) and over the score's
flow bins, is accumulated from the top, and each region's threshold is the lowest score-bin edge above which
the background-MC efficiency is at most the target (so the achieved
efficiency, reported, is at most the target, and closer the finer the bins).
Negative event weights enter the sums as they are. Each region's spectra are
then the observable's bins summed over the score bins above its threshold:
data counts, the background MC (sum of weights and of squared weights) and
each signal process. Regions of falling efficiency are nested.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from liberica.core.errors import LibericaError

DATA = "data"
NOMINAL = "nominal"


class AnomalyRegionError(LibericaError, ValueError):
    """A score histogram or efficiency that cannot define anomaly regions (the message says why)."""


class AnomalyRegion(NamedTuple):
    """One score cut and the spectra of the events above it.

    Attributes:
        name: e.g. ``eff_1pc``
        target_efficiency: the background-MC efficiency asked for
        efficiency: the background-MC efficiency achieved (at most the target)
        threshold: the score above which events are kept (a bin edge)
        edges: the observable's bin edges
        data: data counts per bin
        background: background-MC sum of weights per bin
        background_variance: background-MC sum of squared weights per bin
        signals: per signal process, its sum of weights per bin
        signal_efficiency: per signal process, the fraction of its selected events kept
    """

    name: str
    target_efficiency: float
    efficiency: float
    threshold: float
    edges: np.ndarray
    data: np.ndarray
    background: np.ndarray
    background_variance: np.ndarray
    signals: dict[str, np.ndarray]
    signal_efficiency: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (yields, not the spectra)."""
        return {
            "target_background_efficiency": self.target_efficiency,
            "background_efficiency": self.efficiency,
            "score_threshold": self.threshold,
            "data_events": int(round(float(self.data.sum()))),
            "background_yield": float(self.background.sum()),
            "signal_yields": {k: float(v.sum()) for k, v in self.signals.items()},
            "signal_efficiency": dict(self.signal_efficiency),
        }


def region_name(efficiency: float) -> str:
    """``eff_10pc``, ``eff_1pc``, ``eff_0p1pc``: a name for a background efficiency."""
    percent = f"{100.0 * efficiency:g}".replace(".", "p")
    return f"eff_{percent}pc"


def _per_process(h, process: str) -> tuple[np.ndarray, np.ndarray]:
    """The (observable, score) values and variances of one process, flow bins of the score
    axis kept and the observable's flow bins dropped."""
    one = h[..., process, NOMINAL]
    view = one.view(flow=True)
    values = view["value"] if view.dtype.names else view
    variances = view["variance"] if view.dtype.names else view
    return np.asarray(values)[1:-1, :], np.asarray(variances)[1:-1, :]


def anomaly_regions(
    h,
    backgrounds: list[str],
    signals: list[str],
    efficiencies: list[float],
) -> list[AnomalyRegion]:
    """The anomaly regions of a 2-D (observable x score) region histogram.

    Args:
        h: the region's weighted histogram, axes (observable, score, process, variation)
        backgrounds: the background processes (their nominal MC sets the thresholds)
        signals: the signal processes to report
        efficiencies: target background-MC efficiencies, each in (0, 1)

    Raises:
        AnomalyRegionError: for a histogram that is not 2-D, an unknown process, an
            efficiency outside (0, 1), or no background MC
    """
    if h.ndim != 4:
        raise AnomalyRegionError(
            f"anomaly regions need a 2-D (observable x score) region, got axes "
            f"{[a.name for a in h.axes]}"
        )
    known = list(h.axes["process"])
    for process in [*backgrounds, *signals]:
        if process not in known:
            raise AnomalyRegionError(f"no process {process!r} in the score histogram ({known})")
    for efficiency in efficiencies:
        if not 0.0 < efficiency < 1.0:
            raise AnomalyRegionError(f"a background efficiency must be in (0, 1), got {efficiency}")
    score_axis = h.axes[1]
    # score edges with the flow bins: [-inf, e0, ..., eN, +inf]
    score_edges = np.concatenate([[-np.inf], score_axis.edges, [np.inf]])
    background = np.zeros(h.axes[0].size)
    values = variances = None
    for process in backgrounds:
        v, w2 = _per_process(h, process)
        values = v if values is None else values + v
        variances = w2 if variances is None else variances + w2
    per_score = values.sum(axis=0)
    total = float(per_score.sum())
    if not total > 0:
        raise AnomalyRegionError("the background MC has no weight in the score histogram")
    # above[k]: the background weight in score bins k.. (flow bins included)
    above = np.cumsum(per_score[::-1])[::-1] / total
    data_values, _ = _per_process(h, DATA)
    signal_values = {s: _per_process(h, s)[0] for s in signals}
    regions = []
    for efficiency in sorted(efficiencies, reverse=True):
        passing = np.flatnonzero(above <= efficiency * (1.0 + 1e-12))
        first = int(passing[0]) if len(passing) else len(per_score)
        kept = slice(first, None)
        achieved = float(above[first]) if first < len(above) else 0.0
        background = values[:, kept].sum(axis=1)
        signal_spectra = {s: v[:, kept].sum(axis=1) for s, v in signal_values.items()}
        regions.append(
            AnomalyRegion(
                name=region_name(efficiency),
                target_efficiency=float(efficiency),
                efficiency=achieved,
                threshold=float(score_edges[first]),
                edges=np.asarray(h.axes[0].edges, dtype=float),
                data=data_values[:, kept].sum(axis=1),
                background=background,
                background_variance=variances[:, kept].sum(axis=1),
                signals=signal_spectra,
                signal_efficiency={
                    s: float(signal_spectra[s].sum() / v.sum()) if v.sum() > 0 else 0.0
                    for s, v in signal_values.items()
                },
            )
        )
    return regions
