"""Lepton identification, isolation and impact-parameter selection."""

from __future__ import annotations

import awkward as ak
import numpy as np

from liberica.analysis.definition import LeptonSelection
from liberica.processors.schema import ELECTRON_TYPE, MUON_TYPE


def select_leptons(leptons: ak.Array, cuts: LeptonSelection) -> ak.Array:
    """Mask of the leptons passing the H -> ZZ* -> 4l object selection.

    Args:
        leptons: GeV lepton collection from the open-data schema (possibly varied)
        cuts: the analysis definition's lepton cuts

    Returns:
        ak.Array: a jagged boolean mask, one entry per lepton
    """
    pt = leptons.pt
    abs_eta = abs(leptons.eta)
    is_electron = leptons.abs_pdg_id == ELECTRON_TYPE
    is_muon = leptons.abs_pdg_id == MUON_TYPE
    d0_significance = abs(leptons.d0_significance)
    z0_sin_theta = abs(leptons.z0 * np.sin(2.0 * np.arctan(np.exp(-leptons.eta))))

    electron = (
        is_electron
        & (pt > cuts.electron.min_pt)
        & (abs_eta < cuts.electron.max_abs_eta)
        & (d0_significance < cuts.electron.max_abs_d0_significance)
    )
    muon = (
        is_muon
        & (pt > cuts.muon.min_pt)
        & (abs_eta < cuts.muon.max_abs_eta)
        & (d0_significance < cuts.muon.max_abs_d0_significance)
    )
    good = (
        (electron | muon)
        & (pt > cuts.min_pt)
        & (abs_eta < cuts.max_abs_eta)
        & (leptons.ptcone30 / pt < cuts.max_ptcone30_over_pt)
        & (leptons.etcone20 / pt < cuts.max_etcone20_over_pt)
        & (z0_sin_theta < cuts.max_abs_z0_sin_theta)
    )
    if cuts.require_tight_id:
        good = good & leptons.is_tight
    return good
