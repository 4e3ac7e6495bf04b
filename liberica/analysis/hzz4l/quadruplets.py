"""Four-lepton candidates: pairing into Z1/Z2 and the 4l observables.

Works on events with exactly four leptons, as dense ``(n, 4)`` numpy arrays in
float64: no padding. The candidates are gathered, ordered and paired by
compiled loops (numba, cached on disk), one pass over the leptons each, in the
same floating-point operations and order as the numpy expressions their
comments give.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from liberica.analysis.hzz4l import CHANNEL_CODES
from liberica.processors import compiled
from liberica.processors.leptons import LeptonColumns, with_directions
from liberica.processors.schema import ELECTRON_TYPE, MUON_TYPE

# the three ways to split four leptons into two pairs, as indices into _PAIRS
_PAIRS = ((0, 1), (2, 3), (0, 2), (1, 3), (0, 3), (1, 2))
_PARTNER = np.array([1, 0, 3, 2, 5, 4])


class FourLeptons(NamedTuple):
    """Dense arrays for events with exactly four leptons, leptons ordered by pT.

    Attributes:
        event_index: index of each event in the chunk, ascending
        pt, eta, phi, energy, charge, abs_pdg_id: ``(n, 4)`` per-lepton arrays (GeV)
        px, py, pz: ``(n, 4)`` Cartesian momenta (GeV), computed once here and
            shared by the pairing, the 4l observables and the features
    """

    event_index: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray
    charge: np.ndarray
    abs_pdg_id: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray


class ZPairing(NamedTuple):
    """The Z1/Z2 assignment of four-lepton events.

    Attributes:
        has_two_sfos_pairs: a split into two same-flavour opposite-charge pairs exists
        z1_mass: mass of the SFOS pair closest to the Z mass (GeV), NaN without pairing
        z2_mass: mass of the other pair of that split (GeV), NaN without pairing
        channel: 0 for 4e, 1 for 4mu, 2 for 2e2mu, -1 without pairing
        z1_leptons: ``(n, 2)`` indices (into the pT-ordered four) of the Z1 leptons
        z2_leptons: ``(n, 2)`` indices of the Z2 leptons
    """

    has_two_sfos_pairs: np.ndarray
    z1_mass: np.ndarray
    z2_mass: np.ndarray
    channel: np.ndarray
    z1_leptons: np.ndarray
    z2_leptons: np.ndarray


_4E, _4MU, _2E2MU = CHANNEL_CODES["4e"], CHANNEL_CODES["4mu"], CHANNEL_CODES["2e2mu"]


def four_leptons(leptons: LeptonColumns, mask: np.ndarray | None = None) -> FourLeptons:
    """Dense four-lepton arrays for the events with exactly four (masked) leptons.

    Args:
        leptons: the chunk's flat lepton columns (GeV)
        mask: optional flat lepton mask applied first

    Returns:
        FourLeptons: leptons sorted by decreasing pT within each event (stable on ties)
    """
    if leptons.cos_phi is None:
        leptons = with_directions(leptons)
    if mask is None:
        mask = np.ones(len(leptons.pt), dtype=bool)
    event_rows, *columns = _four_leptons_kernel(
        leptons.offsets,
        mask,
        leptons.pt,
        leptons.eta,
        leptons.phi,
        leptons.energy,
        leptons.charge,
        leptons.abs_pdg_id,
        leptons.cos_phi,
        leptons.sin_phi,
        leptons.sinh_eta,
    )
    return FourLeptons(leptons.event_index[event_rows], *columns)


@compiled.loop
def _four_leptons_kernel(
    offsets, mask, pt, eta, phi, energy, charge, abs_pdg_id, cos_phi, sin_phi, sinh_eta
):  # pragma: no cover - compiled
    """The events with exactly four masked leptons, and those leptons' columns by decreasing pT."""
    n_events = len(offsets) - 1
    has_four = np.zeros(n_events, dtype=np.bool_)
    for event in range(n_events):
        has_four[event] = mask[offsets[event] : offsets[event + 1]].sum() == 4
    rows = np.flatnonzero(has_four)
    n = len(rows)
    shape = (n, 4)
    out_pt, out_eta, out_phi = np.empty(shape), np.empty(shape), np.empty(shape)
    out_energy = np.empty(shape)
    out_charge, out_pdg_id = np.empty(shape, np.int32), np.empty(shape, np.int32)
    out_px, out_py, out_pz = np.empty(shape), np.empty(shape), np.empty(shape)
    index = np.empty(4, np.int64)
    for row in range(n):
        event = rows[row]
        k = 0
        for lepton in range(offsets[event], offsets[event + 1]):
            if mask[lepton]:
                # insertion by decreasing pT: a later lepton moves ahead of an earlier one
                # only with a strictly larger pT, so ties keep the file order, as
                # np.argsort(-pt, kind="stable") does
                position = k
                while position > 0 and pt[index[position - 1]] < pt[lepton]:
                    index[position] = index[position - 1]
                    position -= 1
                index[position] = lepton
                k += 1
        for j in range(4):
            lepton = index[j]
            lepton_pt = np.float64(pt[lepton])
            out_pt[row, j] = lepton_pt
            out_eta[row, j] = eta[lepton]
            out_phi[row, j] = phi[lepton]
            out_energy[row, j] = energy[lepton]
            out_charge[row, j] = charge[lepton]
            out_pdg_id[row, j] = abs_pdg_id[lepton]
            out_px[row, j] = lepton_pt * cos_phi[lepton]
            out_py[row, j] = lepton_pt * sin_phi[lepton]
            out_pz[row, j] = lepton_pt * sinh_eta[lepton]
    return (
        rows,
        out_pt,
        out_eta,
        out_phi,
        out_energy,
        out_charge,
        out_pdg_id,
        out_px,
        out_py,
        out_pz,
    )


def _cartesian(quad: FourLeptons) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return quad.px, quad.py, quad.pz, quad.energy


def sum_over_leptons(values: np.ndarray) -> np.ndarray:
    """``values.sum(axis=1)`` of an ``(n, 4)`` array, bit for bit, as three column additions.

    numpy reduces a short last axis row by row; adding the columns instead is
    several times faster and keeps the same left-to-right order.
    """
    return ((values[:, 0] + values[:, 1]) + values[:, 2]) + values[:, 3]


@numba.njit(inline="always")
def _mass(px: float, py: float, pz: float, energy: float) -> float:  # pragma: no cover - compiled
    return np.sqrt(compiled.at_least(energy * energy - px * px - py * py - pz * pz, 0.0))


@compiled.loop
def _four_lepton_mass_kernel(px, py, pz, energy):  # pragma: no cover - compiled
    out = np.empty(len(px))
    for row in range(len(px)):
        out[row] = _mass(
            compiled.sum_of_four(px, row),
            compiled.sum_of_four(py, row),
            compiled.sum_of_four(pz, row),
            compiled.sum_of_four(energy, row),
        )
    return out


def four_lepton_mass(quad: FourLeptons) -> np.ndarray:
    """Invariant mass of the four leptons (GeV)."""
    return _four_lepton_mass_kernel(*_cartesian(quad))


def four_lepton_pt(quad: FourLeptons) -> np.ndarray:
    """Transverse momentum of the four-lepton system (GeV)."""
    return _four_lepton_pt_kernel(quad.px, quad.py)


@compiled.loop
def _four_lepton_pt_kernel(px, py):  # pragma: no cover - compiled
    out = np.empty(len(px))
    for row in range(len(px)):
        out[row] = np.hypot(compiled.sum_of_four(px, row), compiled.sum_of_four(py, row))
    return out


def pair_into_z_bosons(quad: FourLeptons, z_mass: float) -> ZPairing:
    """Pair four leptons into Z1 (SFOS pair closest to ``z_mass``) and Z2.

    Only splits where both pairs are same-flavour opposite-charge qualify;
    Z2 is the partner of Z1 in its split (the first such pair on a tie).
    """
    return ZPairing(
        *_pairing_kernel(*_cartesian(quad), quad.abs_pdg_id, quad.charge, float(z_mass))
    )


@numba.njit(inline="always")
def _pair_mass(px, py, pz, energy, row, i, j):  # pragma: no cover - compiled
    return _mass(
        px[row, i] + px[row, j],
        py[row, i] + py[row, j],
        pz[row, i] + pz[row, j],
        energy[row, i] + energy[row, j],
    )


@compiled.loop
def _pairing_kernel(px, py, pz, energy, flavour, charge, z_mass):  # pragma: no cover - compiled
    n = len(px)
    has_pairs = np.zeros(n, dtype=np.bool_)
    z1, z2 = np.empty(n), np.empty(n)
    channel = np.full(n, -1, dtype=np.int64)
    z1_leptons, z2_leptons = np.empty((n, 2), np.intp), np.empty((n, 2), np.intp)
    masses = np.empty(len(_PAIRS))
    sfos = np.empty(len(_PAIRS), dtype=np.bool_)
    for row in range(n):
        for k in range(len(_PAIRS)):
            i, j = _PAIRS[k]
            sfos[k] = flavour[row, i] == flavour[row, j] and charge[row, i] + charge[row, j] == 0
        closest = np.inf
        chosen = 0
        for k in range(len(_PAIRS)):
            if sfos[k] and sfos[_PARTNER[k]]:  # only pairs of a valid split need their mass
                has_pairs[row] = True
                i, j = _PAIRS[k]
                masses[k] = _pair_mass(px, py, pz, energy, row, i, j)
                distance = abs(masses[k] - z_mass)
                if distance < closest:  # strictly: the first pair wins a tie
                    closest, chosen = distance, k
        z1_leptons[row, 0], z1_leptons[row, 1] = _PAIRS[chosen]
        z2_leptons[row, 0], z2_leptons[row, 1] = _PAIRS[_PARTNER[chosen]]
        if not has_pairs[row]:
            z1[row], z2[row] = np.nan, np.nan
            continue
        if closest == np.inf:  # every distance NaN: the first split, as numpy's initial value
            masses[0] = _pair_mass(px, py, pz, energy, row, 0, 1)
            masses[1] = _pair_mass(px, py, pz, energy, row, 2, 3)
        z1[row], z2[row] = masses[chosen], masses[_PARTNER[chosen]]
        electrons, muons = 0, 0
        for j in range(4):
            electrons += flavour[row, j] == ELECTRON_TYPE
            muons += flavour[row, j] == MUON_TYPE
        if electrons == 4:
            channel[row] = _4E
        elif muons == 4:
            channel[row] = _4MU
        elif electrons == 2 and muons == 2:
            channel[row] = _2E2MU
    return has_pairs, z1, z2, channel, z1_leptons, z2_leptons
