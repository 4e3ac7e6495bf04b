"""hzz4l's cuts: the definition's ``cuts`` block as typed containers (GeV, mm)."""

from __future__ import annotations

from typing import NamedTuple

from liberica.core.definition import AnalysisDefinitionError


class FlavourCuts(NamedTuple):
    """Per-flavour lepton cuts (GeV, dimensionless significance)."""

    min_pt: float
    max_abs_eta: float
    max_abs_d0_significance: float


class LeptonSelection(NamedTuple):
    """Lepton quality, kinematic, isolation and impact-parameter cuts (GeV, mm)."""

    min_pt: float
    max_abs_eta: float
    require_tight_id: bool
    max_ptcone30_over_pt: float
    max_etcone20_over_pt: float
    max_abs_z0_sin_theta: float
    electron: FlavourCuts
    muon: FlavourCuts


class EventSelection(NamedTuple):
    """Event-level H -> ZZ* -> 4l cuts (GeV)."""

    triggers: tuple[str, ...]
    lepton_pt_thresholds: tuple[float, ...]
    z_mass: float
    z1_mass_window: tuple[float, float]
    z2_mass_window: tuple[float, float]


class Cuts(NamedTuple):
    """The lepton and event selection."""

    leptons: LeptonSelection
    events: EventSelection


def parse(cuts: dict, source: str) -> Cuts:
    """The validated ``cuts`` block (its schema is cuts.json) as :class:`Cuts`.

    Raises:
        AnalysisDefinitionError: for a Z mass window whose edges are not ordered
    """
    events = cuts["events"]
    for key in ("z1_mass_window", "z2_mass_window"):
        low, high = events[key]
        if not low < high:
            raise AnalysisDefinitionError(
                source, f"cuts.events.{key}", f"lower edge {low} is not below {high}"
            )
    leptons = dict(cuts["leptons"])
    leptons["electron"] = FlavourCuts(**leptons["electron"])
    leptons["muon"] = FlavourCuts(**leptons["muon"])
    return Cuts(
        leptons=LeptonSelection(**leptons),
        events=EventSelection(
            triggers=tuple(events["triggers"]),
            lepton_pt_thresholds=tuple(float(x) for x in events["lepton_pt_thresholds"]),
            z_mass=float(events["z_mass"]),
            z1_mass_window=tuple(events["z1_mass_window"]),
            z2_mass_window=tuple(events["z2_mass_window"]),
        ),
    )
