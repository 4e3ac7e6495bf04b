"""Histogram booking, filling and completion of the variation axis.

Every region has one ``hist.Hist`` with axes (observable, process, variation)
and Weight storage, plus a twin with Int64 storage holding raw event counts.
A 2-D region (``versus``) has a second observable axis after the first, and
the nominal variation only: it chooses cuts (e.g. a score threshold at a
fixed background efficiency), it is never fitted. Index a region's histogram
as ``h[..., process, variation]`` to serve both.
Category axes are fixed from the analysis definition, so outputs of any two
chunks add bin by bin. Under- and overflow bins are kept.
"""

from __future__ import annotations

import hist
import numpy as np

from liberica.core.definition import AnalysisDefinition, Observable
from liberica.processors import systematics

DATA_PROCESS = "data"
NOMINAL = "nominal"


def book(
    definition: AnalysisDefinition, systematics: bool = True
) -> tuple[dict[str, hist.Hist], dict[str, hist.Hist]]:
    """Empty weighted and raw-count histograms for every region.

    Args:
        definition: the analysis
        systematics: whether the variation axis holds every variation, or only
            ``nominal`` (a nominal-only run: no empty variation templates that a
            fit could take for real ones)

    Returns:
        tuple: ``({region: weighted Hist}, {region: raw-count Hist})``
    """
    processes = [*definition.processes, DATA_PROCESS]
    variations = definition.variations if systematics else [NOMINAL]
    weighted, counts = {}, {}
    for name, region in definition.regions.items():
        observable = definition.observables[region.observable]
        observables = [observable_axis(observable)]
        if region.versus is not None:
            observables.append(observable_axis(definition.observables[region.versus]))
        axes = (
            *observables,
            hist.axis.StrCategory(processes, name="process", label="Process"),
            hist.axis.StrCategory(
                [NOMINAL] if region.versus is not None else variations,
                name="variation",
                label="Variation",
            ),
        )
        weighted[name] = hist.Hist(*axes, storage=hist.storage.Weight())
        counts[name] = hist.Hist(*axes, storage=hist.storage.Int64())
    return weighted, counts


def observable_axis(observable: Observable) -> hist.axis.AxisProtocol:
    """The observable's axis: regular bins (in log if it says so), or its explicit edges."""
    if observable.edges:
        return hist.axis.Variable(observable.edges, name=observable.name, label=observable.label)
    return hist.axis.Regular(
        observable.bins,
        observable.low,
        observable.high,
        name=observable.name,
        label=observable.label,
        transform=hist.axis.transform.log if observable.log else None,
    )


class ChunkFiller:
    """Fills the booked histograms of one chunk and one process, a region at a time.

    For each region and selection pass the bin of every event is found once,
    with the observable axis' own ``index`` (so that edges, NaN and flow bins
    go exactly where ``Hist.fill`` puts them); each weight variation then adds
    one weighted ``bincount``, and shares the raw counts.

    Args:
        weighted: ``{region: weighted Hist}`` from ``book``, empty
        counts: ``{region: raw-count Hist}`` from ``book``, empty
        process: the process axis entry this chunk fills
    """

    def __init__(
        self, weighted: dict[str, hist.Hist], counts: dict[str, hist.Hist], process: str
    ) -> None:
        self._targets = {}
        for region, h in weighted.items():
            self._targets[region] = (
                tuple(h.axes[: h.ndim - 2]),
                h.axes["process"].index(process),
                h.axes["variation"],
                h.view(flow=True),
                counts[region].view(flow=True),
            )

    def fill(
        self,
        region: str,
        values: np.ndarray,
        weights: dict[str, np.ndarray],
        versus: np.ndarray | None = None,
    ) -> None:
        """Add the events with observable ``values`` (and, in a 2-D region, ``versus``)
        under each ``{variation: weights}``; a 2-D region takes its nominal only."""
        axes, p, variations, weighted, raw = self._targets[region]
        bins = np.asarray(axes[0].index(values), dtype=np.intp) + 1  # + 1: the underflow bin
        shape = weighted.shape[: len(axes)]
        if versus is not None:
            second = np.asarray(axes[1].index(versus), dtype=np.intp) + 1
            bins = bins * shape[1] + second
            weights = {v: w for v, w in weights.items() if v in variations}
        size = int(np.prod(shape))
        raw_counts = np.bincount(bins, minlength=size).reshape(shape)
        for variation, weight in weights.items():
            v = variations.index(variation)
            weighted["value"][..., p, v] += np.bincount(
                bins, weights=weight, minlength=size
            ).reshape(shape)
            weighted["variance"][..., p, v] += np.bincount(
                bins, weights=weight * weight, minlength=size
            ).reshape(shape)
            raw[..., p, v] += raw_counts


def _index(axis: hist.axis.StrCategory, value: str) -> int:
    return axis.index(value)


def complete_variations(
    weighted: dict[str, hist.Hist],
    counts: dict[str, hist.Hist],
    definition: AnalysisDefinition,
) -> dict[str, list[str]]:
    """Fill the variations a process did not fill itself, in place.

    1. One-sided systematics (their kind says so, e.g. ``lepton_resolution``):
       where the Up variation was filled, Down is Up mirrored around nominal,
       ``2 nominal - Up`` with negative bins set to zero (variance and raw
       counts taken from Up).
    2. Any variation a MC process has no event in (a process a systematic does
       not act on) is a copy of its nominal.

    Returns:
        dict: what was done, ``{"mirrored": [...], "copied_from_nominal": [...]}``
        as ``region/process/variation`` strings
    """
    one_sided = [
        s.name for s in definition.systematics.values() if systematics.get(s.kind).one_sided
    ]
    report: dict[str, list[str]] = {"mirrored": [], "copied_from_nominal": []}
    for region, h in weighted.items():
        raw = counts[region]
        values = h.view(flow=True)
        raw_values = raw.view(flow=True)
        process_axis, variation_axis = h.axes["process"], h.axes["variation"]
        if len(variation_axis) == 1:  # a 2-D region: nominal only
            continue
        nominal = _index(variation_axis, NOMINAL)
        for process in definition.processes:
            p = _index(process_axis, process)
            if raw_values[:, p, nominal].sum() == 0:
                continue
            for name in one_sided:
                up, down = (
                    _index(variation_axis, f"{name}Up"),
                    _index(variation_axis, f"{name}Down"),
                )
                if raw_values[:, p, up].sum() == 0 or raw_values[:, p, down].sum() != 0:
                    continue
                mirrored = 2.0 * values["value"][:, p, nominal] - values["value"][:, p, up]
                values["value"][:, p, down] = np.maximum(mirrored, 0.0)
                values["variance"][:, p, down] = values["variance"][:, p, up]
                raw_values[:, p, down] = raw_values[:, p, up]
                report["mirrored"].append(f"{region}/{process}/{name}Down")
            for variation in definition.variations:
                v = _index(variation_axis, variation)
                if raw_values[:, p, v].sum() == 0:
                    values[:, p, v] = values[:, p, nominal]
                    raw_values[:, p, v] = raw_values[:, p, nominal]
                    report["copied_from_nominal"].append(f"{region}/{process}/{variation}")
    return report
