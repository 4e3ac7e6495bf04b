"""Hadronic taus and electron charge flips: the generic building blocks of samples/."""

from __future__ import annotations

import numpy as np

from liberica.samples.charge_flip import charge_flip_probability, flip_charges
from liberica.samples.detector import TruthJets
from liberica.samples.kinematics import p4_from_pt_eta_phi_m
from liberica.samples.taus import TruthTaus, hadronic_decays, reconstruct_taus
from liberica.samples.writer import Objects

N = 40_000


def _truth(rng: np.random.Generator, pt: np.ndarray):
    eta = rng.uniform(-2.3, 2.3, N)
    phi = rng.uniform(-np.pi, np.pi, N)
    visible, _, prongs = hadronic_decays(rng, p4_from_pt_eta_phi_m(pt, eta, phi, 1.777))
    vpt = np.hypot(visible[:, 1], visible[:, 2])
    col = lambda a: a[:, None]  # noqa: E731
    taus = TruthTaus(col(vpt), col(eta), col(phi), col(prongs), col(np.ones(N, int)),
                     col(np.ones(N, bool)))  # fmt: skip
    jets = TruthJets(col(pt), col(-eta), col(phi + 1.0), col(0.1 * pt), col(np.zeros(N, int)),
                     col(np.zeros(N, bool)), col(np.ones(N, bool)))  # fmt: skip
    return taus, jets


def test_real_taus_are_mostly_one_and_three_prong_and_fakes_are_softer():
    rng = np.random.default_rng(3)
    pt = 30.0 + rng.exponential(60.0, N)
    taus, jets = _truth(rng, pt)
    reco = reconstruct_taus(rng, taus, jets)
    fields = reco.objects.fields
    real = fields["truthMatched"]
    tracks = np.bincount(fields["nTracks"][real], minlength=6) / real.sum()
    assert 0.60 < tracks[1] < 0.75 and 0.18 < tracks[3] < 0.30
    assert 0.02 < tracks[0] + tracks[2] + tracks[4] < 0.12
    fake_tracks = np.bincount(fields["nTracks"][~real], minlength=6) / (~real).sum()
    assert fake_tracks[2] + fake_tracks[4] + fake_tracks[5] > 0.3  # broader
    # tight <=> BDT above the cut, and only 1 or 3 tracks
    assert not np.any(fields["isTightID"] & ~np.isin(fields["nTracks"], (1, 3)))
    # tight fakes: a rate of O(1%) per jet, falling with pT; softer than the real taus
    tight_fake = ~real & fields["isTightID"]
    rate = tight_fake.sum() / N
    assert 0.002 < rate < 0.02
    assert np.median(fields["pt"][tight_fake]) < np.median(fields["pt"][real & fields["isTightID"]])
    consumed = reco.jet_consumed[:, 0]
    soft = consumed & (jets.pt[:, 0] < 50)
    hard = consumed & (jets.pt[:, 0] > 100)
    fake_pt = jets.pt[:, 0]
    assert soft.sum() > 0 and hard.sum() > 0
    del fake_pt
    eff_real = (real & fields["isTightID"]).sum() / N
    assert 0.3 < eff_real < 0.6


def test_charge_flips_rise_with_eta_and_spare_muons():
    rng = np.random.default_rng(5)
    n = 400_000
    eta = rng.uniform(-2.47, 2.47, n)
    pt = 20.0 + rng.exponential(40.0, n)
    flavour = np.where(np.arange(n) % 2 == 0, 11, 13)
    charge = np.where(np.arange(n) % 4 < 2, 1, -1).astype(np.int32)
    leptons = Objects(
        np.full(n // 2, 2),
        {"pt": pt, "eta": eta, "type": flavour.astype(np.uint32), "charge": charge},
    )
    flipped = flip_charges(rng, leptons).fields["charge"] != charge
    assert not np.any(flipped & (flavour == 13))
    electrons = flavour == 11
    central = electrons & (np.abs(eta) < 0.8)
    forward = electrons & (np.abs(eta) > 1.8)
    assert flipped[forward].mean() > 3.0 * flipped[central].mean()
    # opposite-sign ee pairs: the same-sign fraction is O(0.1-1%)
    pair_flip = 2 * flipped[electrons].mean()
    assert 0.001 < pair_flip < 0.02
    assert (
        charge_flip_probability(np.array([30.0]), np.array([2.0]))[0]
        > charge_flip_probability(np.array([30.0]), np.array([0.0]))[0]
    )
