"""The chunk's leptons as flat columns (GeV), for columnar code on numpy arrays.

A chunk's leptons are flattened once into numpy arrays (one entry per lepton,
with event offsets). Object variations replace only ``pt`` and ``energy``, so
every selection pass after the first reuses the columns and the cuts that do
not depend on the momentum.
"""

from __future__ import annotations

from typing import NamedTuple

import awkward as ak
import numpy as np

from liberica.processors.schema import LEPTON_BRANCHES, flat_leptons


class LeptonColumns(NamedTuple):
    """Flat per-lepton arrays of a chunk, in GeV and the file's dtypes.

    Attributes:
        offsets: ``(n_events + 1,)``: the leptons of event ``i`` are ``offsets[i]:offsets[i+1]``
        event_index: ``(n_events,)``: each event's index in the chunk
        pt, eta, phi, energy, charge, abs_pdg_id: kinematics and identity
        is_tight, ptcone30, etcone20, z0, d0_significance: identification,
            isolation (GeV) and impact parameter (mm, and |d0|/sigma); None
            where the collection does not have them
        d0: the transverse impact parameter (mm), read only where asked for
        cos_phi, sin_phi, sinh_eta: the direction, in float64, for the Cartesian
            momenta; computed once by ``with_directions`` (momentum variations
            leave them unchanged), else None
    """

    offsets: np.ndarray
    event_index: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray
    charge: np.ndarray
    abs_pdg_id: np.ndarray
    is_tight: np.ndarray | None = None
    ptcone30: np.ndarray | None = None
    etcone20: np.ndarray | None = None
    z0: np.ndarray | None = None
    d0_significance: np.ndarray | None = None
    d0: np.ndarray | None = None
    cos_phi: np.ndarray | None = None
    sin_phi: np.ndarray | None = None
    sinh_eta: np.ndarray | None = None

    @property
    def counts(self) -> np.ndarray:
        """Leptons per event."""
        return np.diff(self.offsets)

    @property
    def n_events(self) -> int:
        """Events in the chunk."""
        return len(self.offsets) - 1


def _columns(counts: np.ndarray, arrays: dict[str, np.ndarray]) -> LeptonColumns:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return LeptonColumns(offsets=offsets, event_index=np.arange(len(counts)), **arrays)


def lepton_columns(leptons: ak.Array) -> LeptonColumns:
    """Flatten a jagged lepton collection (such as the schema's ``events.leptons``).

    Fields the collection lacks beyond the kinematics are left as None. Values
    keep their dtype, so that every cut sees the numbers the collection holds.
    """
    fields = set(ak.fields(leptons))
    arrays = {
        name: np.asarray(ak.flatten(leptons[name], axis=1))
        for name in LeptonColumns._fields[2:]
        if name in fields
    }
    return _columns(np.asarray(ak.num(leptons, axis=1), dtype=np.int64), arrays)


DEFAULT_FIELDS = tuple(f for f in LeptonColumns._fields[2:] if f != "d0")
"""The fields read unless asked otherwise: all but ``d0`` (``lep_trackd0pvunbiased``)."""


def open_data_lepton_columns(
    events: ak.Array, fields: tuple[str, ...] = DEFAULT_FIELDS
) -> LeptonColumns:
    """The lepton columns of an open-data chunk, read from its branches (GeV, via the schema).

    Only ``fields`` are read (the kinematics always); the others are None.
    """
    return _columns(*flat_leptons(events, fields))


def drop_unphysical(leptons: LeptonColumns) -> tuple[LeptonColumns, dict[str, int]]:
    """Drop each lepton with a non-finite or negative pT or E, or a non-finite eta or phi.

    The policy for values no detector gives: the object is removed before any
    selection, and its event keeps its other objects, exactly as if the file
    had not held it. Counts are per branch (an object can be counted under
    several) and in total, so that the run reports what it dropped.

    Returns:
        tuple: the columns without those leptons, and ``{"objects": n, branch: n, ...}``
        (empty when nothing was dropped)
    """
    bad = {
        # NaN fails every comparison, so each test also catches NaN
        "pt": ~((leptons.pt >= 0) & (leptons.pt < np.inf)),
        "energy": ~((leptons.energy >= 0) & (leptons.energy < np.inf)),
        "eta": ~(np.abs(leptons.eta) < np.inf),
        "phi": ~(np.abs(leptons.phi) < np.inf),
    }
    dropped = bad["pt"] | bad["energy"] | bad["eta"] | bad["phi"]
    n_dropped = int(np.count_nonzero(dropped))
    if n_dropped == 0:
        return leptons, {}
    counts = {"objects": n_dropped}
    counts.update(
        {
            LEPTON_BRANCHES[field]: int(np.count_nonzero(mask))
            for field, mask in bad.items()
            if mask.any()
        }
    )
    return keep(leptons, ~dropped), counts


def keep(leptons: LeptonColumns, kept: np.ndarray) -> LeptonColumns:
    """The columns of the leptons where the flat mask ``kept`` is True; every event stays."""
    offsets = np.zeros(leptons.n_events + 1, dtype=np.int64)
    np.cumsum(per_event_count(leptons.offsets, kept), out=offsets[1:])
    columns = {
        name: None if values is None else values[kept]
        for name, values in zip(LeptonColumns._fields[2:], leptons[2:], strict=True)
    }
    return LeptonColumns(offsets=offsets, event_index=leptons.event_index, **columns)


class EventSubset:
    """Some events of a chunk's lepton columns, and the way to carry varied momenta over.

    Args:
        leptons: lepton columns
        events: positions (ascending) of the events to keep, into ``leptons``

    Attributes:
        leptons: the columns of the kept events
        flat: for each kept lepton, its position in the original columns
    """

    def __init__(self, leptons: LeptonColumns, events: np.ndarray) -> None:
        counts = leptons.counts[events]
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        starts = leptons.offsets[:-1][events]
        self.flat = np.arange(offsets[-1]) + np.repeat(starts - offsets[:-1], counts)
        columns = {
            name: None if values is None else values[self.flat]
            for name, values in zip(LeptonColumns._fields[2:], leptons[2:], strict=True)
        }
        self.leptons = LeptonColumns(
            offsets=offsets, event_index=leptons.event_index[events], **columns
        )

    def vary(self, varied: LeptonColumns) -> LeptonColumns:
        """The kept events with the momenta of ``varied`` (a variation of the original columns)."""
        return self.leptons._replace(pt=varied.pt[self.flat], energy=varied.energy[self.flat])


def take_events(leptons: LeptonColumns, events: np.ndarray) -> LeptonColumns:
    """The columns of the events at positions ``events`` (ascending) only."""
    return EventSubset(leptons, events).leptons


def with_directions(leptons: LeptonColumns) -> LeptonColumns:
    """The columns with ``cos_phi``, ``sin_phi`` and ``sinh_eta`` computed."""
    phi = leptons.phi.astype(np.float64)
    return leptons._replace(
        cos_phi=np.cos(phi), sin_phi=np.sin(phi), sinh_eta=np.sinh(leptons.eta.astype(np.float64))
    )


def per_event_count(offsets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Number of True entries of a flat per-lepton ``mask`` in each event."""
    cumulative = np.zeros(len(mask) + 1, dtype=np.int64)
    np.cumsum(mask, out=cumulative[1:])
    return cumulative[offsets[1:]] - cumulative[offsets[:-1]]
