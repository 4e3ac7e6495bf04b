"""tth2lss1tau's cuts: the definition's ``cuts`` block as typed containers (GeV)."""

from __future__ import annotations

from typing import NamedTuple

from liberica.core.definition import AnalysisDefinitionError


class LeptonSelection(NamedTuple):
    """Light-lepton (e, mu) identification, kinematic, isolation and impact-parameter cuts
    (GeV, mm): prompt leptons, against the non-prompt ones of heavy-flavour decays."""

    min_pt: float
    electron_max_abs_eta: float
    muon_max_abs_eta: float
    require_tight_id: bool
    max_ptcone30_over_pt: float
    max_etcone20_over_pt: float
    electron_max_abs_d0_significance: float
    muon_max_abs_d0_significance: float
    max_abs_z0_sin_theta: float  # mm


class TauSelection(NamedTuple):
    """Hadronic-tau cuts (GeV): pT, |eta|, tight identification, track counts."""

    min_pt: float
    max_abs_eta: float
    require_tight_id: bool
    n_tracks: tuple[int, ...]


class JetSelection(NamedTuple):
    """Small-R jet cuts (GeV) and the b-tagging working point on MV2c10."""

    min_pt: float
    max_abs_eta: float
    btag_min_mv2c10: float


class Multiplicities(NamedTuple):
    """Object counts of a selection: exactly ``n_taus`` taus (None: any), jets and b-jets."""

    n_taus: int | None
    min_jets: int
    min_bjets: int


class EventSelection(NamedTuple):
    """Triggers, the same-sign pair and its Z veto, and the two selections' multiplicities."""

    triggers: tuple[str, ...]
    leading_lepton_min_pt: float
    z_mass: float
    z_veto_half_width: float
    min_m_ll: float
    signal_region: Multiplicities
    preselection: Multiplicities


class Cuts(NamedTuple):
    """Every cut of the analysis."""

    leptons: LeptonSelection
    taus: TauSelection
    jets: JetSelection
    events: EventSelection


def _multiplicities(block: dict) -> Multiplicities:
    n_taus = block["n_taus"]
    return Multiplicities(
        None if n_taus == "any" else int(n_taus), int(block["min_jets"]), int(block["min_bjets"])
    )


def parse(cuts: dict, source: str) -> Cuts:
    """The validated ``cuts`` block (its schema is cuts.json) as :class:`Cuts`.

    Raises:
        AnalysisDefinitionError: for a preselection tighter than the signal region
            (the extended training set must contain the signal region)
    """
    events = cuts["events"]
    signal_region = _multiplicities(events["signal_region"])
    preselection = _multiplicities(events["preselection"])
    for field in ("min_jets", "min_bjets"):
        if getattr(preselection, field) > getattr(signal_region, field):
            raise AnalysisDefinitionError(
                source,
                f"cuts.events.preselection.{field}",
                f"{getattr(preselection, field)} is tighter than the signal region's "
                f"{getattr(signal_region, field)}: the preselection must contain it",
            )
    if preselection.n_taus is not None and preselection.n_taus != signal_region.n_taus:
        raise AnalysisDefinitionError(
            source,
            "cuts.events.preselection.n_taus",
            "must be 'any' or the signal region's: the preselection must contain it",
        )
    taus = cuts["taus"]
    return Cuts(
        leptons=LeptonSelection(**cuts["leptons"]),
        taus=TauSelection(
            float(taus["min_pt"]),
            float(taus["max_abs_eta"]),
            bool(taus["require_tight_id"]),
            tuple(int(n) for n in taus["n_tracks"]),
        ),
        jets=JetSelection(**{k: float(v) for k, v in cuts["jets"].items()}),
        events=EventSelection(
            triggers=tuple(events["triggers"]),
            leading_lepton_min_pt=float(events["leading_lepton_min_pt"]),
            z_mass=float(events["z_mass"]),
            z_veto_half_width=float(events["z_veto_half_width"]),
            min_m_ll=float(events["min_m_ll"]),
            signal_region=signal_region,
            preselection=preselection,
        ),
    )
