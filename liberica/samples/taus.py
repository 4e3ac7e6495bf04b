"""Hadronic taus: visible decay products at generator level, and their reconstruction (GeV).

A hadronic tau decay (64.8% of taus) leaves one or three charged tracks (72% and
28% of hadronic decays) and a neutrino; the visible system carries a fraction of
the tau's momentum (1-prong Beta(2, 1.5), 3-prong Beta(3, 1.5): mean 0.57 and 0.67),
collinear with it at LHC energies.

Reconstruction (:func:`reconstruct_taus`): real taus are smeared like jets, found
with an efficiency rising with pT, and their track count migrates (a 1-prong loses
its track or gains a conversion track, a 3-prong loses one: 0, 2 and 4 tracks
appear). Quark and gluon jets become tau candidates too: a jet above 20 GeV is a
candidate with probability :data:`FAKE_CANDIDATE_PROBABILITY` (half that for b jets),
the candidate takes about 80% of the jet's pT, has a broad track count, and passes
the tight identification with a probability falling with pT
(:func:`fake_tight_probability`): about 0.8% of light jets at 25 GeV and 0.3% at
100 GeV end up as tight fake taus. A jet that became a candidate is removed from
the jets (the overlap removal). The identification is the BDT score ``BDTid``:
``isTightID`` is ``BDTid > TIGHT_BDT_CUT`` and only 1- and 3-track candidates can
pass it (tight efficiency 60% and 45% for real 1- and 3-prong taus).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from liberica.samples.detector import TruthJets, jet_energy_resolution
from liberica.samples.kinematics import p4_from_pt_eta_phi_m, pt_eta_phi_e
from liberica.samples.writer import Objects

TAU_HADRONIC_BRANCHING = 0.6479
"""BR(tau -> hadrons nu)."""
PRONG_SHARES = {1: 0.72, 3: 0.28}
"""Shares of 1- and 3-prong decays among hadronic tau decays."""
VISIBLE_MASS = {1: 0.8, 3: 1.2}
"""Visible mass (GeV) of a 1- and 3-prong decay."""

TAU_MIN_PT = 20.0
TAU_MAX_ABS_ETA = 2.5
TIGHT_BDT_CUT = 0.6
"""``BDTid`` above which a candidate is tight."""
REAL_TIGHT_EFFICIENCY = {1: 0.60, 3: 0.45}
"""Tight-identification efficiency of real taus by reconstructed track count."""
TRACK_MIGRATION = {
    1: ((1, 0, 2), (0.93, 0.02, 0.05)),
    3: ((3, 2, 4), (0.82, 0.14, 0.04)),
}
"""True prongs -> (reconstructed track counts, their probabilities)."""
FAKE_CANDIDATE_PROBABILITY = 0.12
"""Probability that a light or charm jet above 20 GeV is reconstructed as a tau candidate."""
FAKE_TRACKS = ((0, 1, 2, 3, 4, 5), (0.04, 0.30, 0.22, 0.24, 0.12, 0.08))
"""Track counts of fake candidates and their probabilities (broader than real taus)."""
TAU_SCALE_FACTOR = 0.97
"""Data/MC identification efficiency ratio per tight real tau."""


class TruthTaus(NamedTuple):
    """Generator-level hadronic taus (their visible part) as dense ``(n_events, n_slots)`` arrays.

    Attributes:
        pt, eta, phi: visible kinematics (GeV)
        prongs: 1 or 3
        charge: +1 or -1
        valid: which slots hold a hadronic tau
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    prongs: np.ndarray
    charge: np.ndarray
    valid: np.ndarray


class RecoTaus(NamedTuple):
    """Reconstructed tau candidates.

    Attributes:
        objects: the ``tau`` collection (pT-ordered per event)
        jet_consumed: which truth jet slots became tau candidates (remove them from the jets)
        scale_factor: per event, the product of the tight real taus' scale factors
    """

    objects: Objects
    jet_consumed: np.ndarray
    scale_factor: np.ndarray


def hadronic_decays(
    rng: np.random.Generator, tau_p4: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hadronic decays of taus ``(n, 4)``: the visible four-momenta, the neutrinos', the prongs."""
    n = len(tau_p4)
    prongs = np.where(rng.random(n) < PRONG_SHARES[1], 1, 3)
    fraction = np.where(prongs == 1, rng.beta(2.0, 1.5, n), rng.beta(3.0, 1.5, n))
    pt, eta, phi, _ = pt_eta_phi_e(tau_p4)
    mass = np.where(prongs == 1, VISIBLE_MASS[1], VISIBLE_MASS[3])
    visible = p4_from_pt_eta_phi_m(fraction * pt, eta, phi, mass)
    return visible, tau_p4 - visible, prongs


def real_efficiency(pt: np.ndarray) -> np.ndarray:
    """Reconstruction efficiency of a real hadronic tau (0 at 10 GeV, 0.9 plateau)."""
    return 0.9 * (1.0 - np.exp(-np.maximum(pt - 10.0, 0.0) / 15.0))


def fake_tight_probability(pt: np.ndarray, flavour: np.ndarray) -> np.ndarray:
    """Probability that a jet's tau candidate passes the tight identification, falling with
    pT (0.11 at 20 GeV, 0.02 at high pT); b-jet candidates half as often."""
    rate = 0.02 + 0.09 * np.exp(-np.maximum(pt - 20.0, 0.0) / 40.0)
    return np.where(flavour == 5, 0.5 * rate, rate)


def _choice(rng: np.random.Generator, values: tuple, probabilities: tuple, size: int) -> np.ndarray:
    edges = np.cumsum(probabilities) / np.sum(probabilities)
    return np.asarray(values)[np.searchsorted(edges, rng.random(size), side="right")]


def _even_track_charge(rng: np.random.Generator, sign: np.ndarray) -> np.ndarray:
    """Charge of an even track count: 0 (60%) or twice ``sign``."""
    return np.where(rng.random(len(sign)) < 0.6, 0, 2 * sign)


def _bdt(rng: np.random.Generator, tight: np.ndarray, real: np.ndarray) -> np.ndarray:
    size = len(tight)
    above = TIGHT_BDT_CUT + (1.0 - TIGHT_BDT_CUT) * rng.beta(2.0, 1.5, size)
    below = TIGHT_BDT_CUT * np.where(real, rng.beta(2.0, 2.0, size), rng.beta(1.2, 3.0, size))
    return np.where(tight, above, below)


def reconstruct_taus(
    rng: np.random.Generator, taus: TruthTaus, jets: TruthJets, *, is_data: bool = False
) -> RecoTaus:
    """Reconstruct real taus and jet fakes as the ``tau`` collection of the writer.

    Args:
        rng: the random generator
        taus: generator-level hadronic taus
        jets: generator-level jets (candidates for fakes)
        is_data: drop truth matching as in data

    Returns:
        RecoTaus: the candidates, the jets they consumed, the tau scale factor per event
    """
    n = taus.pt.shape[0]
    # real taus
    event_r = np.nonzero(taus.valid)[0]
    true_pt = taus.pt[taus.valid]
    eta_r = taus.eta[taus.valid]
    size = len(event_r)
    energy = true_pt * np.cosh(eta_r)
    pt_r = true_pt * np.maximum(
        1.0 + jet_energy_resolution(energy) * rng.standard_normal(size), 0.05
    )
    found = (
        (rng.random(size) < real_efficiency(true_pt))
        & (pt_r > TAU_MIN_PT)
        & (np.abs(eta_r) < TAU_MAX_ABS_ETA)
    )
    prongs = taus.prongs[taus.valid]
    tracks = np.where(
        prongs == 1,
        _choice(rng, *TRACK_MIGRATION[1], size),
        _choice(rng, *TRACK_MIGRATION[3], size),
    )
    efficiency = np.select(
        [tracks == 1, tracks == 3], [REAL_TIGHT_EFFICIENCY[1], REAL_TIGHT_EFFICIENCY[3]], 0.0
    )
    tight_r = rng.random(size) < efficiency
    true_charge = taus.charge[taus.valid]
    charge_r = np.where(tracks % 2 == 1, true_charge, _even_track_charge(rng, true_charge))
    charge_r = np.where(tracks == 0, 0, charge_r)
    keep = np.flatnonzero(found)

    # jets faking taus
    candidate_jet = (
        jets.valid & ~jets.pileup & (jets.pt > TAU_MIN_PT) & (np.abs(jets.eta) < TAU_MAX_ABS_ETA)
    )
    probability = np.where(jets.flavour == 5, 0.5, 1.0) * FAKE_CANDIDATE_PROBABILITY
    consumed = candidate_jet & (rng.random(jets.pt.shape) < probability)
    event_f = np.nonzero(consumed)[0]
    size_f = len(event_f)
    pt_f = jets.pt[consumed] * np.clip(rng.beta(8.0, 2.0, size_f), 0.3, 1.0)
    eta_f = jets.eta[consumed]
    tracks_f = _choice(rng, *FAKE_TRACKS, size_f)
    can_pass = (tracks_f == 1) | (tracks_f == 3)
    tight_f = can_pass & (rng.random(size_f) < fake_tight_probability(pt_f, jets.flavour[consumed]))
    sign_f = np.where(rng.random(size_f) < 0.5, 1, -1)
    charge_f = np.where(
        tracks_f % 2 == 1, sign_f, np.where(tracks_f == 0, 0, _even_track_charge(rng, sign_f))
    )
    above = pt_f > TAU_MIN_PT

    event = np.concatenate([event_r[keep], event_f[above]])
    pt = np.concatenate([pt_r[keep], pt_f[above]])
    eta = np.concatenate([eta_r[keep], eta_f[above]])
    phi = np.concatenate([taus.phi[taus.valid][keep], jets.phi[consumed][above]])
    tight = np.concatenate([tight_r[keep], tight_f[above]])
    real = np.concatenate([np.ones(len(keep), bool), np.zeros(int(above.sum()), bool)])
    mass = np.concatenate(
        [
            np.where(prongs[keep] == 1, VISIBLE_MASS[1], VISIBLE_MASS[3]),
            np.full(int(above.sum()), 1.5),
        ]
    )
    fields = {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "E": np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2),
        "isTightID": tight,
        "truthMatched": real & (not is_data),
        "trigMatched": np.zeros(len(pt), bool),
        "nTracks": np.concatenate([tracks[keep], tracks_f[above]]).astype(np.int32),
        "BDTid": _bdt(rng, tight, real),
        "pt_syst": 0.03 * pt,
        "charge": np.concatenate([charge_r[keep], charge_f[above]]).astype(np.int32),
    }
    order = np.argsort(event * 1.0e6 - np.minimum(pt, 9.9e5), kind="stable")
    objects = Objects(
        np.bincount(event, minlength=n).astype(np.int64), {k: v[order] for k, v in fields.items()}
    )
    tight_real = tight & real
    scale_factor = np.exp(
        np.bincount(event, weights=np.where(tight_real, np.log(TAU_SCALE_FACTOR), 0.0), minlength=n)
    )
    return RecoTaus(objects, consumed, scale_factor)
