import awkward as ak
import numpy as np
import pytest

from liberica.core.definition import Systematic
from liberica.processors import systematics
from liberica.processors.weights import nominal_weight


def _events():
    return ak.Array(
        {
            "mcWeight": np.array([1.0, -1.0, 2.0]),
            "scaleFactor_ELE": np.array([0.9, 1.0, 1.0]),
            "scaleFactor_MUON": np.array([1.0, 0.95, 1.0]),
            "scaleFactor_LepTRIGGER": np.array([1.0, 1.0, 0.98]),
            "scaleFactor_PILEUP": np.array([1.2, 0.8, 1.0]),
        }
    )


def test_nominal_weight_normalizes_to_lumi():
    weight = nominal_weight(_events(), xsec_pb=2.0, sumw=4.0, lumi_fb=10.0)
    per_event = np.array([0.9 * 1.2, -0.95 * 0.8, 2 * 0.98])
    np.testing.assert_allclose(weight, per_event * 2.0 * 10.0e3 / 4.0)


def weight_variation_ratios(systematic_list, events, event_index, pt, pdg):
    """The ratios of each weight systematic through its registered kind, as the base does."""
    rows = systematics.RowInputs(
        events, event_index, {"lepton_pt": pt, "lepton_abs_pdg_id": pdg}, {}
    )
    ratios = {}
    for systematic in systematic_list:
        up, down = systematics.get(systematic.kind).ratios(systematic, rows)
        ratios[f"{systematic.name}Up"], ratios[f"{systematic.name}Down"] = up, down
    return ratios


def test_lepton_sf_and_pileup_ratios():
    electron_sf = Systematic(
        "electron_sf",
        "lepton_scale_factor",
        {"flavour": "electron", "pt_edges": [7, 20], "relative_uncertainty": [0.04, 0.01]},
    )
    pileup = Systematic("pileup", "pileup_weight", {"deviation_scale": 0.5})
    pt = np.array([[50, 30, 10, 8], [50, 30, 10, 8], [0, 0, 0, 0]], dtype=float)
    pdg = np.array([[11, 11, 13, 13], [11, 11, 11, 11], [0, 0, 0, 0]])
    ratios = weight_variation_ratios([electron_sf, pileup], _events(), np.arange(3), pt, pdg)
    np.testing.assert_allclose(ratios["electron_sfUp"], [1.01**2, 1.01**2 * 1.04**2, 1.0])
    np.testing.assert_allclose(ratios["electron_sfDown"], [0.99**2, 0.99**2 * 0.96**2, 1.0])
    np.testing.assert_allclose(ratios["pileupUp"], [1.3 / 1.2, 0.7 / 0.8, 1.0])
    np.testing.assert_allclose(ratios["pileupDown"], [1.1 / 1.2, 0.9 / 0.8, 1.0])
    # candidates of some events only: the event-level pileup factor follows its event
    subset = weight_variation_ratios(
        [electron_sf, pileup], _events(), np.array([1]), pt[1:2], pdg[1:2]
    )
    np.testing.assert_allclose(subset["electron_sfUp"], [1.01**2 * 1.04**2])
    np.testing.assert_allclose(subset["pileupUp"], [0.7 / 0.8])


def test_object_systematic_is_not_a_weight():
    scale = Systematic(
        "muon_momentum_scale", "lepton_momentum_scale", {"flavour": "muon", "relative_shift": 0.01}
    )
    with pytest.raises(NotImplementedError, match="not a weight kind"):
        weight_variation_ratios(
            [scale], _events(), np.arange(3), np.zeros((3, 4)), np.zeros((3, 4), int)
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lepton_sf_ratios_equal_numpys_bin_lookup_and_product_bit_for_bit(dtype):
    """The compiled loop against searchsorted, clip and a column-by-column product in numpy."""
    edges, values = [5.0, 15.0, 30.0], [0.02, 0.01, 0.005]
    muon_sf = Systematic(
        "muon_sf",
        "lepton_scale_factor",
        {"flavour": "muon", "pt_edges": edges, "relative_uncertainty": values},
    )
    rng = np.random.default_rng(11)
    pt = rng.exponential(20.0, (5000, 4)).astype(dtype)
    pt.flat[:8] = [0.0, 5.0, 15.0, 30.0, 1e9, np.nan, np.inf, 4.999]  # edges, beyond, NaN
    pdg = rng.choice([11, 13], (5000, 4))
    pdg[:2] = 13
    position = np.clip(np.searchsorted(edges, pt, side="right") - 1, 0, len(values) - 1)
    uncertainty = np.where(pdg == 13, np.asarray(values)[position], 0.0)
    ratios = weight_variation_ratios([muon_sf], None, np.arange(5000), pt, pdg)
    for direction, sign in (("Up", 1), ("Down", -1)):
        factors = 1.0 + sign * uncertainty
        expected = ((factors[:, 0] * factors[:, 1]) * factors[:, 2]) * factors[:, 3]
        assert ratios[f"muon_sf{direction}"].tobytes() == expected.tobytes(), direction
    assert ratios["muon_sfUp"][0] == pytest.approx(1.02 * 1.02 * 1.01 * 1.005)


def test_object_scale_factor_takes_each_present_object_in_its_pt_bin():
    systematic = Systematic(
        "tau_id",
        "object_scale_factor",
        {"object": "tau", "pt_edges": [25.0, 40.0], "relative_uncertainty": [0.1, 0.05]},
    )
    kind = systematics.get("object_scale_factor")
    tau_pt = np.array([[30.0, np.nan], [50.0, 30.0], [np.nan, np.nan]])
    rows = systematics.RowInputs(None, np.arange(3), {"tau_pt": tau_pt}, {})
    up, down = kind.ratios(systematic, rows)
    np.testing.assert_allclose(up, [1.1, 1.05 * 1.1, 1.0])
    np.testing.assert_allclose(down, [0.9, 0.95 * 0.9, 1.0])
    with pytest.raises(KeyError, match="tau_pt"):
        kind.ratios(systematic, systematics.RowInputs(None, np.arange(3), {}, {}))
