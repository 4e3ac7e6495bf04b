"""The X -> ZZ -> l l J processor: hllj's hooks on the base processor, in coffea idioms.

Objects are the schema's awkward collections with vector behaviour: the
leptons passing the lepton selection, and the large-R jets passing the jet
kinematic cuts, leading first. The event cuts go into a coffea
``PackedSelection``; each selection is one row per event. The lepton side
(triggers, the Z -> l l candidate) is computed once per chunk and reused
while the large-R jet variations re-run the jet side (``Selections.varied``).
Everything else (weights, systematics, scores, regions, fills, cutflows) is
the base processor's.
"""

from __future__ import annotations

from typing import NamedTuple

import awkward as ak
import numpy as np
from coffea.analysis_tools import PackedSelection

from liberica.analysis.hllj import CHANNEL_CODES
from liberica.analysis.hllj.cuts import Cuts
from liberica.core.definition import AnalysisDefinition
from liberica.processors.base import AnalysisProcessor
from liberica.processors.schema import ELECTRON_TYPE, MUON_TYPE

LEPTON_BRANCHES = (
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
    "lep_trackd0pvunbiased",
    "lep_tracksigd0pvunbiased",
)
LARGE_R_JET_BRANCHES = (
    "largeRjet_pt",
    "largeRjet_eta",
    "largeRjet_phi",
    "largeRjet_E",
    "largeRjet_m",
    "largeRjet_D2",
    "largeRjet_tau32",
)
EVENT_BRANCHES = ("trigE", "trigM", "met_et", "met_phi")

LEPTON_STEPS = ("trigger", "two_leptons", "same_flavour_opposite_charge", "leading_lepton_pt")
LEPTON_STEPS += ("zll_mass",)
JET_STEPS = ("large_r_jet",)


class Objects(NamedTuple):
    """The chunk's objects (GeV): the object systematics replace a field.

    Attributes:
        leptons: per event, the leptons passing the lepton selection
        large_r_jets: per event, every large-R jet, with ``combined_mass`` (the stored mass)
    """

    leptons: ak.Array
    large_r_jets: ak.Array


class Result(NamedTuple):
    """One selection's rows (one per event of the chunk), as the base processor reads them."""

    event_steps: tuple[tuple[str, np.ndarray], ...]
    steps: tuple[tuple[str, np.ndarray], ...]
    passed: np.ndarray
    observables: dict[str, np.ndarray]
    event_index: np.ndarray
    categories: dict[str, np.ndarray]
    weight_objects: dict[str, np.ndarray]


def _numpy(array: ak.Array, fill: float = np.nan) -> np.ndarray:
    """A per-event optional value as a float64 array, missing values as ``fill``."""
    return np.asarray(ak.fill_none(array, fill), dtype=np.float64)


def good_leptons(leptons: ak.Array, cuts: Cuts) -> ak.Array:
    """The leptons passing quality, kinematic and isolation cuts."""
    selection = cuts.leptons
    max_eta = ak.where(
        leptons.abs_pdg_id == ELECTRON_TYPE,
        selection.electron_max_abs_eta,
        selection.muon_max_abs_eta,
    )
    keep = (leptons.pt > selection.min_pt) & (np.abs(leptons.eta) < max_eta)
    keep = keep & (leptons.ptcone30 < selection.max_ptcone30_over_pt * leptons.pt)
    keep = keep & (leptons.etcone20 < selection.max_etcone20_over_pt * leptons.pt)
    if selection.require_tight_id:
        keep = keep & leptons.is_tight
    return leptons[keep]


class LeptonSide(NamedTuple):
    """The Z -> l l candidate of each event, and the lepton cuts as per-event masks."""

    masks: dict[str, np.ndarray]
    observables: dict[str, np.ndarray]
    zll: ak.Array
    channel: np.ndarray
    weight_objects: dict[str, np.ndarray]


def lepton_side(events: ak.Array, leptons: ak.Array, cuts: Cuts) -> LeptonSide:
    """Triggers, exactly two same-flavour opposite-charge leptons, their pT and mass window."""
    n = len(leptons)
    fired = np.zeros(n, dtype=bool)
    for trigger in cuts.events.triggers:
        fired |= np.asarray(events[trigger], dtype=bool)
    pair = ak.pad_none(leptons, 2, axis=1)
    first, second = pair[:, 0], pair[:, 1]
    zll = first + second
    two = np.asarray(ak.num(leptons, axis=1) == 2)
    sfos = np.asarray(
        ak.fill_none(
            (first.abs_pdg_id == second.abs_pdg_id) & (first.charge != second.charge), False
        )
    )
    lep1_pt, lep2_pt = _numpy(first.pt), _numpy(second.pt)
    mass, pt = _numpy(zll.mass), _numpy(zll.pt)
    low, high = cuts.events.zll_mass_window
    with np.errstate(invalid="ignore"):
        masks = {
            "trigger": fired,
            "two_leptons": two,
            "same_flavour_opposite_charge": sfos,
            "leading_lepton_pt": lep1_pt > cuts.events.leading_lepton_min_pt,
            "zll_mass": (mass > low) & (mass < high),
        }
    flavour = np.asarray(ak.fill_none(first.abs_pdg_id, 0), dtype=np.int32)
    channel = np.where(flavour == MUON_TYPE, CHANNEL_CODES["mumu"], CHANNEL_CODES["ee"])
    observables = {
        "lep1_pt": lep1_pt,
        "lep2_pt": lep2_pt,
        "Zll_mass": mass,
        "Zll_pt": pt,
        "MET": np.asarray(events.met.rho, dtype=np.float64),
    }
    weight_objects = {
        "lepton_pt": np.stack([lep1_pt, lep2_pt], axis=1),
        "lepton_abs_pdg_id": np.stack(
            [flavour, np.asarray(ak.fill_none(second.abs_pdg_id, 0), dtype=np.int32)], axis=1
        ),
    }
    return LeptonSide(masks, observables, zll, channel, weight_objects)


def jet_side(
    side: LeptonSide, large_r_jets: ak.Array, cuts: Cuts
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The leading large-R jet passing the kinematic cuts; its variables and the llJ mass."""
    kept = large_r_jets[
        (large_r_jets.pt > cuts.events.fatjet_min_pt)
        & (np.abs(large_r_jets.eta) < cuts.events.fatjet_max_abs_eta)
    ]
    kept = kept[ak.argsort(kept.pt, axis=1, ascending=False)]
    leading = ak.firsts(kept, axis=1)
    has_jet = np.asarray(ak.num(kept, axis=1) > 0)
    observables = {
        "fatjet_pt": _numpy(leading.pt),
        "fatjet_eta": _numpy(leading.eta),
        "fatjet_D2": _numpy(leading.D2),
        "fatjet_mass": _numpy(leading.combined_mass),
        "reco_zv_mass": _numpy((side.zll + leading).mass),
    }
    return has_jet, observables


class Selections:
    """hllj's selections on one chunk: ``preselection`` and ``cut_based``.

    Args:
        names: the selections the definition's regions and classifiers use
        cuts: the definition's cuts
        events: the chunk
        objects: its nominal objects
    """

    def __init__(self, names: set[str], cuts: Cuts, events: ak.Array, objects: Objects) -> None:
        self.names, self.cuts, self.events, self.objects = names, cuts, events, objects
        self._lepton_side = lepton_side(events, objects.leptons, cuts)

    def nominal(self) -> dict[str, Result]:
        """The selections on the nominal objects."""
        return self.varied(self.objects)

    def varied(self, objects: Objects) -> dict[str, Result]:
        """The selections on varied objects (the lepton side reused if the leptons are nominal)."""
        side = self._lepton_side
        if objects.leptons is not self.objects.leptons:
            side = lepton_side(self.events, objects.leptons, self.cuts)
        has_jet, jet_observables = jet_side(side, objects.large_r_jets, self.cuts)
        observables = {**side.observables, **jet_observables}
        selection = PackedSelection()
        for step in LEPTON_STEPS:
            selection.add(step, side.masks[step])
        selection.add("large_r_jet", has_jet)
        preselection = (*LEPTON_STEPS, *JET_STEPS)
        square = []
        with np.errstate(invalid="ignore"):
            for cut in self.cuts.cut_based:
                name = f"{cut.variable}_cut"
                values = observables[cut.variable]
                selection.add(name, (values > cut.low) & (values < cut.high))
                square.append(name)
        steps = {"preselection": preselection, "cut_based": (*preselection, *square)}
        n = len(has_jet)
        results = {}
        for name in sorted(self.names):
            results[name] = Result(
                event_steps=tuple((step, selection.all(step)) for step in steps[name]),
                steps=(),
                passed=selection.all(*steps[name]),
                observables=observables,
                event_index=np.arange(n),
                categories={"channel": side.channel},
                weight_objects=side.weight_objects,
            )
        return results


class HlljProcessor(AnalysisProcessor):
    """Histograms and cutflows of the X -> ZZ -> l l J search (see the base processor)."""

    @classmethod
    def columns(cls, definition: AnalysisDefinition) -> tuple[str, ...]:
        """The open-data branches of the leptons, large-R jets, MET, triggers and weights."""
        return cls.format_columns() + LEPTON_BRANCHES + LARGE_R_JET_BRANCHES + EVENT_BRANCHES

    def objects(self, events: ak.Array) -> tuple[Objects, dict[str, int]]:
        """The selected leptons and every large-R jet (none are dropped as unphysical)."""
        leptons = good_leptons(events.leptons, self.definition.cuts)
        return Objects(leptons, events.large_r_jets), {}

    def selections(self, events: ak.Array, objects: Objects) -> Selections:
        """The regions' selections (and the classifiers') on the chunk."""
        names = {region.selection for region in self.definition.regions.values()}
        names |= {c.selection for c in self.definition.classifiers.values()}
        if self.dump_features is not None:
            names.add(self.dump_features.selection)
        return Selections(names, self.definition.cuts, events, objects)
