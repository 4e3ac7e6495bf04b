import awkward as ak
import numpy as np
import pytest
import vector

from liberica.analysis.hzz4l.features import FEATURE_NAMES, hzz4l_features
from liberica.analysis.hzz4l.quadruplets import four_leptons, pair_into_z_bosons
from liberica.processors.leptons import lepton_columns

Z_MASS = 91.1876


@pytest.fixture(scope="module")
def paired():
    """Random four-lepton events, all with a Z pairing (two e+e- pairs or e+e- mu+mu-)."""
    rng = np.random.default_rng(11)
    n = 2000
    pt = rng.exponential(25.0, (n, 4)) + 7.0
    eta = rng.uniform(-2.5, 2.5, (n, 4))
    flavour = np.where(rng.uniform(size=(n, 1)) < 0.5, [[11, 11, 13, 13]], [[11, 11, 11, 11]])
    leptons = ak.zip(
        {
            "pt": pt,
            "eta": eta,
            "phi": rng.uniform(-np.pi, np.pi, (n, 4)),
            "energy": pt * np.cosh(eta),
            "charge": np.tile([1, -1, 1, -1], (n, 1)).astype(np.int32),
            "abs_pdg_id": flavour.astype(np.int32),
        }
    )
    quad = four_leptons(lepton_columns(leptons))
    pairing = pair_into_z_bosons(quad, Z_MASS)
    assert pairing.has_two_sfos_pairs.all()
    return quad, pairing


def _p4(quad, rows, leptons):
    """The summed four-momentum of ``leptons`` (per row, indices into the four) as vector objects."""
    components = {"px": quad.px, "py": quad.py, "pz": quad.pz, "E": quad.energy}
    summed = {
        name: sum(values[rows, leptons[:, k]] for k in range(leptons.shape[1]))
        for name, values in components.items()
    }
    return vector.array(summed)


def test_features_match_an_independent_computation_with_vector(paired):
    quad, pairing = paired
    rows = np.arange(len(quad.event_index))
    features = hzz4l_features(quad, pairing, rows)
    assert features.dtype == np.float32 and features.shape == (len(rows), len(FEATURE_NAMES))
    column = {name: features[:, k] for k, name in enumerate(FEATURE_NAMES)}

    four_l = _p4(quad, rows, np.tile(np.arange(4), (len(rows), 1)))
    z1 = _p4(quad, rows, pairing.z1_leptons)
    z1_rest = z1.boostCM_of_p4(four_l)
    cos_theta_star = (four_l.px * z1_rest.px + four_l.py * z1_rest.py + four_l.pz * z1_rest.pz) / (
        four_l.p * z1_rest.p
    )
    expected = {
        "m12": z1.mass,
        "m34": _p4(quad, rows, pairing.z2_leptons).mass,
        "pt4l": four_l.pt,
        "y4l": four_l.rapidity,
        "cos_theta_star": cos_theta_star,
    }
    for k in range(4):
        expected[f"lep{k + 1}_pt"] = quad.pt[:, k]
        expected[f"lep{k + 1}_abs_eta"] = np.abs(quad.eta[:, k])
    for name, pair in (("delta_r_z1", pairing.z1_leptons), ("delta_r_z2", pairing.z2_leptons)):
        first, second = (
            vector.array(
                {
                    "rho": quad.pt[rows, pair[:, k]],
                    "eta": quad.eta[rows, pair[:, k]],
                    "phi": quad.phi[rows, pair[:, k]],
                }
            )
            for k in (0, 1)
        )
        expected[name] = first.deltaR(second)
    assert set(expected) == set(FEATURE_NAMES)
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(column[name], expected[name], rtol=2e-5, atol=2e-5, err_msg=name)
    assert np.all(np.abs(column["cos_theta_star"]) <= 1.0)
    assert np.all(column["delta_r_z1"] <= np.hypot(5.0, np.pi))


def test_features_of_a_subset_of_rows_are_those_rows(paired):
    quad, pairing = paired
    every = hzz4l_features(quad, pairing, np.arange(len(quad.event_index)))
    rows = np.array([5, 0, 17, 17, 1999])
    np.testing.assert_array_equal(hzz4l_features(quad, pairing, rows), every[rows])
    assert hzz4l_features(quad, pairing, rows[:0]).shape == (0, len(FEATURE_NAMES))
