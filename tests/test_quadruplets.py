import awkward as ak
import numpy as np
import pytest

from liberica.processors.leptons import lepton_columns
from liberica.processors.quadruplets import (
    CHANNEL_CODES,
    four_lepton_mass,
    four_leptons,
    pair_into_z_bosons,
)

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
