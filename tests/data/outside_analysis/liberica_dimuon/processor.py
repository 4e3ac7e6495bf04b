"""The dimuon processor: awkward muons with vector behaviour, cuts in a PackedSelection."""

from typing import Any, NamedTuple

import awkward as ak
import numpy as np
from coffea.analysis_tools import PackedSelection

from liberica.processors.base import AnalysisProcessor

LEPTONS = ("lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "lep_type", "lep_isTightID",
           "lep_ptcone30", "lep_etcone20", "lep_z0", "lep_trackd0pvunbiased",
           "lep_tracksigd0pvunbiased")  # fmt: skip


class Objects(NamedTuple):
    leptons: ak.Array  # the muons: the lepton systematics replace this field


class Result(NamedTuple):
    event_steps: tuple
    steps: tuple
    passed: np.ndarray
    observables: dict
    event_index: np.ndarray
    categories: dict
    weight_objects: dict


class Selections:
    def __init__(self, min_pt: float, objects: Objects) -> None:
        self.min_pt, self.objects = min_pt, objects

    def nominal(self) -> dict[str, Result]:
        return self.varied(self.objects)

    def varied(self, objects: Objects) -> dict[str, Result]:
        muons = objects.leptons[objects.leptons.pt > self.min_pt]
        pair = ak.pad_none(muons, 2)
        first, second = pair[:, 0], pair[:, 1]
        cuts = PackedSelection()
        cuts.add("two_muons", ak.to_numpy(ak.num(muons) >= 2))
        cuts.add(
            "opposite_charge", ak.to_numpy(ak.fill_none(first.charge * second.charge < 0, False))
        )
        dimuon = first + second
        n = len(muons)
        return {
            "dimuon": Result(
                event_steps=(),
                steps=tuple((name, cuts.all(name)) for name in cuts.names),
                passed=cuts.all(*cuts.names),
                observables={
                    "mll": ak.to_numpy(ak.fill_none(dimuon.mass, np.nan)),
                    "ptll": ak.to_numpy(ak.fill_none(dimuon.pt, np.nan)),
                },
                event_index=np.arange(n),
                categories={},
                weight_objects={},
            )
        }


class DimuonProcessor(AnalysisProcessor):
    @classmethod
    def columns(cls, definition: Any) -> tuple[str, ...]:
        return cls.format_columns() + LEPTONS

    def objects(self, events: ak.Array) -> tuple[Objects, dict]:
        leptons = events.leptons
        return Objects(leptons[leptons.abs_pdg_id == 13]), {}

    def selections(self, events: ak.Array, objects: Objects) -> Selections:
        return Selections(self.definition.cuts["min_pt"], objects)
