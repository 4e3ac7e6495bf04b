"""hzz4l's lepton selection: identification, isolation and impact parameters."""

from __future__ import annotations

import numpy as np

from liberica.analysis.hzz4l.cuts import LeptonSelection
from liberica.processors.leptons import LeptonColumns
from liberica.processors.schema import ELECTRON_TYPE, MUON_TYPE


class GoodLeptons:
    """The H -> ZZ* -> 4l object selection of one chunk, for any lepton momenta.

    The cuts that do not depend on the momentum (flavour, eta, impact
    parameters, identification) are evaluated once; ``mask`` adds the pT and
    isolation cuts for the (possibly varied) momenta it is given.

    Args:
        leptons: the chunk's nominal lepton columns
        cuts: the analysis definition's lepton cuts
    """

    def __init__(self, leptons: LeptonColumns, cuts: LeptonSelection) -> None:
        self.cuts = cuts
        abs_eta = np.abs(leptons.eta)
        d0_significance = np.abs(leptons.d0_significance)
        z0_sin_theta = np.abs(leptons.z0 * np.sin(2.0 * np.arctan(np.exp(-leptons.eta))))
        self._electron = (
            (leptons.abs_pdg_id == ELECTRON_TYPE)
            & (abs_eta < cuts.electron.max_abs_eta)
            & (d0_significance < cuts.electron.max_abs_d0_significance)
        )
        self._muon = (
            (leptons.abs_pdg_id == MUON_TYPE)
            & (abs_eta < cuts.muon.max_abs_eta)
            & (d0_significance < cuts.muon.max_abs_d0_significance)
        )
        common = (abs_eta < cuts.max_abs_eta) & (z0_sin_theta < cuts.max_abs_z0_sin_theta)
        if cuts.require_tight_id:
            common = common & leptons.is_tight.astype(bool)
        self._common = common
        self.possible = (self._electron | self._muon) & common
        """Flat mask of the leptons that pass the cuts for some momentum."""

    def mask(self, leptons: LeptonColumns) -> np.ndarray:
        """Flat mask of the leptons passing every cut, with ``leptons``' momenta."""
        cuts, pt = self.cuts, leptons.pt
        flavour = (self._electron & (pt > cuts.electron.min_pt)) | (
            self._muon & (pt > cuts.muon.min_pt)
        )
        return (
            flavour
            & self._common
            & (pt > cuts.min_pt)
            & (leptons.ptcone30 / pt < cuts.max_ptcone30_over_pt)
            & (leptons.etcone20 / pt < cuts.max_etcone20_over_pt)
        )
