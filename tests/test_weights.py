import awkward as ak
import numpy as np
import pytest

from liberica.analysis.definition import Systematic
from liberica.processors.weights import nominal_weight, weight_variation_ratios


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
    with pytest.raises(ValueError, match="not a weight systematic"):
        weight_variation_ratios(
            [scale], _events(), np.arange(3), np.zeros((3, 4)), np.zeros((3, 4), int)
        )
