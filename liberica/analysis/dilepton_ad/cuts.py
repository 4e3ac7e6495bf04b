"""dilepton_ad's cuts: the definition's ``cuts`` block as typed containers (GeV)."""

from __future__ import annotations

from typing import NamedTuple

from liberica.core.definition import AnalysisDefinitionError


class LeptonSelection(NamedTuple):
    """A good lepton: kinematics and isolation (GeV); identification is a feature, not a cut."""

    min_pt: float
    max_abs_eta: float
    max_ptcone30_over_pt: float
    max_etcone20_over_pt: float


class EventSelection(NamedTuple):
    """Triggers and the leading lepton's pT (GeV)."""

    triggers: tuple[str, ...]
    leading_lepton_min_pt: float


class JetCounting(NamedTuple):
    """The jets the counts take: |eta| and the MV2c10 working points by efficiency (%)."""

    max_abs_eta: float
    btag_working_points: dict[int, float]


class Cuts(NamedTuple):
    """The lepton selection, the event selection and the jet counting."""

    leptons: LeptonSelection
    events: EventSelection
    jets: JetCounting


def parse(cuts: dict, source: str) -> Cuts:
    """The validated ``cuts`` block (its schema is cuts.json) as :class:`Cuts`.

    Raises:
        AnalysisDefinitionError: if tighter working points do not have higher thresholds
    """
    points = {int(k): float(v) for k, v in cuts["jets"]["btag_working_points"].items()}
    by_efficiency = [points[k] for k in sorted(points)]
    if any(a <= b for a, b in zip(by_efficiency, by_efficiency[1:], strict=False)):
        raise AnalysisDefinitionError(
            source,
            "cuts.jets.btag_working_points",
            f"thresholds must fall as the efficiency rises, got {points}",
        )
    return Cuts(
        leptons=LeptonSelection(**{k: float(v) for k, v in cuts["leptons"].items()}),
        events=EventSelection(
            triggers=tuple(cuts["events"]["triggers"]),
            leading_lepton_min_pt=float(cuts["events"]["leading_lepton_min_pt"]),
        ),
        jets=JetCounting(float(cuts["jets"]["max_abs_eta"]), points),
    )
