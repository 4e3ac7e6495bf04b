"""Blinding: which bins' data stay hidden, from the MC expectation alone.

A definition's ``blinding`` block hides every bin of its regions whose
expected signal over background exceeds a threshold (0.3 by default, as
reference 004 does), so that nobody sees data where the signal would show
before the analysis is frozen. S is the nominal MC of the blinding's signal
processes at mu = 1, B the nominal sum of every other MC process, both taken
from the merged histograms in their final binning (after any rebinning), flow
bins included; a bin with signal but no background (B <= 0 < S) is hidden as
well, since S/B there is unbounded. Only MC decides: the data never choose
which of their own bins are shown.

The functions here are pure (numpy and hist): the orchestration applies them to
a run's outputs, the fit to its workspace and plots.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import hist
import numpy as np

from liberica.core.definition import AnalysisDefinition, BlindingConfig
from liberica.processors.histograms import DATA_PROCESS, NOMINAL

BLINDED = "blinded"
"""What an output holds in place of a withheld data number."""


class RegionBlinding(NamedTuple):
    """The blinding of one region.

    Attributes:
        hidden: bool mask over the observable's bins, flow bins included
            (``values(flow=True)``'s shape; 2-D for a 2-D region)
        signal: nominal signal MC per bin (mu = 1), flow included
        background: nominal background MC per bin, flow included
    """

    hidden: np.ndarray
    signal: np.ndarray
    background: np.ndarray

    @property
    def s_over_b(self) -> np.ndarray:
        """S/B per bin: inf where B <= 0 < S, NaN where both are <= 0."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.background > 0, self.signal / self.background, np.nan)
        return np.where((self.background <= 0) & (self.signal > 0), np.inf, ratio)


def _config(definition: AnalysisDefinition) -> BlindingConfig:
    return definition.blinding if definition.blinding is not None else BlindingConfig()


def _nominal_sum(h: hist.Hist, processes: Sequence[str]) -> np.ndarray:
    """Nominal weighted content, flow included, summed over the processes the histogram has."""
    shape = h[..., 0, 0].values(flow=True).shape
    total = np.zeros(shape)
    known = set(h.axes["process"])
    for process in processes:
        if process in known:
            total += h[..., process, NOMINAL].values(flow=True)
    return total


def blinded_regions(
    histograms: Mapping[str, hist.Hist], definition: AnalysisDefinition
) -> list[str]:
    """The regions the blinding covers: its ``regions``, or every region whose nominal
    signal MC is not empty (a region the histograms lack is left out)."""
    config = _config(definition)
    if config.regions:
        return [r for r in config.regions if r in histograms]
    return [
        region
        for region, h in histograms.items()
        if np.any(_nominal_sum(h, config.signal or definition.fit_signal) != 0)
    ]


def region_blinding(
    histograms: Mapping[str, hist.Hist], definition: AnalysisDefinition
) -> dict[str, RegionBlinding]:
    """S, B and the hidden mask of each region the blinding covers (see the module doc)."""
    return {
        region: region_rule(histograms[region], definition)
        for region in blinded_regions(histograms, definition)
    }


def region_rule(h: hist.Hist, definition: AnalysisDefinition) -> RegionBlinding:
    """S, B and the bins the rule hides in one region's histogram."""
    config = _config(definition)
    signal = tuple(config.signal or definition.fit_signal)
    mc = [p for p in h.axes["process"] if p != DATA_PROCESS and p in definition.processes]
    s = _nominal_sum(h, signal)
    b = _nominal_sum(h, [p for p in mc if p not in signal])
    with np.errstate(divide="ignore", invalid="ignore"):
        above = np.where(b > 0, s / b, 0.0) > config.threshold
    return RegionBlinding(above | ((b <= 0) & (s > 0)), s, b)


def hidden_bins(
    histograms: Mapping[str, hist.Hist], definition: AnalysisDefinition
) -> dict[str, np.ndarray]:
    """``{region: bool mask over the observable's bins (flow bins included)}``: where the
    data are hidden; every region the blinding covers has an entry, hidden bins or not.

    Args:
        histograms: the merged, final-binned ``{region: Hist(observable..., process,
            variation)}``
        definition: the analysis definition (its ``blinding`` block; without one, the
            defaults: threshold 0.3 and the fit's signal)
    """
    return {r: b.hidden for r, b in region_blinding(histograms, definition).items()}


def hide_data(
    histograms: Mapping[str, hist.Hist], hidden: Mapping[str, np.ndarray]
) -> dict[str, hist.Hist]:
    """Copies of the histograms with the data process's hidden bins set to zero (value and
    variance, every variation); MC and the regions without hidden bins are untouched."""
    out = dict(histograms)
    for region, mask in hidden.items():
        if region not in out or not mask.any() or DATA_PROCESS not in out[region].axes["process"]:
            continue
        h = out[region].copy()
        index = h.axes["process"].index(DATA_PROCESS)
        view = h.view(flow=True)
        # the process and variation axes have no flow bins, the observables do
        data = view[..., index, :]
        if data.dtype.names:
            for field in data.dtype.names:
                data[field][mask] = 0.0
        else:
            data[mask] = 0.0
        view[..., index, :] = data
        out[region] = h
    return out


def _edges(h: hist.Hist) -> list[np.ndarray]:
    """Each observable axis's edges with -inf and +inf for its flow bins."""
    observables = [a for a in h.axes if a.name not in ("process", "variation")]
    return [np.concatenate(([-np.inf], np.asarray(a.edges), [np.inf])) for a in observables]


def summary(
    histograms: Mapping[str, hist.Hist],
    definition: AnalysisDefinition,
    blindings: Mapping[str, RegionBlinding],
    *,
    unblinded: bool,
) -> dict[str, Any]:
    """The content of blinding.json: the rule, and per region its hidden bins (flow-bin
    indices, their edges and S/B); ``unblinded`` says whether the data were shown anyway.
    It holds MC numbers only."""
    config = _config(definition)
    regions = {}
    for region, blinding in blindings.items():
        edges = _edges(histograms[region])
        ratio = blinding.s_over_b
        bins = []
        for index in map(tuple, np.argwhere(blinding.hidden)):
            bins.append(
                {
                    "index": [int(i) for i in index],
                    "edges": [
                        [_number(e[i]), _number(e[i + 1])]
                        for e, i in zip(edges, index, strict=True)
                    ],
                    "s_over_b": _number(ratio[index]),
                    "signal": float(blinding.signal[index]),
                    "background": float(blinding.background[index]),
                }
            )
        regions[region] = {"n_hidden": len(bins), "hidden_bins": bins}
    return {
        "unblinded": bool(unblinded),
        "threshold": config.threshold,
        "signal": list(config.signal or definition.fit_signal),
        "index_convention": "flow bins included: 0 is the underflow",
        "regions": regions,
    }


def _number(value: float) -> float | str | None:
    """A float JSON can hold: infinities as strings, NaN (no MC at all) as null."""
    value = float(value)
    if np.isnan(value):
        return None
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def hidden_intervals(blinding_summary: Mapping[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """Per region, the [low, high) observable intervals of its hidden bins (1-D regions;
    flow bins as infinite intervals), read back from :func:`summary`'s content."""
    out = {}
    for region, content in blinding_summary.get("regions", {}).items():
        intervals = []
        for entry in content["hidden_bins"]:
            if len(entry["edges"]) != 1:
                continue
            low, high = (float(x) for x in entry["edges"][0])
            intervals.append((low, high))
        out[region] = intervals
    return out


def hidden_in(edges: Sequence[float], intervals: Sequence[tuple[float, float]]) -> np.ndarray:
    """Which bins of ``edges`` (no flow bins) overlap a hidden interval: a fit's merged
    bin is hidden if any bin it merged was."""
    edges = np.asarray(edges, dtype=float)
    low, high = edges[:-1], edges[1:]
    mask = np.zeros(len(low), dtype=bool)
    for a, b in intervals:
        mask |= (low < b) & (high > a)
    return mask


def asimov_observations(workspace: dict[str, Any]) -> dict[str, Any]:
    """A copy of a pyhf workspace whose observations are the pre-fit Asimov data set
    (mu = 1, every nuisance parameter at its nominal value): what a blinded fit fits."""
    import cabinetry

    model, asimov = cabinetry.model_utils.model_and_data(workspace, asimov=True)
    main = np.asarray(asimov)[: model.config.nmaindata]
    out = copy.deepcopy(workspace)
    by_name = {
        channel: main[model.config.channel_slices[channel]] for channel in model.config.channels
    }
    for observation in out["observations"]:
        observation["data"] = [float(x) for x in by_name[observation["name"]]]
    return out
