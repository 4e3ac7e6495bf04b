"""Event selections over four-lepton candidates.

A selection forms the four-lepton candidates of a chunk (one row per event
with exactly four leptons, or four good leptons) and cuts on them. Its masks,
observables and channel are per row, never scattered back to the chunk's
length: events without a candidate cannot pass, and every object variation
re-runs only this. Cuts on the event before any candidate exists (the
trigger) are event steps, evaluated once per chunk.
"""

from __future__ import annotations

from typing import NamedTuple

import awkward as ak
import numpy as np

from liberica.analysis.hzz4l.cuts import EventSelection, LeptonSelection
from liberica.analysis.hzz4l.leptons import GoodLeptons
from liberica.analysis.hzz4l.quadruplets import (
    FourLeptons,
    ZPairing,
    four_lepton_mass,
    four_lepton_pt,
    four_leptons,
    pair_into_z_bosons,
    sum_over_leptons,
)
from liberica.processors.leptons import EventSubset, LeptonColumns, per_event_count

AGC_LEPTON_TYPE_SUMS = (44, 48, 52)
"""Sums of |pdg id| of four leptons forming two same-flavour pairs (4e, 2e2mu, 4mu)."""


class SelectionResult(NamedTuple):
    """The outcome of one selection on one chunk (one object variation).

    Rows are the four-lepton candidates, one per event that has one, in
    event order (``quad.event_index`` maps a row to its event in the chunk).

    Attributes:
        event_steps: ``(name, mask over the chunk's events)`` in cutflow order,
            cuts on the event that come before the candidates are formed
        steps: ``(name, mask over rows)`` in cutflow order, after the event steps
        passed: per row, whether it passes every event step and every step
        observables: per row (NaN without a Z pairing), an ``Observables``
            mapping; the processor adds ``score``
        channel: per row, a CHANNEL_CODES value, -1 without a Z pairing
        quad: the dense four-lepton candidates (leptons ordered by pT)
        pairing: their Z1/Z2 pairing
    """

    event_steps: tuple[tuple[str, np.ndarray], ...]
    steps: tuple[tuple[str, np.ndarray], ...]
    passed: np.ndarray
    observables: Observables
    channel: np.ndarray
    quad: FourLeptons
    pairing: ZPairing

    @property
    def event_index(self) -> np.ndarray:
        """Per row, its event in the chunk."""
        return self.quad.event_index

    @property
    def categories(self) -> dict[str, np.ndarray]:
        """Per row, its channel code (``CHANNEL_CODES``)."""
        return {"channel": self.channel}

    @property
    def weight_objects(self) -> dict[str, np.ndarray]:
        """What the lepton scale-factor systematics read: the four leptons' pT and type."""
        return {"lepton_pt": self.quad.pt, "lepton_abs_pdg_id": self.quad.abs_pdg_id}


class Observables(dict):
    """The per-row observables of a selection pass, by variable name.

    ``m12`` and ``m34`` come with the Z pairing; the four-lepton ``m4l`` and
    ``pt4l`` are computed on first use, so that a pass computes only what its
    regions histogram.
    """

    _COMPUTED = {"m4l": four_lepton_mass, "pt4l": four_lepton_pt}

    def __init__(self, quad: FourLeptons, pairing: ZPairing) -> None:
        super().__init__(m12=pairing.z1_mass, m34=pairing.z2_mass)
        self._quad = quad

    def __missing__(self, variable: str) -> np.ndarray:
        if variable not in self._COMPUTED:
            raise KeyError(variable)
        self[variable] = values = self._COMPUTED[variable](self._quad)
        return values


def _result(
    quad: FourLeptons,
    pairing: ZPairing,
    event_steps: tuple[tuple[str, np.ndarray], ...],
    steps: tuple[tuple[str, np.ndarray], ...],
) -> SelectionResult:
    passed = np.ones(len(quad.event_index), dtype=bool)
    for _, mask in event_steps:
        passed &= mask[quad.event_index]
    for _, mask in steps:
        passed &= mask
    observables = Observables(quad, pairing)
    return SelectionResult(event_steps, steps, passed, observables, pairing.channel, quad, pairing)


def fired_triggers(events: ak.Array, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Per event, whether any of the trigger branches ``names`` fired."""
    fired = np.zeros(len(events), dtype=bool)
    for name in names:
        fired |= np.asarray(events[name], dtype=bool)
    return fired


def agc_baseline(leptons: LeptonColumns, z_mass: float) -> SelectionResult:
    """The AGC H -> ZZ* demo selection, exactly: no lepton quality cuts.

    Four leptons in the event, total charge zero, and a sum of lepton types in
    {44, 48, 52}. The m4l range is the histogram's; events outside it go to
    the under- and overflow bins.

    Args:
        leptons: lepton columns (possibly varied) of the chunk, or of a subset
            of its events holding every event with four leptons
        z_mass: the Z mass used to pair the leptons (GeV)
    """
    quad = four_leptons(leptons)
    type_sum = sum_over_leptons(quad.abs_pdg_id)
    steps = (
        ("four_leptons", np.ones(len(quad.event_index), dtype=bool)),
        ("zero_charge", sum_over_leptons(quad.charge) == 0),
        ("lepton_types", np.isin(type_sum, AGC_LEPTON_TYPE_SUMS)),
    )
    return _result(quad, pair_into_z_bosons(quad, z_mass), (), steps)


def hzz4l(
    trigger: np.ndarray,
    leptons: LeptonColumns,
    good_leptons: np.ndarray,
    event_cuts: EventSelection,
) -> SelectionResult:
    """The ATLAS open-data 13 TeV H -> ZZ* -> 4l selection.

    Trigger, exactly four good leptons, leading-lepton pT thresholds, two
    same-flavour opposite-charge pairs paired closest to the Z mass, and the
    Z1 and Z2 mass windows.

    Args:
        trigger: per event of the chunk, whether one of the definition's triggers fired
        leptons: lepton columns (possibly varied) of the chunk, or of a subset
            of its events holding every event with four or more leptons
        good_leptons: flat mask of the leptons passing the object selection
        event_cuts: the definition's event cuts
    """
    quad = four_leptons(leptons, good_leptons)
    passes_pt = np.ones(len(quad.event_index), dtype=bool)
    for k, threshold in enumerate(event_cuts.lepton_pt_thresholds):
        passes_pt &= quad.pt[:, k] > threshold
    pairing = pair_into_z_bosons(quad, event_cuts.z_mass)
    z1_low, z1_high = event_cuts.z1_mass_window
    z2_low, z2_high = event_cuts.z2_mass_window
    with np.errstate(invalid="ignore"):
        z1_window = (pairing.z1_mass > z1_low) & (pairing.z1_mass < z1_high)
        z2_window = (pairing.z2_mass > z2_low) & (pairing.z2_mass < z2_high)
    steps = (
        ("four_good_leptons", np.ones(len(quad.event_index), dtype=bool)),
        ("lepton_pt", passes_pt),
        ("two_sfos_pairs", pairing.has_two_sfos_pairs),
        ("z1_mass", z1_window),
        ("z2_mass", z2_window),
    )
    return _result(quad, pairing, (("trigger", trigger),), steps)


class ChunkSelections:
    """The selections of one chunk: the nominal pass, then any number of momentum variations.

    What does not depend on the lepton momenta is evaluated once, here: the
    triggers, the momentum-independent lepton cuts, and the events each
    selection could select under some momenta. A varied pass runs on those
    events only.

    - ``hzz4l``: triggered events with at least four leptons passing the
      momentum-independent cuts (every pass, the nominal one included).
    - ``agc_baseline``: none of its cuts depends on the momenta, so a varied
      pass recomputes the observables of the events the nominal pass selected.

    Args:
        kinds: the selections to run (``agc_baseline``, ``hzz4l``)
        lepton_cuts: the definition's lepton cuts
        event_cuts: the definition's event cuts
        events: the chunk (for the trigger branches)
        leptons: the nominal lepton columns of the chunk, or of a subset of
            its events holding every event with four or more leptons
    """

    def __init__(
        self,
        kinds: set[str],
        lepton_cuts: LeptonSelection,
        event_cuts: EventSelection,
        events: ak.Array,
        leptons: LeptonColumns,
    ) -> None:
        unknown = set(kinds) - {"agc_baseline", "hzz4l"}
        if unknown:
            raise ValueError(f"unknown selection(s): {', '.join(sorted(unknown))}")
        self.kinds = set(kinds)
        self.event_cuts = event_cuts
        self.leptons = leptons
        self._subsets: dict[str, EventSubset] = {}
        if "hzz4l" in self.kinds:
            self.trigger = fired_triggers(events, event_cuts.triggers)
            possible = GoodLeptons(leptons, lepton_cuts).possible
            candidates = self.trigger[leptons.event_index] & (
                per_event_count(leptons.offsets, possible) >= 4
            )
            self._subsets["hzz4l"] = EventSubset(leptons, np.flatnonzero(candidates))
            self._good = GoodLeptons(self._subsets["hzz4l"].leptons, lepton_cuts)

    def _hzz4l(self, leptons: LeptonColumns) -> SelectionResult:
        return hzz4l(self.trigger, leptons, self._good.mask(leptons), self.event_cuts)

    def nominal(self) -> dict[str, SelectionResult]:
        """Every selection with the nominal momenta (call before ``varied``)."""
        results = {}
        if "agc_baseline" in self.kinds:
            result = agc_baseline(self.leptons, self.event_cuts.z_mass)
            selected = result.quad.event_index[result.passed]
            positions = np.searchsorted(self.leptons.event_index, selected)
            self._subsets["agc_baseline"] = EventSubset(self.leptons, positions)
            results["agc_baseline"] = result
        if "hzz4l" in self.kinds:
            results["hzz4l"] = self._hzz4l(self._subsets["hzz4l"].leptons)
        return results

    def varied(self, varied) -> dict[str, SelectionResult]:
        """Every selection with the momenta of ``varied``: a variation of the nominal lepton
        columns, or the processor's objects holding one."""
        varied = getattr(varied, "leptons", varied)
        results = {}
        if "agc_baseline" in self.kinds:
            leptons = self._subsets["agc_baseline"].vary(varied)
            results["agc_baseline"] = agc_baseline(leptons, self.event_cuts.z_mass)
        if "hzz4l" in self.kinds:
            results["hzz4l"] = self._hzz4l(self._subsets["hzz4l"].vary(varied))
        return results
