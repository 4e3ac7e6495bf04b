"""Event selections, as named masks in a coffea PackedSelection.

Each selection returns its masks in cutflow order, the observables it defines
and the four leptons it selected (for lepton-dependent weight variations).
"""

from __future__ import annotations

from typing import NamedTuple

import awkward as ak
import numpy as np
from coffea.analysis_tools import PackedSelection

from liberica.analysis.definition import EventSelection, LeptonSelection
from liberica.processors.leptons import select_leptons
from liberica.processors.quadruplets import (
    FourLeptons,
    ZPairing,
    four_lepton_mass,
    four_lepton_pt,
    four_leptons,
    pair_into_z_bosons,
)

AGC_LEPTON_TYPE_SUMS = (44, 48, 52)
"""Sums of |pdg id| of four leptons forming two same-flavour pairs (4e, 2e2mu, 4mu)."""


class SelectionResult(NamedTuple):
    """The outcome of one selection on one chunk (one object variation).

    Attributes:
        selection: named event masks, all of the chunk's length
        steps: mask names in cutflow order; an event is selected if it passes all
        observables: per event, NaN where the event has no four-lepton candidate
        channel: per event, a CHANNEL_CODES value, -1 where undefined
        lepton_pt: per event and lepton (n, 4), 0 where undefined (GeV)
        lepton_abs_pdg_id: per event and lepton (n, 4), 0 where undefined
        quad: the dense four-lepton events the selection was made from
        pairing: their Z1/Z2 pairing
    """

    selection: PackedSelection
    steps: tuple[str, ...]
    observables: dict[str, np.ndarray]
    channel: np.ndarray
    lepton_pt: np.ndarray
    lepton_abs_pdg_id: np.ndarray
    quad: FourLeptons
    pairing: ZPairing


def _scatter(n: int, index: np.ndarray, values: np.ndarray, fill: float) -> np.ndarray:
    out = np.full((n,) + values.shape[1:], fill, dtype=values.dtype)
    out[index] = values
    return out


def _observables(n: int, quad: FourLeptons, z1: np.ndarray, z2: np.ndarray) -> dict:
    index = quad.event_index
    return {
        "m4l": _scatter(n, index, four_lepton_mass(quad), np.nan),
        "pt4l": _scatter(n, index, four_lepton_pt(quad), np.nan),
        "m12": _scatter(n, index, z1, np.nan),
        "m34": _scatter(n, index, z2, np.nan),
    }


def agc_baseline(leptons: ak.Array, z_mass: float) -> SelectionResult:
    """The AGC H -> ZZ* demo selection, exactly: no lepton quality cuts.

    Four leptons in the event, total charge zero, and a sum of lepton types in
    {44, 48, 52}. The m4l range is the histogram's; events outside it go to
    the under- and overflow bins.
    """
    n = len(leptons)
    quad = four_leptons(leptons)
    pairing = pair_into_z_bosons(quad, z_mass)
    index = quad.event_index
    selection = PackedSelection()
    selection.add("four_leptons", _scatter(n, index, np.ones(len(index), bool), False))
    selection.add("zero_charge", _scatter(n, index, quad.charge.sum(axis=1) == 0, False))
    type_sum = quad.abs_pdg_id.sum(axis=1)
    selection.add(
        "lepton_types", _scatter(n, index, np.isin(type_sum, AGC_LEPTON_TYPE_SUMS), False)
    )
    return SelectionResult(
        selection=selection,
        steps=("four_leptons", "zero_charge", "lepton_types"),
        observables=_observables(n, quad, pairing.z1_mass, pairing.z2_mass),
        channel=_scatter(n, index, pairing.channel, -1),
        lepton_pt=_scatter(n, index, quad.pt, 0.0),
        lepton_abs_pdg_id=_scatter(n, index, quad.abs_pdg_id, 0),
        quad=quad,
        pairing=pairing,
    )


def hzz4l(
    events: ak.Array,
    leptons: ak.Array,
    lepton_cuts: LeptonSelection,
    event_cuts: EventSelection,
) -> SelectionResult:
    """The ATLAS open-data 13 TeV H -> ZZ* -> 4l selection.

    Trigger, exactly four good leptons, leading-lepton pT thresholds, two
    same-flavour opposite-charge pairs paired closest to the Z mass, and the
    Z1 and Z2 mass windows.
    """
    n = len(leptons)
    selection = PackedSelection()
    trigger = np.zeros(n, dtype=bool)
    for name in event_cuts.triggers:
        trigger |= np.asarray(events[name], dtype=bool)
    selection.add("trigger", trigger)

    quad = four_leptons(leptons, select_leptons(leptons, lepton_cuts))
    index = quad.event_index
    selection.add("four_good_leptons", _scatter(n, index, np.ones(len(index), bool), False))

    thresholds = np.asarray(event_cuts.lepton_pt_thresholds)
    passes_pt = (quad.pt[:, : len(thresholds)] > thresholds).all(axis=1)
    selection.add("lepton_pt", _scatter(n, index, passes_pt, False))

    pairing = pair_into_z_bosons(quad, event_cuts.z_mass)
    selection.add("two_sfos_pairs", _scatter(n, index, pairing.has_two_sfos_pairs, False))
    z1_low, z1_high = event_cuts.z1_mass_window
    z2_low, z2_high = event_cuts.z2_mass_window
    with np.errstate(invalid="ignore"):
        z1_window = (pairing.z1_mass > z1_low) & (pairing.z1_mass < z1_high)
        z2_window = (pairing.z2_mass > z2_low) & (pairing.z2_mass < z2_high)
    selection.add("z1_mass", _scatter(n, index, z1_window, False))
    selection.add("z2_mass", _scatter(n, index, z2_window, False))
    return SelectionResult(
        selection=selection,
        steps=("trigger", "four_good_leptons", "lepton_pt", "two_sfos_pairs", "z1_mass", "z2_mass"),
        observables=_observables(n, quad, pairing.z1_mass, pairing.z2_mass),
        channel=_scatter(n, index, pairing.channel, -1),
        lepton_pt=_scatter(n, index, quad.pt, 0.0),
        lepton_abs_pdg_id=_scatter(n, index, quad.abs_pdg_id, 0),
        quad=quad,
        pairing=pairing,
    )
