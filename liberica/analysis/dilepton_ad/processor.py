"""The 2-lepton processor: dilepton_ad's hooks on the base processor.

The chunk's leptons are flat numpy columns (GeV); a lepton is good if it
passes the pT, eta and isolation cuts, and the selection keeps events with
exactly two good leptons, a fired trigger and a leading lepton above its pT
cut. Jets are counted once per chunk (they are not varied); the lepton
momentum variations re-run the lepton side, with the missing transverse
momentum corrected for the change in the leptons' momenta, so that every
feature, and the autoencoder's score, follows the variation. Every feature
is 0 where its object is absent, never NaN. Everything else (weights,
systematics, scores, regions, fills, cutflows) is the base processor's.
"""

from __future__ import annotations

from typing import NamedTuple

import awkward as ak
import numpy as np

from liberica.analysis.dilepton_ad import CHANNEL_CODES, FEATURES
from liberica.analysis.dilepton_ad.cuts import Cuts
from liberica.core.definition import AnalysisDefinition
from liberica.processors import schema
from liberica.processors.angles import collins_soper_cos_theta
from liberica.processors.base import AnalysisProcessor
from liberica.processors.leptons import (
    DEFAULT_FIELDS,
    LeptonColumns,
    drop_unphysical,
    open_data_lepton_columns,
    per_event_count,
    with_directions,
)
from liberica.processors.schema import MUON_TYPE
from liberica.processors.stransverse import mt2

MEV_TO_GEV = 1.0e-3
LEPTON_BRANCHES = tuple(schema.LEPTON_BRANCHES.values())
"""Every lepton branch the schema reads: the features take them all."""
JET_BRANCHES = ("jet_pt", "jet_eta", "jet_MV2c10")
EVENT_BRANCHES = ("trigE", "trigM", "met_et", "met_phi")
STEPS = ("trigger", "two_leptons", "leading_lepton_pt")


class Objects(NamedTuple):
    """The chunk's leptons (unphysical ones dropped; the momentum variations replace them)."""

    leptons: LeptonColumns


class Result(NamedTuple):
    """The selection's rows (one per event of the chunk), as the base processor reads them."""

    event_steps: tuple[tuple[str, np.ndarray], ...]
    steps: tuple[tuple[str, np.ndarray], ...]
    passed: np.ndarray
    observables: dict[str, np.ndarray]
    event_index: np.ndarray
    categories: dict[str, np.ndarray]
    weight_objects: dict[str, np.ndarray]


def good_leptons(leptons: LeptonColumns, cuts: Cuts) -> np.ndarray:
    """Flat mask of the leptons passing the pT, eta and isolation cuts."""
    selection = cuts.leptons
    pt = leptons.pt
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            (pt > selection.min_pt)
            & (np.abs(leptons.eta) < selection.max_abs_eta)
            & (leptons.ptcone30 < selection.max_ptcone30_over_pt * pt)
            & (leptons.etcone20 < selection.max_etcone20_over_pt * pt)
        )


def jet_counts(events: ak.Array, cuts: Cuts) -> dict[str, np.ndarray]:
    """Per event: jets above 20 and 60 GeV, and b-tagged jets above 20 GeV at each working point."""
    pt = events["jet_pt"] * MEV_TO_GEV
    central = np.abs(events["jet_eta"]) < cuts.jets.max_abs_eta
    above_20 = central & (pt > 20.0)
    counts = {
        "njet20": ak.sum(above_20, axis=1),
        "njet60": ak.sum(central & (pt > 60.0), axis=1),
    }
    score = events["jet_MV2c10"]
    for efficiency, threshold in sorted(cuts.jets.btag_working_points.items()):
        counts[f"nbjet{efficiency}"] = ak.sum(above_20 & (score > threshold), axis=1)
    return {name: np.asarray(value, dtype=np.float64) for name, value in counts.items()}


class _Pair(NamedTuple):
    """The events with exactly two good leptons, and the flat index of each (leading first)."""

    events: np.ndarray
    leading: np.ndarray
    subleading: np.ndarray


def _pairs(leptons: LeptonColumns, good: np.ndarray) -> tuple[np.ndarray, _Pair]:
    n_good = per_event_count(leptons.offsets, good)
    two = n_good == 2
    flat = np.flatnonzero(good)
    event_of = np.repeat(np.arange(leptons.n_events), leptons.counts)[flat]
    flat = flat[two[event_of]]
    first, second = flat[0::2], flat[1::2]
    swap = leptons.pt[second] > leptons.pt[first]
    leading = np.where(swap, second, first)
    subleading = np.where(swap, first, second)
    return two, _Pair(np.flatnonzero(two), leading, subleading)


def _momentum(leptons: LeptonColumns, index: np.ndarray):
    pt = leptons.pt[index].astype(np.float64)
    return (
        pt * leptons.cos_phi[index],
        pt * leptons.sin_phi[index],
        pt * leptons.sinh_eta[index],
        leptons.energy[index].astype(np.float64),
    )


class Selections:
    """dilepton_ad's selection on one chunk: ``two_leptons``.

    Args:
        cuts: the definition's cuts
        events: the chunk
        objects: its nominal objects
    """

    def __init__(self, cuts: Cuts, events: ak.Array, objects: Objects) -> None:
        self.cuts, self.objects = cuts, objects
        n = len(events)
        self._fired = np.zeros(n, dtype=bool)
        for trigger in cuts.events.triggers:
            self._fired |= np.asarray(events[trigger], dtype=bool)
        self._jets = jet_counts(events, cuts)
        met = np.asarray(events["met_et"], dtype=np.float64) * MEV_TO_GEV
        phi = np.asarray(events["met_phi"], dtype=np.float64)
        self._met_xy = (met * np.cos(phi), met * np.sin(phi))

    def nominal(self) -> dict[str, Result]:
        """The selection on the nominal objects."""
        return self.varied(self.objects)

    def _missing_momentum(self, leptons: LeptonColumns) -> tuple[np.ndarray, np.ndarray]:
        """pT^miss, corrected for the leptons' momentum change against the nominal objects."""
        met_x, met_y = self._met_xy
        nominal = self.objects.leptons
        if leptons is nominal:
            return met_x, met_y
        change = leptons.pt.astype(np.float64) - nominal.pt.astype(np.float64)
        cumulative_x = np.concatenate([[0.0], np.cumsum(change * leptons.cos_phi)])
        cumulative_y = np.concatenate([[0.0], np.cumsum(change * leptons.sin_phi)])
        start, stop = leptons.offsets[:-1], leptons.offsets[1:]
        return (
            met_x - (cumulative_x[stop] - cumulative_x[start]),
            met_y - (cumulative_y[stop] - cumulative_y[start]),
        )

    def varied(self, objects: Objects) -> dict[str, Result]:
        """The selection and every feature on (possibly varied) leptons."""
        leptons = objects.leptons
        n = leptons.n_events
        two, pair = _pairs(leptons, good_leptons(leptons, self.cuts))
        rows, lead, sub = pair.events, pair.leading, pair.subleading
        observables = {name: np.zeros(n) for name in FEATURES}
        observables.update(self._jets)
        met_x, met_y = self._missing_momentum(leptons)
        observables["met_et"] = np.hypot(met_x, met_y)
        observables["met_phi"] = np.arctan2(met_y, met_x)
        for k, index in ((1, lead), (2, sub)):
            for field, values in (
                ("flav", leptons.abs_pdg_id),
                ("pt", leptons.pt),
                ("eta", leptons.eta),
                ("phi", leptons.phi),
                ("E", leptons.energy),
                ("ptcone30", leptons.ptcone30),
                ("etcone20", leptons.etcone20),
                ("d0", leptons.d0),
                ("d0sig", leptons.d0_significance),
                ("isTightID", leptons.is_tight),
                ("z0", leptons.z0),
            ):
                observables[f"lep{k}_{field}"][rows] = values[index]
        p1, p2 = _momentum(leptons, lead), _momentum(leptons, sub)
        pair_p4 = [a + b for a, b in zip(p1, p2, strict=True)]
        mass2 = pair_p4[3] ** 2 - pair_p4[0] ** 2 - pair_p4[1] ** 2 - pair_p4[2] ** 2
        observables["mll"][rows] = np.sqrt(np.maximum(mass2, 0.0))
        charge1, charge2 = leptons.charge[lead], leptons.charge[sub]
        flavour1, flavour2 = leptons.abs_pdg_id[lead], leptons.abs_pdg_id[sub]
        observables["isOS"][rows] = charge1 != charge2
        observables["isSF"][rows] = flavour1 == flavour2
        observables["mt2"][rows] = mt2(
            leptons.pt[lead],
            leptons.phi[lead],
            leptons.pt[sub],
            leptons.phi[sub],
            observables["met_et"][rows],
            observables["met_phi"][rows],
        )
        # the negative lepton is the first of the Collins-Soper angle (same sign: the leading)
        negative_first = (charge2 < 0) & (charge1 > 0)
        first = tuple(np.where(negative_first, b, a) for a, b in zip(p1, p2, strict=True))
        second = tuple(np.where(negative_first, a, b) for a, b in zip(p1, p2, strict=True))
        observables["costhstar"][rows] = collins_soper_cos_theta(first, second)

        channel = np.zeros(n, dtype=np.int8)
        channel[rows] = np.where(
            flavour1 != flavour2,
            CHANNEL_CODES["emu"],
            np.where(flavour1 == MUON_TYPE, CHANNEL_CODES["mumu"], CHANNEL_CODES["ee"]),
        )
        lepton_pt = np.zeros((n, 2))
        lepton_flavour = np.zeros((n, 2), dtype=np.int32)
        lepton_pt[rows, 0], lepton_pt[rows, 1] = leptons.pt[lead], leptons.pt[sub]
        lepton_flavour[rows, 0], lepton_flavour[rows, 1] = flavour1, flavour2
        leading_pt = observables["lep1_pt"]
        masks = {
            "trigger": self._fired,
            "two_leptons": two,
            "leading_lepton_pt": leading_pt > self.cuts.events.leading_lepton_min_pt,
        }
        return {
            "two_leptons": Result(
                event_steps=tuple((step, masks[step]) for step in STEPS),
                steps=(),
                passed=masks["trigger"] & masks["two_leptons"] & masks["leading_lepton_pt"],
                observables=observables,
                event_index=np.arange(n),
                categories={"channel": channel},
                weight_objects={"lepton_pt": lepton_pt, "lepton_abs_pdg_id": lepton_flavour},
            )
        }


class DileptonProcessor(AnalysisProcessor):
    """Histograms and cutflows of the 2-lepton anomaly search (see the base processor)."""

    @classmethod
    def columns(cls, definition: AnalysisDefinition) -> tuple[str, ...]:
        """The open-data branches of the leptons, jets, MET, triggers and weights."""
        return cls.format_columns() + LEPTON_BRANCHES + JET_BRANCHES + EVENT_BRANCHES

    def objects(self, events: ak.Array) -> tuple[Objects, dict[str, int]]:
        """Every lepton (unphysical ones dropped), with d0 read and directions computed."""
        columns = open_data_lepton_columns(events, (*DEFAULT_FIELDS, "d0"))
        leptons, unphysical = drop_unphysical(columns)
        return Objects(with_directions(leptons)), unphysical

    def selections(self, events: ak.Array, objects: Objects) -> Selections:
        """The selection (the only one: ``two_leptons``) on the chunk."""
        return Selections(self.definition.cuts, events, objects)
