import awkward as ak
import numpy as np
import pytest
from conftest import random_leptons

from liberica.analysis.hzz4l.quadruplets import (
    CHANNEL_CODES,
    four_lepton_mass,
    four_leptons,
    pair_into_z_bosons,
)
from liberica.processors.leptons import lepton_columns

Z_MASS = 91.1876


def _z_decay(mass, pz, flavour):
    """Two massless leptons from a Z of ``mass`` at rest in x-y, boosted along z by pz."""
    energy = np.hypot(mass, pz)
    half = mass / 2
    # back to back along x in the rest frame, then boost along z
    beta, gamma = pz / energy, energy / mass
    leptons = []
    for sign, charge in ((1, -1), (-1, 1)):
        px, e_rest = sign * half, half
        pz_lab = gamma * beta * e_rest
        e_lab = gamma * e_rest
        pt = abs(px)
        eta = np.arcsinh(pz_lab / pt)
        phi = 0.0 if px > 0 else np.pi
        leptons.append(
            {
                "pt": pt,
                "eta": eta,
                "phi": phi,
                "energy": e_lab,
                "charge": charge,
                "abs_pdg_id": flavour,
            }
        )
    return leptons


def _events(per_event):
    return lepton_columns(ak.Array([sorted(ev, key=lambda lep: -lep["pt"]) for ev in per_event]))


def test_pairs_closest_to_z_and_recovers_masses():
    # 2e2mu: Z1 -> mumu at 91, Z2 -> ee at 30; and a 4mu event with 89 and 25
    events = _events(
        [
            _z_decay(91.0, 20.0, 13) + _z_decay(30.0, -10.0, 11),
            _z_decay(89.0, 0.0, 13) + _z_decay(25.0, 5.0, 13),
        ]
    )
    quad = four_leptons(events)
    pairing = pair_into_z_bosons(quad, Z_MASS)
    assert pairing.has_two_sfos_pairs.all()
    np.testing.assert_allclose(pairing.z1_mass, [91.0, 89.0], rtol=1e-9)
    np.testing.assert_allclose(pairing.z2_mass, [30.0, 25.0], rtol=1e-9)
    assert list(pairing.channel) == [CHANNEL_CODES["2e2mu"], CHANNEL_CODES["4mu"]]
    assert (np.diff(quad.pt, axis=1) <= 0).all()


def test_four_lepton_mass_of_two_back_to_back_zs():
    leptons = _z_decay(91.0, 0.0, 11) + _z_decay(91.0, 0.0, 11)
    # rotate the second Z's leptons to phi = +-pi/2 so the two Z are at rest: m4l = 182
    for lep in leptons[2:]:
        lep["phi"] = lep["phi"] + np.pi / 2
    quad = four_leptons(_events([leptons]))
    assert four_lepton_mass(quad)[0] == pytest.approx(182.0, rel=1e-9)


def test_same_sign_or_odd_flavour_events_have_no_pairing():
    good = _z_decay(91.0, 0.0, 11) + _z_decay(40.0, 0.0, 13)
    same_sign = [dict(lep, charge=1) for lep in good]
    three_e = [dict(lep, abs_pdg_id=11) for lep in good[:3]] + [dict(good[3], abs_pdg_id=13)]
    pairing = pair_into_z_bosons(four_leptons(_events([good, same_sign, three_e])), Z_MASS)
    assert list(pairing.has_two_sfos_pairs) == [True, False, False]
    assert np.isnan(pairing.z1_mass[1:]).all()
    assert list(pairing.channel[1:]) == [-1, -1]


def test_only_events_with_exactly_four_leptons():
    lep = _z_decay(91.0, 0.0, 11)
    events = _events([lep + lep, lep, lep + lep + lep[:1], lep + lep])
    quad = four_leptons(events)
    assert list(quad.event_index) == [0, 3]
    mask = np.array([True] * 4 + [True] * 2 + [True, True, True, False, True] + [False] * 4)
    assert list(four_leptons(events, mask).event_index) == [0, 2]


def _brute_force_pairing(p4, flavour, charge):
    """Z1/Z2 masses and channel of one event, by trying each pair in turn."""
    pairs = ((0, 1), (2, 3), (0, 2), (1, 3), (0, 3), (1, 2))

    def mass(i, j):
        e, x, y, z = p4[i] + p4[j]
        return np.sqrt(max(e * e - x * x - y * y - z * z, 0.0))

    def sfos(i, j):
        return flavour[i] == flavour[j] and charge[i] + charge[j] == 0

    best = None
    for k, (i, j) in enumerate(pairs):
        partner = pairs[k ^ 1]
        if sfos(i, j) and sfos(*partner):
            if best is None or abs(mass(i, j) - Z_MASS) < abs(mass(*best[0]) - Z_MASS):
                best = ((i, j), partner)
    if best is None:
        return None
    electrons = int(np.sum(flavour == 11))
    channel = {4: "4e", 0: "4mu", 2: "2e2mu"}[electrons]
    return mass(*best[0]), mass(*best[1]), CHANNEL_CODES[channel], best


def test_pairing_of_random_events_matches_a_brute_force_search():
    rng = np.random.default_rng(7)
    quad = four_leptons(random_leptons(rng, np.full(3000, 4)))
    pairing = pair_into_z_bosons(quad, Z_MASS)
    n_paired = 0
    for row in range(len(quad.event_index)):
        p4 = np.stack([quad.energy[row], quad.px[row], quad.py[row], quad.pz[row]], axis=1)
        expected = _brute_force_pairing(p4, quad.abs_pdg_id[row], quad.charge[row])
        if expected is None:
            assert not pairing.has_two_sfos_pairs[row]
            assert np.isnan(pairing.z1_mass[row]) and pairing.channel[row] == -1
            continue
        n_paired += 1
        z1_mass, z2_mass, channel, (z1, z2) = expected
        assert pairing.has_two_sfos_pairs[row]
        assert pairing.z1_mass[row] == pytest.approx(z1_mass, rel=1e-12)
        assert pairing.z2_mass[row] == pytest.approx(z2_mass, rel=1e-12)
        assert pairing.channel[row] == channel
        assert tuple(pairing.z1_leptons[row]) == z1 and tuple(pairing.z2_leptons[row]) == z2
    assert 300 < n_paired < 2700  # both outcomes exercised


def test_leptons_ordered_by_decreasing_pt_keeping_file_order_on_ties():
    rng = np.random.default_rng(3)
    leptons = random_leptons(rng, np.full(500, 5))
    # ties: the same pT twice in every event
    pt = leptons.pt.copy()
    pt[1::5] = pt[3::5]
    leptons = leptons._replace(pt=pt)
    mask = rng.uniform(size=len(pt)) < 0.85
    quad = four_leptons(leptons, mask)
    for row, event in enumerate(quad.event_index):
        first = leptons.offsets[event]
        kept = np.flatnonzero(mask[first : first + 5])
        assert len(kept) == 4
        order = kept[np.argsort(-pt[first + kept], kind="stable")]
        np.testing.assert_array_equal(quad.pt[row], pt[first + order])
        np.testing.assert_array_equal(quad.phi[row], leptons.phi[first + order])
        np.testing.assert_array_equal(
            quad.px[row], pt[first + order] * np.cos(leptons.phi[first + order])
        )
    assert len(quad.event_index) == np.sum(np.add.reduceat(mask, leptons.offsets[:-1]) == 4)
