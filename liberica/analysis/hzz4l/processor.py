"""The H -> ZZ* -> 4l processor: hzz4l's hooks on the base processor.

The chunk's leptons are flattened once into numpy columns (GeV), the
unphysical ones dropped, and the events with fewer than four left out: no
selection can take them. The selections work on four-lepton candidates, and
each momentum variation re-runs them only on the events they could select
(``selections.ChunkSelections``). Everything else (weights, systematics,
scores, regions, fills, cutflows) is the base processor's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import awkward as ak
import numpy as np

from liberica.analysis.hzz4l import quadruplets, selections
from liberica.analysis.hzz4l.features import hzz4l_features
from liberica.core.definition import AnalysisDefinition, Systematic
from liberica.processors import variations, weights
from liberica.processors.base import AnalysisProcessor
from liberica.processors.leptons import (
    LeptonColumns,
    drop_unphysical,
    open_data_lepton_columns,
    take_events,
    with_directions,
)

REQUIRED_BRANCHES = (
    "eventNumber",
    "channelNumber",
    "mcWeight",
    "scaleFactor_ELE",
    "scaleFactor_MUON",
    "scaleFactor_LepTRIGGER",
    "scaleFactor_PILEUP",
    "trigE",
    "trigM",
    "lep_pt",
    "lep_eta",
    "lep_phi",
    "lep_E",
    "lep_charge",
    "lep_type",
    "lep_isTightID",
    "lep_ptcone30",
    "lep_etcone20",
    "lep_z0",
    "lep_tracksigd0pvunbiased",
)
"""Branches the processor reads; a file lacking one is refused before any chunk runs."""


class Objects(NamedTuple):
    """The chunk's objects: the leptons of its events with four or more (GeV)."""

    leptons: LeptonColumns


def warm_up() -> None:
    """Compile the processor's numba loops for the open-data dtypes, or load them from numba's cache.

    Runs the smearing, four-lepton selection, pairing, features and scale-factor
    ratios on one synthetic event, with float32 kinematics as the files hold them and float64 as the
    momentum variations make them. ``clusters.open_executor`` calls this once
    per worker as it starts, so that it counts as start time, not as the first
    chunk's; a chunk with other dtypes still compiles what it needs.
    """
    nominal = with_directions(
        LeptonColumns(
            offsets=np.array([0, 4]),
            event_index=np.array([0]),
            pt=np.array([50.0, 40.0, 30.0, 20.0], dtype=np.float32),
            eta=np.array([0.1, -0.2, 0.3, -0.4], dtype=np.float32),
            phi=np.array([0.5, -2.0, 1.5, 3.0], dtype=np.float32),
            energy=np.array([51.0, 41.0, 32.0, 22.0], dtype=np.float32),
            charge=np.array([1, -1, 1, -1], dtype=np.int32),
            abs_pdg_id=np.array([11, 11, 13, 13], dtype=np.int32),
        )
    )
    one = np.array([1])
    variations.smear_resolution(nominal, one, one, 0.01, 0.01, salt=variations.SMEARING_SALT)
    scale_factor = Systematic(
        "warm_up",
        "lepton_scale_factor",
        {"flavour": "muon", "pt_edges": [5.0], "relative_uncertainty": [0.01]},
    )
    for leptons in (nominal, variations.scale_momentum(nominal, "electron", 0.01)):
        for mask in (None, np.ones(4, dtype=bool)):
            quad = quadruplets.four_leptons(leptons, mask)
            pairing = quadruplets.pair_into_z_bosons(quad, 91.1876)
            quadruplets.four_lepton_mass(quad)
            quadruplets.four_lepton_pt(quad)
            hzz4l_features(quad, pairing, np.flatnonzero(pairing.has_two_sfos_pairs))
            weights.lepton_sf_ratios(scale_factor, quad.pt, quad.abs_pdg_id)


class HZZ4lProcessor(AnalysisProcessor):
    """Histograms and cutflows of the H -> ZZ* -> 4l analysis (see the base processor)."""

    @classmethod
    def columns(cls, definition: AnalysisDefinition) -> tuple[str, ...]:
        """The open-data branches the lepton columns, triggers and weights need."""
        return REQUIRED_BRANCHES

    def objects(self, events: ak.Array) -> tuple[Objects, dict[str, int]]:
        """The leptons (unphysical ones dropped) of the events with four or more."""
        leptons, unphysical = drop_unphysical(open_data_lepton_columns(events))
        # every selection needs four leptons: the other events are never selected
        leptons = with_directions(take_events(leptons, np.flatnonzero(leptons.counts >= 4)))
        return Objects(leptons), unphysical

    def selections(self, events: ak.Array, objects: Objects) -> Any:
        """The regions' selections (and the classifiers') on the chunk."""
        names = {region.selection for region in self.definition.regions.values()}
        names |= {c.selection for c in self.definition.classifiers.values()}
        if self.dump_features is not None:
            names.add(self.dump_features.selection)
        cuts = self.definition.cuts
        return selections.ChunkSelections(names, cuts.leptons, cuts.events, events, objects.leptons)
