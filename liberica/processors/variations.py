"""Object systematic variations of the lepton collection, and their kinds.

Each function returns the chunk's lepton columns with ``pt`` and ``energy``
replaced; everything downstream (selection, pairing, observables) is then
recomputed by the processor. Random smearing draws from a counter-based
generator keyed on (channelNumber, eventNumber, lepton index), never from
global state, so a chunk gives the same answer on any worker and any chunking.

The kinds ``lepton_momentum_scale`` and ``lepton_resolution`` register here
(``processors/systematics.py``); they replace an analysis's ``leptons``.
``large_r_jet_energy_scale`` and ``large_r_jet_mass_scale`` replace its
``large_r_jets`` (an awkward collection such as the schema's), and
``jet_energy_scale`` its small-R ``jets``.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numba
import numpy as np

from liberica.processors import compiled
from liberica.processors.leptons import LeptonColumns
from liberica.processors.schema import ELECTRON_TYPE, MUON_TYPE
from liberica.processors.systematics import ChunkInputs, SystematicKind, register

SMEARING_SALT = 0x5EED_0001
"""Seed offset of the lepton resolution smearing."""

_FLAVOUR_TYPES = {"electron": ELECTRON_TYPE, "muon": MUON_TYPE}
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
# the two uniform streams' offsets, stream * golden ratio mod 2**64
_STREAM_1 = np.uint64(_GOLDEN)
_STREAM_2 = np.uint64((2 * _GOLDEN) & _MASK64)


@numba.njit(inline="always")
def _splitmix64(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The splitmix64 finalizer of ``z + golden``: a bijective, well-mixed hash of uint64 keys."""
    z = z + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def _uniform(key: np.uint64, stream: np.uint64) -> float:  # pragma: no cover - compiled
    """A uniform in (0, 1) from the top 53 bits of the hash of ``key`` in a stream."""
    return (np.float64(_splitmix64(key ^ stream) >> np.uint64(11)) + 0.5) / 9007199254740992.0


@numba.njit(inline="always")
def _draw(
    channel: np.int64, event: np.int64, index: np.int64, salt: np.uint64, u1, u2, at: int
) -> None:  # pragma: no cover - compiled
    """The two uniforms of one object, keyed on (channel, event, index, salt), into ``at``."""
    key = (
        (np.uint64(channel) << np.uint64(40))
        ^ (np.uint64(event) << np.uint64(8))
        ^ np.uint64(index)
    )
    key = _splitmix64(key ^ salt)
    u1[at] = _uniform(key, _STREAM_1)
    u2[at] = _uniform(key, _STREAM_2)


@compiled.loop
def _object_uniforms(channel_number, event_number, index, salt):  # pragma: no cover - compiled
    u1 = np.empty(len(index))
    u2 = np.empty(len(index))
    for at in range(len(index)):
        _draw(channel_number[at], event_number[at], index[at], salt, u1, u2, at)
    return u1, u2


@compiled.loop
def _lepton_uniforms(offsets, channel_number, event_number, salt):  # pragma: no cover - compiled
    """``_object_uniforms`` of every lepton, from per-event numbers and the leptons' offsets."""
    u1 = np.empty(offsets[-1])
    u2 = np.empty(offsets[-1])
    for event in range(len(offsets) - 1):
        for at in range(offsets[event], offsets[event + 1]):
            index = at - offsets[event]
            _draw(channel_number[event], event_number[event], index, salt, u1, u2, at)
    return u1, u2


def _box_muller(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    # numpy's log, not the C library's that numba calls: they differ in the last bit
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _as_int64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


def event_seeded_normal(
    channel_number: np.ndarray, event_number: np.ndarray, index: np.ndarray, salt: int
) -> np.ndarray:
    """Standard normal numbers keyed on (channel, event, object index, salt).

    Two uniforms per object from the splitmix64 hash of the key, then the
    Box-Muller transform.

    Args:
        channel_number: per object, the sample's DSID (or run number for data)
        event_number: per object, the event number
        index: per object, its index within the event
        salt: distinguishes independent draws (one per systematic)

    Returns:
        np.ndarray: one N(0, 1) number per object, reproducible on any worker
    """
    return _box_muller(
        *_object_uniforms(
            _as_int64(channel_number), _as_int64(event_number), _as_int64(index), np.uint64(salt)
        )
    )


def _with_momentum_factor(leptons: LeptonColumns, factor: np.ndarray) -> LeptonColumns:
    return leptons._replace(pt=leptons.pt * factor, energy=leptons.energy * factor)


def _scaled_records(leptons: ak.Array, factor: ak.Array) -> ak.Array:
    """An awkward lepton collection with ``pt`` and ``energy`` times ``factor`` (behaviour kept)."""
    scaled = ak.with_field(leptons, leptons.pt * factor, "pt")
    return ak.with_field(scaled, leptons.energy * factor, "energy")


def scale_momentum(leptons, flavour: str, relative_shift: float):
    """Scale the momentum and energy of one lepton flavour by ``1 + relative_shift``.

    ``leptons`` are flat columns (``LeptonColumns``) or an awkward collection
    with ``pt``, ``energy`` and ``abs_pdg_id`` fields (the schema's ``events.leptons``).
    """
    if isinstance(leptons, ak.Array):
        selected = leptons.abs_pdg_id == _FLAVOUR_TYPES[flavour]
        return _scaled_records(leptons, ak.where(selected, 1.0 + relative_shift, 1.0))
    selected = leptons.abs_pdg_id == _FLAVOUR_TYPES[flavour]
    return _with_momentum_factor(leptons, np.where(selected, 1.0 + relative_shift, 1.0))


def smear_resolution(
    leptons: LeptonColumns,
    channel_number: np.ndarray,
    event_number: np.ndarray,
    electron_relative_smear: float,
    muon_relative_smear: float,
    salt: int,
) -> LeptonColumns:
    """Degrade the lepton momentum resolution by extra Gaussian smearing.

    Args:
        leptons: the chunk's GeV lepton columns
        channel_number: per event
        event_number: per event
        electron_relative_smear: relative width added to electrons
        muon_relative_smear: relative width added to muons
        salt: the systematic's seed offset

    Returns:
        leptons with smeared ``pt`` and ``energy``, of the type given (flat columns,
        or an awkward collection of every event of the chunk)
    """
    if isinstance(leptons, ak.Array):
        counts = np.asarray(ak.num(leptons, axis=1), dtype=np.int64)
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        normal = _box_muller(
            *_lepton_uniforms(
                offsets, _as_int64(channel_number), _as_int64(event_number), np.uint64(salt)
            )
        )
        flat_type = np.asarray(ak.flatten(leptons.abs_pdg_id, axis=1))
        width = np.where(flat_type == ELECTRON_TYPE, electron_relative_smear, muon_relative_smear)
        factor = ak.unflatten(np.maximum(1.0 + width * normal, 0.0), counts)
        return _scaled_records(leptons, factor)
    normal = _box_muller(
        *_lepton_uniforms(
            _as_int64(leptons.offsets),
            _as_int64(channel_number),
            _as_int64(event_number),
            np.uint64(salt),
        )
    )
    width = np.where(
        leptons.abs_pdg_id == ELECTRON_TYPE, electron_relative_smear, muon_relative_smear
    )
    return _with_momentum_factor(leptons, np.maximum(1.0 + width * normal, 0.0))


_FLAVOUR = {"enum": ["electron", "muon"]}


@register
class LeptonMomentumScale(SystematicKind):
    """One lepton flavour's momentum and energy scaled by 1 +- ``relative_shift``."""

    name = "lepton_momentum_scale"
    category = "object"
    collection = "leptons"
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["flavour", "relative_shift"],
        "properties": {
            "flavour": _FLAVOUR,
            "relative_shift": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
        },
    }

    def vary(self, systematic: Any, columns: LeptonColumns, chunk: ChunkInputs):
        shift = systematic.options["relative_shift"]
        flavour = systematic.options["flavour"]
        for direction, sign in (("Up", 1), ("Down", -1)):  # one variation in memory at a time
            yield direction, scale_momentum(columns, flavour, sign * shift)


@register
class LeptonResolution(SystematicKind):
    """Extra Gaussian momentum smearing, seeded from the event (one-sided)."""

    name = "lepton_resolution"
    category = "object"
    collection = "leptons"
    one_sided = True
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["electron_relative_smear", "muon_relative_smear"],
        "properties": {
            "electron_relative_smear": {"type": "number", "minimum": 0, "maximum": 0.5},
            "muon_relative_smear": {"type": "number", "minimum": 0, "maximum": 0.5},
        },
    }

    def vary(self, systematic: Any, columns: LeptonColumns, chunk: ChunkInputs):
        options = systematic.options
        # flat columns may hold a subset of the chunk's events; a collection holds them all
        index = slice(None) if isinstance(columns, ak.Array) else columns.event_index
        yield (
            "Up",
            smear_resolution(
                columns,
                chunk.channel_number[index],
                chunk.event_number[index],
                options["electron_relative_smear"],
                options["muon_relative_smear"],
                salt=SMEARING_SALT,
            ),
        )


def _scaled_large_r_jets(jets: ak.Array, pt_factor: float, mass_factor: float) -> ak.Array:
    """Large-R jets with pT scaled by ``pt_factor`` and mass by ``mass_factor``.

    Direction is kept; the energy follows from the scaled momentum and mass,
    and the stored ``combined_mass`` scales with the mass.
    """
    pt = jets.pt * pt_factor
    mass = jets.mass * mass_factor
    energy = np.sqrt((pt * np.cosh(jets.eta)) ** 2 + mass**2)
    varied = ak.with_field(jets, pt, "pt")
    varied = ak.with_field(varied, energy, "energy")
    if "combined_mass" in ak.fields(jets):
        varied = ak.with_field(varied, jets.combined_mass * mass_factor, "combined_mass")
    return varied


_SHIFT = {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5}


@register
class LargeRJetEnergyScale(SystematicKind):
    """The large-R jets' momentum scaled by 1 +- ``relative_shift`` (mass kept)."""

    name = "large_r_jet_energy_scale"
    category = "object"
    collection = "large_r_jets"
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["relative_shift"],
        "properties": {"relative_shift": _SHIFT},
    }

    def vary(self, systematic: Any, columns: ak.Array, chunk: ChunkInputs):
        shift = systematic.options["relative_shift"]
        for direction, sign in (("Up", 1), ("Down", -1)):
            yield direction, _scaled_large_r_jets(columns, 1.0 + sign * shift, 1.0)


@register
class LargeRJetMassScale(SystematicKind):
    """The large-R jets' mass scaled by 1 +- ``relative_shift`` (momentum kept)."""

    name = "large_r_jet_mass_scale"
    category = "object"
    collection = "large_r_jets"
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["relative_shift"],
        "properties": {"relative_shift": _SHIFT},
    }

    def vary(self, systematic: Any, columns: ak.Array, chunk: ChunkInputs):
        shift = systematic.options["relative_shift"]
        for direction, sign in (("Up", 1), ("Down", -1)):
            yield direction, _scaled_large_r_jets(columns, 1.0, 1.0 + sign * shift)


def scaled_jets(jets: ak.Array, factor: float) -> ak.Array:
    """Small-R jets with their four-momentum scaled by ``factor`` (direction kept)."""
    varied = ak.with_field(jets, jets.pt * factor, "pt")
    return ak.with_field(varied, jets.energy * factor, "energy")


@register
class JetEnergyScale(SystematicKind):
    """The small-R jets' four-momentum scaled by 1 +- ``relative_shift``."""

    name = "jet_energy_scale"
    category = "object"
    collection = "jets"
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["relative_shift"],
        "properties": {"relative_shift": _SHIFT},
    }

    def vary(self, systematic: Any, columns: ak.Array, chunk: ChunkInputs):
        shift = systematic.options["relative_shift"]
        for direction, sign in (("Up", 1), ("Down", -1)):
            yield direction, scaled_jets(columns, 1.0 + sign * shift)
