"""coffea schema for the ATLAS Open Data 13 TeV ntuples (tree ``mini``).

The files store energies in MeV. This schema is the only place that knows
that: the collections it exposes (``events.leptons``, ``events.jets``,
``events.large_r_jets``, ``events.taus``, ``events.photons``, ``events.met``) carry four-vector
behaviour and are in GeV.

Real open-data files store per-object quantities as ``std::vector<T>``
branches; files written by uproot store them as counted arrays (``nlep`` plus
``lep_pt[nlep]``). Both reach the schema as jagged branches with their own
offsets, so the schema reads both unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import awkward as ak
import numpy as np
from coffea.nanoevents.methods import base, candidate
from coffea.nanoevents.schemas.base import BaseSchema

from liberica.processors.bad_input import InputFormatError

MEV_TO_GEV = 1.0e-3
"""Multiply a quantity stored in MeV by this to get GeV."""

ELECTRON_TYPE = 11
MUON_TYPE = 13

behavior: dict = {}
behavior.update(base.behavior)
behavior.update(candidate.behavior)

# branch name -> field name of the lepton collection, with the unit scale applied
_LEPTON_FIELDS_MEV = {
    "lep_pt": "pt",
    "lep_E": "energy",
    "lep_ptcone30": "ptcone30",
    "lep_etcone20": "etcone20",
}
_LEPTON_FIELDS = {
    "lep_eta": "eta",
    "lep_phi": "phi",
    "lep_charge": "charge",
    "lep_type": "abs_pdg_id",
    "lep_isTightID": "is_tight",
    "lep_z0": "z0",  # mm
    "lep_trackd0pvunbiased": "d0",  # mm
    "lep_tracksigd0pvunbiased": "d0_significance",  # |d0| / sigma(d0)
}


LEPTON_BRANCHES = {
    field: branch for branch, field in (*_LEPTON_FIELDS_MEV.items(), *_LEPTON_FIELDS.items())
}
"""The branch each field of the lepton collection is read from."""


def _offsets_and_values(jagged: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (from 0) and flat values of a jagged array of numbers.

    Read off the layout where it is a list of numbers with offsets, as uproot
    gives a branch; through ``ak.num`` and ``ak.flatten`` otherwise, which
    cost 20 ms a 500k-event chunk more.
    """
    layout = ak.to_layout(jagged)
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(
        layout.content, ak.contents.NumpyArray
    ):
        offsets = np.asarray(layout.offsets.data)
        values = np.asarray(layout.content.data)[offsets[0] : offsets[-1]]
        return (offsets - offsets[0] if offsets[0] else offsets), values
    counts = np.asarray(ak.num(jagged, axis=1), dtype=np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, np.asarray(ak.flatten(jagged, axis=1))


def flat_leptons(
    events: ak.Array, fields: Iterable[str] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The leptons per event and their flat per-lepton arrays, keyed by field name, in GeV.

    The numbers and dtypes of ``events.leptons``, without building the record
    array: for columnar code that works on flat numpy arrays. Only the
    branches of ``fields`` (default: every field of ``events.leptons``) are read.

    Raises:
        InputFormatError: naming the branch whose per-event lengths differ from ``lep_pt``'s
    """
    pt_offsets, pt_values = _offsets_and_values(events["lep_pt"])
    arrays = {}
    wanted = None if fields is None else set(fields)
    for branch, field in (*_LEPTON_FIELDS_MEV.items(), *_LEPTON_FIELDS.items()):
        if wanted is not None and field not in wanted:
            continue
        if branch == "lep_pt":
            values = pt_values
        else:
            offsets, values = _offsets_and_values(events[branch])
            if not np.array_equal(offsets, pt_offsets):
                raise InputFormatError(f"branch {branch} has other per-event lengths than lep_pt")
        arrays[field] = values * MEV_TO_GEV if branch in _LEPTON_FIELDS_MEV else values
    if "abs_pdg_id" in arrays:
        arrays["abs_pdg_id"] = arrays["abs_pdg_id"].astype(np.int32)
    return np.diff(pt_offsets), arrays


def _gev(array: ak.Array) -> ak.Array:
    return array * MEV_TO_GEV


def _zip(fields: dict[str, ak.Array], name: str, branches: dict[str, str]) -> ak.Array:
    """``ak.zip`` of per-object branches, refusing branches of other per-event lengths.

    Raises:
        InputFormatError: naming the branch whose lengths differ from the first's
    """
    reference_field, *others = fields
    counts = np.asarray(ak.num(fields[reference_field], axis=1))
    for field in others:
        if not np.array_equal(np.asarray(ak.num(fields[field], axis=1)), counts):
            raise InputFormatError(
                f"branch {branches[field]} has other per-event lengths than "
                f"{branches[reference_field]}"
            )
    return ak.zip(fields, with_name=name, behavior=behavior)


def _zip_objects(events: ak.Array, prefix: str, extra: dict[str, str], name: str) -> ak.Array:
    """Zip ``{prefix}_pt/eta/phi/E`` (MeV) and extra branches into GeV objects."""
    fields = {
        "pt": _gev(events[f"{prefix}_pt"]),
        "eta": events[f"{prefix}_eta"],
        "phi": events[f"{prefix}_phi"],
        "energy": _gev(events[f"{prefix}_E"]),
    }
    branches = {"pt": f"{prefix}_pt", "eta": f"{prefix}_eta", "phi": f"{prefix}_phi"}
    branches["energy"] = f"{prefix}_E"
    for branch, field in extra.items():
        fields[field] = events[branch]
        branches[field] = branch
    return _zip(fields, name, branches)


@ak.mixin_class(behavior)
class OpenDataEvents(base.NanoEvents):
    """One entry of an open-data ``mini`` tree, with GeV collections.

    Each property builds its collection on access; call it once per chunk.
    """

    @property
    def leptons(self) -> ak.Array:
        """Electrons and muons (``abs_pdg_id`` 11 or 13), in GeV, with charge."""
        fields = {field: _gev(self[branch]) for branch, field in _LEPTON_FIELDS_MEV.items()}
        fields.update({field: self[branch] for branch, field in _LEPTON_FIELDS.items()})
        fields["abs_pdg_id"] = ak.values_astype(fields["abs_pdg_id"], np.int32)
        return _zip(fields, "PtEtaPhiECandidate", LEPTON_BRANCHES)

    @property
    def jets(self) -> ak.Array:
        """Small-R jets, in GeV, with JVT and the MV2c10 b-tagging score."""
        return _zip_objects(
            self, "jet", {"jet_jvt": "jvt", "jet_MV2c10": "btag_mv2c10"}, "PtEtaPhiELorentzVector"
        )

    @property
    def large_r_jets(self) -> ak.Array:
        """Large-R jets, in GeV, with the stored jet mass and D2/tau32 substructure.

        The stored ``largeRjet_m`` is kept as ``combined_mass``: a four-vector
        with energy may not also carry a field named ``m``.
        """
        jets = _zip_objects(
            self,
            "largeRjet",
            {"largeRjet_D2": "D2", "largeRjet_tau32": "tau32"},
            "PtEtaPhiELorentzVector",
        )
        return ak.with_field(jets, _gev(self["largeRjet_m"]), "combined_mass")

    @property
    def taus(self) -> ak.Array:
        """Hadronic taus (their visible decay products), in GeV, with charge, the tight
        identification, the number of tracks and the identification BDT score."""
        return _zip_objects(
            self,
            "tau",
            {
                "tau_charge": "charge",
                "tau_isTightID": "is_tight",
                "tau_nTracks": "n_tracks",
                "tau_BDTid": "bdt_id",
            },
            "PtEtaPhiECandidate",
        )

    @property
    def photons(self) -> ak.Array:
        """Photons, in GeV."""
        return _zip_objects(
            self, "photon", {"photon_isTightID": "is_tight"}, "PtEtaPhiELorentzVector"
        )

    @property
    def met(self) -> ak.Array:
        """Missing transverse momentum, in GeV, as a two-vector."""
        return ak.zip(
            {"rho": _gev(self["met_et"]), "phi": self["met_phi"]},
            with_name="PolarTwoVector",
            behavior=behavior,
        )


class OpenDataSchema(BaseSchema):
    """Schema for ATLAS Open Data 13 TeV ``mini`` trees.

    The branches keep their file names (in MeV) at the top level; the GeV
    collections are properties of the ``OpenDataEvents`` record.
    """

    __dask_capable__ = True

    def __init__(self, base_form: dict, *args, **kwargs) -> None:
        super().__init__(base_form)
        self._form["parameters"]["__record__"] = "OpenDataEvents"

    @classmethod
    def behavior(cls) -> dict:
        """Behaviours of the open-data events and their collections."""
        return behavior
