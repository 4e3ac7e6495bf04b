"""Event weights: the nominal MC weight and the weight systematics.

The nominal weight is mcWeight x scale factors x xsec x lumi / sumw, with xsec
in pb and lumi in fb^-1. Weight variations are ratios to nominal, per event.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from liberica.analysis.definition import Systematic
from liberica.processors import compiled
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


@compiled.loop
def _lepton_sf_ratios(pt, abs_pdg_id, flavour, edges, values):  # pragma: no cover - compiled
    """Up and down ratios of each candidate: the product over its leptons of 1 +- the
    relative uncertainty of their pT bin, for leptons of ``flavour`` (1 for the others).

    The bin is ``searchsorted(edges, pt, side="right") - 1`` clipped into
    ``values`` (NaN sorts last there, so it takes the last bin); the product
    runs over the leptons left to right, as ``np.prod(axis=1)`` does.
    """
    up = np.empty(pt.shape[0])
    down = np.empty(pt.shape[0])
    for row in range(pt.shape[0]):
        ratio_up = 1.0
        ratio_down = 1.0
        for k in range(pt.shape[1]):
            uncertainty = 0.0
            if abs_pdg_id[row, k] == flavour:
                x = np.float64(pt[row, k])
                above = 0  # edges <= x
                if x != x:
                    above = len(edges)
                else:
                    while above < len(edges) and edges[above] <= x:
                        above += 1
                uncertainty = values[min(max(above - 1, 0), len(values) - 1)]
            # from 1.0: 1.0 * x is x exactly, so the first factor is taken as is
            ratio_up = ratio_up * (1.0 + uncertainty)
            ratio_down = ratio_down * (1.0 - uncertainty)
        up[row] = ratio_up
        down[row] = ratio_down
    return up, down


def lepton_sf_ratios(
    systematic: Systematic, lepton_pt: np.ndarray, lepton_abs_pdg_id: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Up and down weight ratios of a lepton scale-factor systematic, per candidate.

    Args:
        systematic: of kind ``lepton_scale_factor``
        lepton_pt: (n, k) pT of each candidate's leptons, GeV
        lepton_abs_pdg_id: (n, k) their types
    """
    return _lepton_sf_ratios(
        np.ascontiguousarray(lepton_pt),
        np.ascontiguousarray(lepton_abs_pdg_id),
        _FLAVOUR_TYPES[systematic.options["flavour"]],
        np.asarray(systematic.options["pt_edges"], dtype=np.float64),
        np.asarray(systematic.options["relative_uncertainty"], dtype=np.float64),
    )


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
            up, down = lepton_sf_ratios(systematic, lepton_pt, lepton_abs_pdg_id)
        elif systematic.kind == "pileup_weight":
            if pileup_sf is None:
                pileup_sf = np.asarray(events["scaleFactor_PILEUP"], dtype=np.float64)
                pileup_sf = pileup_sf[event_index]
            up, down = (_pileup_ratio(systematic, pileup_sf, sign) for sign in (1, -1))
        else:
            raise ValueError(f"{systematic.name}: not a weight systematic ({systematic.kind})")
        ratios[f"{systematic.name}Up"] = up
        ratios[f"{systematic.name}Down"] = down
    return ratios
