"""Readable names of fit parameters and units of observables, one spelling everywhere.

pyhf names an MC-statistics parameter by its channel and bin index
(``staterror_sr_4l_high[5]``); the index says nothing without the binning, and
the fit may have merged bins (``fits/templates.py``), so the n-th parameter is
not the observable's n-th regular bin. The label therefore takes the edges the
model was built with. Every other parameter keeps its name, so that a figure,
the console and results.json name it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from liberica.core.definition import AnalysisDefinition

#: cabinetry's name of a channel's MC-statistics modifier, ``staterror_<channel>``,
#: with pyhf's bin ``[index]`` (one-bin channels too)
_STATERROR = re.compile(r"^staterror_(?P<channel>.+)\[(?P<index>\d+)\]$")

#: a unit at the end of an axis label, e.g. ``$m_{4\ell}$ [GeV]``
_UNIT = re.compile(r"\[(?P<unit>[^\[\]]+)\]\s*$")


def observable_unit(label: str) -> str:
    """The unit in an observable's label (``"$m_{4\\ell}$ [GeV]"`` -> ``"GeV"``), or ``""``."""
    match = _UNIT.search(label)
    return match.group("unit").strip() if match else ""


def region_units(definition: AnalysisDefinition) -> dict[str, str]:
    """Each region's unit, from its observable's label, for :func:`parameter_label`."""
    return {
        name: observable_unit(definition.observables[region.observable].label)
        for name, region in definition.regions.items()
    }


def parameter_label(
    name: str,
    edges: Mapping[str, np.ndarray] | None,
    unit: str | Mapping[str, str] = "GeV",
) -> str:
    """A parameter's name for people: an MC-statistics gamma by its bin's range.

    ``staterror_sr_4l_high[5]`` with ``edges["sr_4l_high"] = [100, 110, 115, ...]``
    becomes ``MC stat. sr_4l_high 145-150 GeV``: the bin ``[low, high)`` of the
    index in the edges the model was built with. Any other parameter, or a gamma
    whose channel or bin is not in ``edges``, keeps its name.

    Args:
        name: the pyhf parameter name, as in ``FitResults.labels``
        edges: each channel's bin edges as fitted (merged bins included)
        unit: the unit of the edges, or each channel's unit (a channel not in the
            mapping has none, e.g. a classifier score)
    """
    match = _STATERROR.match(name)
    if match is None or edges is None or match.group("channel") not in edges:
        return name
    channel = match.group("channel")
    bin_edges = np.asarray(edges[channel], dtype=float)
    index = int(match.group("index"))
    if index + 1 >= len(bin_edges):
        return name
    channel_unit = unit if isinstance(unit, str) else unit.get(channel, "")
    low, high = bin_edges[index], bin_edges[index + 1]
    return f"MC stat. {channel} {low:g}-{high:g} {channel_unit}".rstrip()
