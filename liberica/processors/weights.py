"""Event weights: the nominal MC weight and the weight systematics.

The nominal weight is mcWeight x scale factors x xsec x lumi / sumw, with xsec
in pb and lumi in fb^-1. Weight variations are ratios to nominal, per event.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from liberica.analysis.definition import Systematic
from liberica.processors.schema import ELECTRON_TYPE, MUON_TYPE

SCALE_FACTOR_BRANCHES = (
    "scaleFactor_ELE",
    "scaleFactor_MUON",
    "scaleFactor_LepTRIGGER",
    "scaleFactor_PILEUP",
)
PB_PER_INVERSE_FB = 1.0e3
"""xsec [pb] x lumi [fb^-1] x this = expected events."""

_FLAVOUR_TYPES = {"electron": ELECTRON_TYPE, "muon": MUON_TYPE}


def nominal_weight(events: ak.Array, xsec_pb: float, sumw: float, lumi_fb: float) -> np.ndarray:
    """Per-event nominal MC weight normalized to ``lumi_fb``."""
    weight = np.asarray(events["mcWeight"], dtype=np.float64)
    for branch in SCALE_FACTOR_BRANCHES:
        weight = weight * np.asarray(events[branch], dtype=np.float64)
    return weight * (xsec_pb * lumi_fb * PB_PER_INVERSE_FB / sumw)


def _lepton_sf_uncertainty(
    systematic: Systematic, lepton_pt: np.ndarray, lepton_abs_pdg_id: np.ndarray
) -> np.ndarray:
    """Per lepton, the relative scale-factor uncertainty of its pT bin (0 for the other flavour)."""
    edges = np.asarray(systematic.options["pt_edges"], dtype=np.float64)
    values = np.asarray(systematic.options["relative_uncertainty"], dtype=np.float64)
    position = np.clip(np.searchsorted(edges, lepton_pt, side="right") - 1, 0, len(values) - 1)
    return np.where(
        lepton_abs_pdg_id == _FLAVOUR_TYPES[systematic.options["flavour"]], values[position], 0.0
    )


def _lepton_sf_ratio(uncertainty: np.ndarray, sign: int) -> np.ndarray:
    factors = 1.0 + sign * uncertainty
    ratio = factors[:, 0]
    for k in range(1, factors.shape[1]):  # column by column: np.prod(axis=1)'s order, faster
        ratio = ratio * factors[:, k]
    return ratio


def _pileup_ratio(systematic: Systematic, pileup_sf: np.ndarray, sign: int) -> np.ndarray:
    varied = pileup_sf + sign * systematic.options["deviation_scale"] * (pileup_sf - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pileup_sf != 0.0, varied / pileup_sf, 1.0)


def weight_variation_ratios(
    systematics: list[Systematic],
    events: ak.Array,
    event_index: np.ndarray,
    lepton_pt: np.ndarray,
    lepton_abs_pdg_id: np.ndarray,
) -> dict[str, np.ndarray]:
    """Ratios of varied to nominal weight for each weight systematic, per selected candidate.

    Args:
        systematics: the weight systematics
        events: the chunk (for event-level scale factors)
        event_index: each candidate's event in the chunk
        lepton_pt: (n, 4) pT of each candidate's leptons, GeV
        lepton_abs_pdg_id: (n, 4) their types

    Returns:
        dict: ``{name}Up`` and ``{name}Down`` -> ratio per candidate
    """
    ratios: dict[str, np.ndarray] = {}
    pileup_sf = None
    for systematic in systematics:
        if systematic.kind == "lepton_scale_factor":
            uncertainty = _lepton_sf_uncertainty(systematic, lepton_pt, lepton_abs_pdg_id)
        for direction, sign in (("Up", 1), ("Down", -1)):
            if systematic.kind == "lepton_scale_factor":
                ratio = _lepton_sf_ratio(uncertainty, sign)
            elif systematic.kind == "pileup_weight":
                if pileup_sf is None:
                    pileup_sf = np.asarray(events["scaleFactor_PILEUP"], dtype=np.float64)
                    pileup_sf = pileup_sf[event_index]
                ratio = _pileup_ratio(systematic, pileup_sf, sign)
            else:
                raise ValueError(f"{systematic.name}: not a weight systematic ({systematic.kind})")
            ratios[f"{systematic.name}{direction}"] = ratio
    return ratios
