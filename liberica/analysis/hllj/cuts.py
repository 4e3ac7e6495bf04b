"""hllj's cuts: the definition's ``cuts`` block as typed containers (GeV)."""

from __future__ import annotations

import math
from typing import NamedTuple

from liberica.core.definition import AnalysisDefinitionError


class LeptonSelection(NamedTuple):
    """Lepton quality, kinematic and isolation cuts (GeV)."""

    min_pt: float
    electron_max_abs_eta: float
    muon_max_abs_eta: float
    require_tight_id: bool
    max_ptcone30_over_pt: float
    max_etcone20_over_pt: float


class EventSelection(NamedTuple):
    """The preselection: triggers, the Z -> l l candidate and the large-R jet (GeV)."""

    triggers: tuple[str, ...]
    leading_lepton_min_pt: float
    zll_mass_window: tuple[float, float]
    fatjet_min_pt: float
    fatjet_max_abs_eta: float


class SquareCut(NamedTuple):
    """Keep ``low < value < high`` of one variable (an edge left out is infinite)."""

    variable: str
    low: float
    high: float


class Cuts(NamedTuple):
    """The lepton selection, the preselection, and the cut-based selection on top of it."""

    leptons: LeptonSelection
    events: EventSelection
    cut_based: tuple[SquareCut, ...]


def parse(cuts: dict, source: str) -> Cuts:
    """The validated ``cuts`` block (its schema is cuts.json) as :class:`Cuts`.

    Raises:
        AnalysisDefinitionError: for a window or a square cut whose edges are not ordered
    """
    events = cuts["events"]
    low, high = events["zll_mass_window"]
    if not low < high:
        raise AnalysisDefinitionError(
            source, "cuts.events.zll_mass_window", f"lower edge {low} is not below {high}"
        )
    square = []
    for variable, edges in cuts["cut_based"].items():
        cut = SquareCut(
            variable, float(edges.get("min", -math.inf)), float(edges.get("max", math.inf))
        )
        if not cut.low < cut.high:
            raise AnalysisDefinitionError(
                source, f"cuts.cut_based.{variable}", f"min {cut.low} is not below max {cut.high}"
            )
        square.append(cut)
    return Cuts(
        leptons=LeptonSelection(**cuts["leptons"]),
        events=EventSelection(
            triggers=tuple(events["triggers"]),
            leading_lepton_min_pt=float(events["leading_lepton_min_pt"]),
            zll_mass_window=(float(low), float(high)),
            fatjet_min_pt=float(events["fatjet_min_pt"]),
            fatjet_max_abs_eta=float(events["fatjet_max_abs_eta"]),
        ),
        cut_based=tuple(square),
    )
