import awkward as ak
import numpy as np

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
