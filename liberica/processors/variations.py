"""Object systematic variations of the lepton collection.

Each function returns the chunk's lepton columns with ``pt`` and ``energy``
replaced; everything downstream (selection, pairing, observables) is then
recomputed by the processor. Random smearing draws from a counter-based
generator keyed on (channelNumber, eventNumber, lepton index), never from
global state, so a chunk gives the same answer on any worker and any chunking.
"""

from __future__ import annotations

import numpy as np

from liberica.processors.leptons import LeptonColumns
from liberica.processors.schema import ELECTRON_TYPE, MUON_TYPE

_FLAVOUR_TYPES = {"electron": ELECTRON_TYPE, "muon": MUON_TYPE}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a bijective, well-mixed hash of uint64 keys."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniform(keys: np.ndarray, stream: int) -> np.ndarray:
    """Uniforms in (0, 1) from 53 bits of the hash of ``keys`` in a stream."""
    with np.errstate(over="ignore"):
        hashed = _splitmix64(keys ^ (np.uint64(stream) * _GOLDEN))
    return ((hashed >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def event_seeded_normal(
    channel_number: np.ndarray, event_number: np.ndarray, index: np.ndarray, salt: int
) -> np.ndarray:
    """Standard normal numbers keyed on (channel, event, object index, salt).

    Args:
        channel_number: per object, the sample's DSID (or run number for data)
        event_number: per object, the event number
        index: per object, its index within the event
        salt: distinguishes independent draws (one per systematic)

    Returns:
        np.ndarray: one N(0, 1) number per object, reproducible on any worker
    """
    keys = (
        (np.asarray(channel_number, dtype=np.int64).astype(np.uint64) << np.uint64(40))
        ^ (np.asarray(event_number, dtype=np.int64).astype(np.uint64) << np.uint64(8))
        ^ np.asarray(index, dtype=np.int64).astype(np.uint64)
    )
    keys = _splitmix64(keys ^ np.uint64(salt))
    u1 = _uniform(keys, 1)
    u2 = _uniform(keys, 2)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _with_momentum_factor(leptons: LeptonColumns, factor: np.ndarray) -> LeptonColumns:
    return leptons._replace(pt=leptons.pt * factor, energy=leptons.energy * factor)


def scale_momentum(leptons: LeptonColumns, flavour: str, relative_shift: float) -> LeptonColumns:
    """Scale the momentum and energy of one lepton flavour by ``1 + relative_shift``."""
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
        LeptonColumns: leptons with smeared ``pt`` and ``energy``
    """
    counts = leptons.counts
    flat_channel = np.repeat(np.asarray(channel_number), counts)
    flat_event = np.repeat(np.asarray(event_number), counts)
    flat_index = np.arange(len(leptons.pt)) - np.repeat(leptons.offsets[:-1], counts)
    normal = event_seeded_normal(flat_channel, flat_event, flat_index, salt)
    width = np.where(
        leptons.abs_pdg_id == ELECTRON_TYPE, electron_relative_smear, muon_relative_smear
    )
    return _with_momentum_factor(leptons, np.maximum(1.0 + width * normal, 0.0))
