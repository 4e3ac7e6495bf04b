"""lhco's cuts: the definition's ``cuts`` block as a typed container (GeV)."""

from __future__ import annotations

import math
from typing import NamedTuple

from liberica.core.definition import AnalysisDefinitionError


class Cuts(NamedTuple):
    """The dijet selection: the trigger's leading-jet pT, each jet's |eta|, the mjj range."""

    leading_jet_min_pt: float
    max_abs_eta: float
    mjj_range: tuple[float, float]


def parse(cuts: dict, source: str) -> Cuts:
    """The validated ``cuts`` block (its schema is cuts.json) as :class:`Cuts`.

    Raises:
        AnalysisDefinitionError: for an empty mjj range
    """
    low, high = (float(x) for x in cuts["mjj_range"])
    if low >= high:
        raise AnalysisDefinitionError(source, "cuts.mjj_range", "low must be below high")
    return Cuts(
        leading_jet_min_pt=float(cuts["leading_jet_min_pt"]),
        max_abs_eta=float(cuts.get("max_abs_eta", math.inf)),
        mjj_range=(low, high),
    )
