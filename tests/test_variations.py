import math

import awkward as ak
import numpy as np
import pytest
from conftest import random_leptons

from liberica.core.definition import Systematic
from liberica.processors.leptons import lepton_columns
from liberica.processors.variations import event_seeded_normal, scale_momentum, smear_resolution


def _leptons():
    return lepton_columns(_collection())


def _collection():
    kinematics = {"eta": 0.5, "phi": 1.0, "charge": 1}
    return ak.Array(
        [
            [
                {"pt": 50.0, "energy": 60.0, "abs_pdg_id": 11, **kinematics},
                {"pt": 30.0, "energy": 35.0, "abs_pdg_id": 13, **kinematics},
            ],
            [],
            [{"pt": 20.0, "energy": 20.0, "abs_pdg_id": 13, **kinematics}],
        ]
    )


def test_seeded_normal_is_standard_and_keyed_on_content():
    n = 200_000
    events = np.arange(n)
    values = event_seeded_normal(np.full(n, 345060), events, np.zeros(n), salt=1)
    assert abs(values.mean()) < 0.01 and abs(values.std() - 1) < 0.01
    # the same keys in another order (another chunking) give the same numbers
    order = np.random.default_rng(0).permutation(n)
    shuffled = event_seeded_normal(np.full(n, 345060), events[order], np.zeros(n), salt=1)
    np.testing.assert_array_equal(shuffled, values[order])
    # another salt, index or channel is an independent draw
    for other in (
        event_seeded_normal(np.full(n, 345060), events, np.zeros(n), salt=2),
        event_seeded_normal(np.full(n, 345060), events, np.ones(n), salt=1),
        event_seeded_normal(np.full(n, 363490), events, np.zeros(n), salt=1),
    ):
        assert abs(np.corrcoef(values, other)[0, 1]) < 0.01


def test_momentum_scale_acts_on_one_flavour():
    leptons = _leptons()
    up = scale_momentum(leptons, "electron", 0.01)
    assert list(up.pt) == [50.0 * 1.01, 30.0, 20.0]
    assert list(up.energy) == [60.0 * 1.01, 35.0, 20.0]
    assert list(up.offsets) == [0, 2, 2, 3]
    down = scale_momentum(leptons, "muon", -0.01)
    assert list(down.pt) == [50.0, 30.0 * 0.99, 20.0 * 0.99]


def test_smearing_depends_on_event_content_only():
    leptons = _leptons()
    channel = np.array([1, 1, 1])
    event_number = np.array([10, 11, 12])
    full = smear_resolution(leptons, channel, event_number, 0.02, 0.03, salt=5)
    # the last event alone, as in another chunk, gets the same smearing
    alone = lepton_columns(_collection()[2:])
    alone_smeared = smear_resolution(alone, channel[2:], event_number[2:], 0.02, 0.03, salt=5)
    assert list(alone_smeared.pt) == list(full.pt[2:])
    ratio = full.pt / leptons.pt
    assert np.all(ratio != 1.0)
    np.testing.assert_allclose(full.energy / leptons.energy, ratio)


def _splitmix64_reference(z: int) -> int:
    """splitmix64 of ``z`` in Python integers (Steele, Lea and Flood's finalizer)."""
    mask = (1 << 64) - 1
    z = (z + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def _normal_reference(channel: int, event: int, index: int, salt: int) -> float:
    golden = 0x9E3779B97F4A7C15
    key = _splitmix64_reference(((channel << 40) ^ (event << 8) ^ index ^ salt) & ((1 << 64) - 1))
    u1, u2 = (
        ((_splitmix64_reference(key ^ ((stream * golden) & ((1 << 64) - 1))) >> 11) + 0.5) / 2.0**53
        for stream in (1, 2)
    )
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def test_seeded_normal_is_the_documented_hash_bit_for_bit_in_its_integers():
    """The compiled hash wraps in 64-bit integers exactly as the reference in Python integers."""
    keys = [(345060, 0, 0, 1), (345060, 2**40 - 1, 3, 0x5EED), (410000, 123456789, 7, 2**31)]
    for channel, event, index, salt in keys:
        (ours,) = event_seeded_normal(
            np.array([channel]), np.array([event]), np.array([index]), salt
        )
        # log and cos of numpy and of the C library may differ in the last bit
        assert ours == pytest.approx(_normal_reference(channel, event, index, salt), rel=1e-14)


def test_smearing_draws_the_seeded_normal_of_each_lepton():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 6, 1000)
    leptons = random_leptons(rng, counts)
    channel = rng.integers(300_000, 400_000, len(counts))
    event_number = rng.integers(0, 2**40, len(counts))
    smeared = smear_resolution(leptons, channel, event_number, 0.02, 0.03, salt=5)
    index = np.concatenate([np.arange(n) for n in counts])
    normal = event_seeded_normal(
        np.repeat(channel, counts), np.repeat(event_number, counts), index, salt=5
    )
    width = np.where(leptons.abs_pdg_id == 11, 0.02, 0.03)
    np.testing.assert_array_equal(smeared.pt, leptons.pt * np.maximum(1.0 + width * normal, 0.0))


def test_large_r_jet_energy_and_mass_scales_vary_what_they_name():
    import awkward as ak

    from liberica.processors import systematics
    from liberica.processors.schema import behavior

    jets = ak.zip(
        {
            "pt": ak.Array([[400.0, 250.0], []]),
            "eta": ak.Array([[0.5, -1.0], []]),
            "phi": ak.Array([[0.1, 2.0], []]),
            "energy": ak.Array([[np.hypot(400.0 * np.cosh(0.5), 90.0), np.hypot(250.0 * np.cosh(1.0), 30.0)], []]),
            "combined_mass": ak.Array([[90.0, 30.0], []]),
        },
        with_name="PtEtaPhiELorentzVector",
        behavior=behavior,
    )  # fmt: skip
    chunk = systematics.ChunkInputs(np.zeros(2, np.int64), np.zeros(2, np.int64))
    energy_scale = Systematic("jes", "large_r_jet_energy_scale", {"relative_shift": 0.02})
    mass_scale = Systematic("jms", "large_r_jet_mass_scale", {"relative_shift": 0.05})
    varied = dict(systematics.get("large_r_jet_energy_scale").vary(energy_scale, jets, chunk))
    assert list(varied) == ["Up", "Down"]
    np.testing.assert_allclose(ak.flatten(varied["Up"].pt), [408.0, 255.0])
    np.testing.assert_allclose(ak.flatten(varied["Down"].mass), ak.flatten(jets.mass), rtol=1e-9)
    np.testing.assert_allclose(ak.flatten(varied["Up"].combined_mass), [90.0, 30.0])
    varied = dict(systematics.get("large_r_jet_mass_scale").vary(mass_scale, jets, chunk))
    np.testing.assert_allclose(
        ak.flatten(varied["Up"].mass), 1.05 * ak.flatten(jets.mass), rtol=1e-9
    )
    np.testing.assert_allclose(ak.flatten(varied["Down"].combined_mass), [85.5, 28.5])
    np.testing.assert_allclose(ak.flatten(varied["Up"].pt), [400.0, 250.0])
    assert ak.num(varied["Up"]).tolist() == [2, 0]


def test_jet_energy_scale_scales_the_four_momentum_and_keeps_directions():
    from liberica.processors import systematics
    from liberica.processors.schema import behavior

    jets = ak.zip(
        {
            "pt": [[100.0, 40.0], []],
            "eta": [[0.5, -1.2], []],
            "phi": [[0.1, 2.0], []],
            "energy": [[120.0, 80.0], []],
            "btag_mv2c10": [[0.9, -0.5], []],
        },
        with_name="PtEtaPhiELorentzVector",
        behavior=behavior,
    )
    kind = systematics.get("jet_energy_scale")
    assert kind.collection == "jets"
    varied = dict(
        kind.vary(Systematic("jes", "jet_energy_scale", {"relative_shift": 0.03}), jets, None)
    )
    assert ak.to_list(varied["Up"].pt[0]) == pytest.approx([103.0, 41.2])
    assert ak.num(varied["Up"].pt).tolist() == [2, 0]
    assert ak.to_list(varied["Down"].energy[0]) == pytest.approx([116.4, 77.6])
    assert ak.to_list(varied["Up"].eta) == ak.to_list(jets.eta)
    assert ak.to_list(varied["Up"].mass[0]) == pytest.approx(ak.to_list(jets.mass[0] * 1.03))
