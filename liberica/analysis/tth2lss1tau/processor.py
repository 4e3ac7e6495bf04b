"""The ttH 2lSS+1tau processor: tth2lss1tau's hooks on the base processor, in coffea idioms.

Objects are the schema's awkward collections with vector behaviour (GeV): the
light leptons passing identification and isolation, the hadronic taus, and the
small-R jets away from them (overlap removal, Delta R < 0.4). Each event is one
row. Two selections share the same objects and steps (a coffea
``PackedSelection``): ``sr``, the signal region of the thesis's appendix A.2,
and ``preselection``, the looser extended training set. The lepton and tau side
is computed once per chunk and reused while the jet energy scale re-runs the jet
side (``Selections.varied``). The per-event observables are also the
classifier's features (``features.py``); a quantity that does not exist in an
event (no tau, fewer jets) is NaN there.
"""

from __future__ import annotations

from typing import NamedTuple

import awkward as ak
import numpy as np
from coffea.analysis_tools import PackedSelection

from liberica.analysis.tth2lss1tau import CHANNEL_CODES
from liberica.analysis.tth2lss1tau.cuts import Cuts, Multiplicities
from liberica.core.definition import AnalysisDefinition
from liberica.processors.base import AnalysisProcessor
from liberica.processors.schema import ELECTRON_TYPE

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
TAU_BRANCHES = (
    "tau_pt",
    "tau_eta",
    "tau_phi",
    "tau_E",
    "tau_charge",
    "tau_isTightID",
    "tau_nTracks",
    "tau_BDTid",
)
JET_BRANCHES = ("jet_pt", "jet_eta", "jet_phi", "jet_E", "jet_jvt", "jet_MV2c10")
EVENT_BRANCHES = ("trigE", "trigM", "met_et", "met_phi")
EXTRA_SCALE_FACTORS = ("scaleFactor_TAU", "scaleFactor_BTAG")

OVERLAP_DELTA_R = 0.4
"""A jet this close to a selected lepton or tau is that object, not a jet."""

LEPTON_STEPS = ("trigger", "two_leptons", "same_sign", "leading_lepton_pt", "m_ll", "z_veto")


class Objects(NamedTuple):
    """The chunk's objects (GeV); the jet energy scale replaces ``jets``.

    Attributes:
        leptons: per event, the light leptons passing the lepton selection
        taus: per event, the hadronic taus passing the tau selection
        jets: per event, every small-R jet (the jet cuts are applied after variations)
    """

    leptons: ak.Array
    taus: ak.Array
    jets: ak.Array


class Result(NamedTuple):
    """One selection's rows (one per event of the chunk), as the base processor reads them."""

    event_steps: tuple[tuple[str, np.ndarray], ...]
    steps: tuple[tuple[str, np.ndarray], ...]
    passed: np.ndarray
    observables: dict[str, np.ndarray]
    event_index: np.ndarray
    categories: dict[str, np.ndarray]
    weight_objects: dict[str, np.ndarray]


def _numpy(array: ak.Array) -> np.ndarray:
    """A per-event optional value as float64, missing values as NaN."""
    return np.asarray(ak.fill_none(array, np.nan), dtype=np.float64)


def good_leptons(leptons: ak.Array, cuts: Cuts) -> ak.Array:
    """The light leptons passing identification, kinematic, isolation and impact-parameter
    cuts, by pT."""
    selection = cuts.leptons
    max_eta = ak.where(
        leptons.abs_pdg_id == ELECTRON_TYPE,
        selection.electron_max_abs_eta,
        selection.muon_max_abs_eta,
    )
    keep = (leptons.pt > selection.min_pt) & (np.abs(leptons.eta) < max_eta)
    keep = keep & (leptons.ptcone30 < selection.max_ptcone30_over_pt * leptons.pt)
    keep = keep & (leptons.etcone20 < selection.max_etcone20_over_pt * leptons.pt)
    max_d0 = ak.where(
        leptons.abs_pdg_id == ELECTRON_TYPE,
        selection.electron_max_abs_d0_significance,
        selection.muon_max_abs_d0_significance,
    )
    keep = keep & (np.abs(leptons.d0_significance) < max_d0)
    sin_theta = 1.0 / np.cosh(leptons.eta)
    keep = keep & (np.abs(leptons.z0 * sin_theta) < selection.max_abs_z0_sin_theta)
    if selection.require_tight_id:
        keep = keep & leptons.is_tight
    kept = leptons[keep]
    return kept[ak.argsort(kept.pt, axis=1, ascending=False)]


def good_taus(taus: ak.Array, cuts: Cuts) -> ak.Array:
    """The hadronic taus passing pT, |eta|, identification and track-count cuts, by pT."""
    selection = cuts.taus
    keep = (taus.pt > selection.min_pt) & (np.abs(taus.eta) < selection.max_abs_eta)
    prongs = np.zeros_like(ak.to_numpy(ak.flatten(taus.n_tracks)), dtype=bool)
    flat_tracks = ak.to_numpy(ak.flatten(taus.n_tracks))
    for n in selection.n_tracks:
        prongs |= flat_tracks == n
    keep = keep & ak.unflatten(prongs, ak.num(taus.n_tracks))
    if selection.require_tight_id:
        keep = keep & taus.is_tight
    kept = taus[keep]
    return kept[ak.argsort(kept.pt, axis=1, ascending=False)]


class LeptonSide(NamedTuple):
    """The same-sign pair and the tau of each event: masks, observables and weight inputs."""

    masks: dict[str, np.ndarray]
    observables: dict[str, np.ndarray]
    n_taus: np.ndarray
    away_from: ak.Array
    channel: np.ndarray
    weight_objects: dict[str, np.ndarray]


def _delta_r(a: ak.Array, b: ak.Array) -> np.ndarray:
    return _numpy(a.delta_r(b))


def lepton_side(events: ak.Array, leptons: ak.Array, taus: ak.Array, cuts: Cuts) -> LeptonSide:
    """Triggers, exactly two same-sign leptons, their pT, the low-mass cut and the Z veto;
    the taus; and the pair's and tau's observables."""
    n = len(leptons)
    fired = np.zeros(n, dtype=bool)
    for trigger in cuts.events.triggers:
        fired |= np.asarray(events[trigger], dtype=bool)
    pair = ak.pad_none(leptons, 2, axis=1)
    first, second = pair[:, 0], pair[:, 1]
    dilepton = first + second
    two = np.asarray(ak.num(leptons, axis=1) == 2)
    charge1, charge2 = _numpy(first.charge), _numpy(second.charge)
    flavour1, flavour2 = _numpy(first.abs_pdg_id), _numpy(second.abs_pdg_id)
    m_ll = _numpy(dilepton.mass)
    lep1_pt = _numpy(first.pt)
    tau_pair = ak.pad_none(taus, 2, axis=1)
    tau1, tau2 = tau_pair[:, 0], tau_pair[:, 1]
    with np.errstate(invalid="ignore"):
        same_flavour = flavour1 == flavour2
        on_z = np.abs(m_ll - cuts.events.z_mass) < cuts.events.z_veto_half_width
        masks = {
            "trigger": fired,
            "two_leptons": two,
            "same_sign": charge1 == charge2,
            "leading_lepton_pt": lep1_pt > cuts.events.leading_lepton_min_pt,
            "m_ll": m_ll > cuts.events.min_m_ll,
            "z_veto": ~(same_flavour & on_z),
        }
    electrons = (flavour1 == ELECTRON_TYPE).astype(int) + (flavour2 == ELECTRON_TYPE).astype(int)
    channel = np.select(
        [electrons == 2, electrons == 1],
        [CHANNEL_CODES["ee"], CHANNEL_CODES["emu"]],
        CHANNEL_CODES["mumu"],
    )
    met = events.met
    dphi = np.abs(np.mod(_numpy(first.phi) - np.asarray(met.phi) + np.pi, 2 * np.pi) - np.pi)
    met_et = np.asarray(met.rho, dtype=np.float64)
    observables = {
        "lep1_pt": lep1_pt,
        "lep1_eta": _numpy(first.eta),
        "lep2_pt": _numpy(second.pt),
        "lep2_eta": _numpy(second.eta),
        "lep1_flavour": flavour1,
        "lep2_flavour": flavour2,
        "total_charge": charge1 + charge2,
        "m_ll": m_ll,
        "pt_ll": _numpy(dilepton.pt),
        "dr_ll": _delta_r(first, second),
        "met": met_et,
        "mt_lep1_met": np.sqrt(2.0 * lep1_pt * met_et * (1.0 - np.cos(dphi))),
        "tau_pt": _numpy(tau1.pt),
        "tau_eta": _numpy(tau1.eta),
        "tau_charge": _numpy(tau1.charge),
        "tau_n_tracks": _numpy(tau1.n_tracks),
        "tau2_pt": _numpy(tau2.pt),
        "m_l1tau": _numpy((first + tau1).mass),
        "m_l2tau": _numpy((second + tau1).mass),
        "dr_l1tau": _delta_r(first, tau1),
        "dr_l2tau": _delta_r(second, tau1),
    }
    weight_objects = {
        "lepton_pt": np.stack([lep1_pt, observables["lep2_pt"]], axis=1),
        "lepton_abs_pdg_id": np.nan_to_num(np.stack([flavour1, flavour2], axis=1)).astype(np.int32),
        "tau_pt": observables["tau_pt"][:, None],
    }
    away_from = ak.concatenate(
        [leptons[["pt", "eta", "phi", "energy"]], taus[["pt", "eta", "phi", "energy"]]], axis=1
    )
    return LeptonSide(
        masks,
        observables,
        np.asarray(ak.num(taus, axis=1)),
        ak.with_name(away_from, "PtEtaPhiELorentzVector"),
        channel,
        weight_objects,
    )


def jet_side(side: LeptonSide, jets: ak.Array, cuts: Cuts) -> dict[str, np.ndarray]:
    """The jets passing the cuts and away from the leptons and tau: counts and observables."""
    selection = cuts.jets
    kept = jets[(jets.pt > selection.min_pt) & (np.abs(jets.eta) < selection.max_abs_eta)]
    nearest = ak.min(kept.metric_table(side.away_from), axis=2)
    kept = kept[ak.fill_none(nearest, np.inf) > OVERLAP_DELTA_R]
    kept = kept[ak.argsort(kept.pt, axis=1, ascending=False)]
    padded = ak.pad_none(kept, 4, axis=1)
    first, second = padded[:, 0], padded[:, 1]
    all_eta = ak.concatenate([np.abs(side.away_from.eta), np.abs(kept.eta)], axis=1)
    # the two light leptons come first in away_from
    to_leptons = ak.min(kept.metric_table(side.away_from[:, :2]), axis=2)
    observables = {
        "n_jets": np.asarray(ak.num(kept, axis=1), dtype=np.float64),
        "n_bjets": np.asarray(
            ak.sum(kept.btag_mv2c10 > selection.btag_min_mv2c10, axis=1), dtype=np.float64
        ),
        "ht_jets": np.asarray(ak.sum(kept.pt, axis=1), dtype=np.float64),
        "m_jj_lead": _numpy((first + second).mass),
        "dr_jj_lead": _delta_r(first, second),
        "min_dr_lep_jet": _numpy(ak.min(to_leptons, axis=1)),
        "max_abs_eta": _numpy(ak.max(all_eta, axis=1)),
    }
    for k in range(4):
        observables[f"jet{k + 1}_pt"] = _numpy(padded[:, k].pt)
    return observables


def _multiplicity_steps(
    name: str, wanted: Multiplicities, n_taus: np.ndarray, jets: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    steps = {}
    if wanted.n_taus is not None:
        steps[f"{name}_taus"] = n_taus == wanted.n_taus
    steps[f"{name}_jets"] = jets["n_jets"] >= wanted.min_jets
    steps[f"{name}_bjets"] = jets["n_bjets"] >= wanted.min_bjets
    return steps


class Selections:
    """tth2lss1tau's selections on one chunk: ``sr`` and ``preselection``.

    Args:
        names: the selections the definition's regions and classifiers use
        cuts: the definition's cuts
        events: the chunk
        objects: its nominal objects
    """

    def __init__(self, names: set[str], cuts: Cuts, events: ak.Array, objects: Objects) -> None:
        self.names, self.cuts, self.events, self.objects = names, cuts, events, objects
        self._side = lepton_side(events, objects.leptons, objects.taus, cuts)

    def nominal(self) -> dict[str, Result]:
        """The selections on the nominal objects."""
        return self.varied(self.objects)

    def varied(self, objects: Objects) -> dict[str, Result]:
        """The selections on varied objects (the lepton side reused if leptons and taus are
        nominal)."""
        side = self._side
        if objects.leptons is not self.objects.leptons or objects.taus is not self.objects.taus:
            side = lepton_side(self.events, objects.leptons, objects.taus, self.cuts)
        jets = jet_side(side, objects.jets, self.cuts)
        observables = {**side.observables, **jets}
        events = self.cuts.events
        masks = dict(side.masks)
        masks |= _multiplicity_steps("sr", events.signal_region, side.n_taus, jets)
        masks |= _multiplicity_steps("pre", events.preselection, side.n_taus, jets)
        selection = PackedSelection()
        for step, mask in masks.items():
            selection.add(step, mask)
        steps = {
            "sr": (*LEPTON_STEPS, *(s for s in masks if s.startswith("sr_"))),
            "preselection": (*LEPTON_STEPS, *(s for s in masks if s.startswith("pre_"))),
        }
        n = len(side.channel)
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


class TthProcessor(AnalysisProcessor):
    """Histograms and cutflows of ttH in 2lSS+1tau (see the base processor)."""

    extra_scale_factors = EXTRA_SCALE_FACTORS

    @classmethod
    def columns(cls, definition: AnalysisDefinition) -> tuple[str, ...]:
        """The open-data branches of the leptons, taus, jets, MET, triggers and weights."""
        return (
            cls.format_columns()
            + EXTRA_SCALE_FACTORS
            + LEPTON_BRANCHES
            + TAU_BRANCHES
            + JET_BRANCHES
            + EVENT_BRANCHES
        )

    def objects(self, events: ak.Array) -> tuple[Objects, dict[str, int]]:
        """The selected leptons and taus, and every jet (none are dropped as unphysical)."""
        cuts = self.definition.cuts
        return Objects(
            good_leptons(events.leptons, cuts), good_taus(events.taus, cuts), events.jets
        ), {}

    def selections(self, events: ak.Array, objects: Objects) -> Selections:
        """The regions' selections (and the classifiers') on the chunk."""
        names = {region.selection for region in self.definition.regions.values()}
        names |= {c.selection for c in self.definition.classifiers.values()}
        if self.dump_features is not None:
            names |= {self.dump_features.selection, self.dump_features.trained_on}
        return Selections(names, self.definition.cuts, events, objects)
