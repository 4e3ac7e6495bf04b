"""Event weights: the open-data nominal MC weight, and the weight systematic kinds.

The nominal weight is mcWeight x scale factors x xsec x lumi / sumw, with xsec
in pb and lumi in fb^-1. Weight variations are ratios to nominal, per selected
row; the kinds here register themselves (``processors/systematics.py``):
``lepton_scale_factor``, ``object_scale_factor`` and ``pileup_weight``.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from liberica.processors import compiled
from liberica.processors.schema import ELECTRON_TYPE, MUON_TYPE
from liberica.processors.systematics import RowInputs, SystematicKind, register

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
    systematic: Any, lepton_pt: np.ndarray, lepton_abs_pdg_id: np.ndarray
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


def _pileup_ratio(systematic: Any, pileup_sf: np.ndarray, sign: int) -> np.ndarray:
    varied = pileup_sf + sign * systematic.options["deviation_scale"] * (pileup_sf - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pileup_sf != 0.0, varied / pileup_sf, 1.0)


@register
class LeptonScaleFactor(SystematicKind):
    """Per-lepton scale-factor uncertainty in bins of pT, for one flavour.

    Each selected row's weight changes by the product over its leptons of
    1 +- the relative uncertainty of their pT bin. The selection provides the
    rows' ``lepton_pt`` and ``lepton_abs_pdg_id`` (rows x leptons).
    """

    name = "lepton_scale_factor"
    category = "weight"
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["flavour", "pt_edges", "relative_uncertainty"],
        "properties": {
            "flavour": {"enum": ["electron", "muon"]},
            "pt_edges": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "number", "minimum": 0},
            },
            "relative_uncertainty": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
    }

    def check(self, name: str, options: dict[str, Any]) -> list[tuple[str, str]]:
        edges, values = options["pt_edges"], options["relative_uncertainty"]
        problems = []
        if len(edges) != len(values):
            problems.append(
                (
                    "relative_uncertainty",
                    f"needs one value per pt_edges entry ({len(edges)}), got {len(values)}",
                )
            )
        if list(edges) != sorted(edges):
            problems.append(("pt_edges", "must be increasing"))
        return problems

    def ratios(self, systematic: Any, rows: RowInputs) -> tuple[np.ndarray, np.ndarray]:
        return lepton_sf_ratios(
            systematic,
            rows.object_array("lepton_pt", systematic.name),
            rows.object_array("lepton_abs_pdg_id", systematic.name),
        )


@register
class PileupWeight(SystematicKind):
    """The pileup weight moved away from / towards 1 by ``deviation_scale`` of its deviation."""

    name = "pileup_weight"
    category = "weight"
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["deviation_scale"],
        "properties": {"deviation_scale": {"type": "number", "minimum": 0}},
    }

    def ratios(self, systematic: Any, rows: RowInputs) -> tuple[np.ndarray, np.ndarray]:
        pileup_sf = rows.event_branch("scaleFactor_PILEUP")
        return _pileup_ratio(systematic, pileup_sf, 1), _pileup_ratio(systematic, pileup_sf, -1)


@register
class ObjectScaleFactor(SystematicKind):
    """Per-object scale-factor uncertainty in bins of pT, for one kind of selected object.

    Like ``lepton_scale_factor`` for any object the selection hands to the weights
    (e.g. hadronic taus): the rows' ``{object}_pt`` (rows x k, NaN where a row has
    fewer than k such objects). Each row's weight changes by the product over its
    objects of 1 +- the relative uncertainty of their pT bin.
    """

    name = "object_scale_factor"
    category = "weight"
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["object", "pt_edges", "relative_uncertainty"],
        "properties": {
            "object": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "pt_edges": LeptonScaleFactor.options["properties"]["pt_edges"],
            "relative_uncertainty": LeptonScaleFactor.options["properties"]["relative_uncertainty"],
        },
    }

    def check(self, name: str, options: dict[str, Any]) -> list[tuple[str, str]]:
        return LeptonScaleFactor.check(self, name, options)

    def ratios(self, systematic: Any, rows: RowInputs) -> tuple[np.ndarray, np.ndarray]:
        pt = np.atleast_2d(rows.object_array(f"{systematic.options['object']}_pt", systematic.name))
        present = np.isfinite(pt).astype(np.int32)  # "flavour" 1: an object in this slot
        return _lepton_sf_ratios(
            np.ascontiguousarray(pt, dtype=np.float64),
            np.ascontiguousarray(present),
            1,
            np.asarray(systematic.options["pt_edges"], dtype=np.float64),
            np.asarray(systematic.options["relative_uncertainty"], dtype=np.float64),
        )
