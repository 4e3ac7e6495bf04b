"""dilepton_ad's processor on hand-built events: the selection, every feature, and a variation."""

import awkward as ak
import numpy as np
import pytest

from liberica.analysis.dilepton_ad import FEATURES
from liberica.analysis.dilepton_ad.processor import DileptonProcessor
from liberica.core.definition import load, without_classifier
from liberica.processors.variations import scale_momentum

GEV = 1.0e3  # the files are in MeV


def _events():
    """Three events: a selected e-e+ pair (with a non-isolated muon and two jets), three
    isolated leptons (rejected), a mu+mu+ pair below the leading-pT cut (rejected)."""
    leptons = [
        # pt, eta, phi, charge, type, ptcone30, etcone20, d0, d0sig, tight, z0
        [
            (50.0, 0.5, 0.1, -1, 11, 1.0, 0.5, 0.01, 1.5, True, 0.05),
            (40.0, -1.0, 2.5, 1, 11, 0.0, 0.2, -0.02, 2.5, False, -0.1),
            (30.0, 0.2, -1.0, 1, 13, 15.0, 12.0, 0.1, 6.0, True, 0.3),  # not isolated
        ],
        [
            (60.0, 0.1, 0.0, -1, 13, 0.0, 0.0, 0.0, 0.1, True, 0.0),
            (45.0, 0.3, 2.0, 1, 13, 0.0, 0.0, 0.0, 0.1, True, 0.0),
            (35.0, -0.3, -2.0, 1, 11, 0.0, 0.0, 0.0, 0.1, True, 0.0),
        ],
        [
            (20.0, 0.1, 0.0, 1, 13, 0.0, 0.0, 0.0, 0.1, True, 0.0),
            (15.0, 0.3, 2.0, 1, 13, 0.0, 0.0, 0.0, 0.1, True, 0.0),
        ],
    ]
    fields = ["pt", "eta", "phi", "charge", "type", "ptcone30", "etcone20"]
    fields += ["trackd0pvunbiased", "tracksigd0pvunbiased", "isTightID", "z0"]
    record = {}
    for k, name in enumerate(fields):
        values = [[lep[k] for lep in event] for event in leptons]
        if name in ("pt", "ptcone30", "etcone20"):
            values = [[v * GEV for v in event] for event in values]
        record[f"lep_{name}"] = values
    record["lep_E"] = [[lep[0] * np.cosh(lep[1]) * GEV for lep in event] for event in leptons]
    record["lep_charge"] = [[int(v) for v in e] for e in record["lep_charge"]]
    record["lep_type"] = [[int(v) for v in e] for e in record["lep_type"]]
    record["jet_pt"] = [[70.0 * GEV, 25.0 * GEV, 15.0 * GEV], [], []]
    record["jet_eta"] = [[0.5, -1.0, 0.0], [], []]
    record["jet_MV2c10"] = [[0.1, 0.9, 0.99], [], []]
    record["trigE"] = [True, True, False]
    record["trigM"] = [False, True, True]
    record["met_et"] = [30.0 * GEV, 10.0 * GEV, 5.0 * GEV]
    record["met_phi"] = [1.0, 0.0, 0.0]
    return ak.Array(record)


@pytest.fixture(scope="module")
def processor():
    return DileptonProcessor(
        without_classifier(load("dilepton_ad")), lumi_fb=1.0, systematics=False
    )


def _p4(pt, eta, phi):
    return np.array([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)])


def test_selection_and_features(processor):
    events = _events()
    objects, dropped = processor.objects(events)
    assert dropped == {}
    (result,) = processor.selections(events, objects).nominal().values()
    steps = dict(result.event_steps)
    np.testing.assert_array_equal(steps["two_leptons"], [True, False, True])
    np.testing.assert_array_equal(steps["leading_lepton_pt"], [True, False, False])
    np.testing.assert_array_equal(result.passed, [True, False, False])
    o = {name: result.observables[name][0] for name in FEATURES}
    assert all(np.isfinite(result.observables[name]).all() for name in FEATURES)  # never NaN
    p1, p2 = _p4(50.0, 0.5, 0.1), _p4(40.0, -1.0, 2.5)
    total = p1 + p2
    mass = np.sqrt(total[3] ** 2 - total[:3] @ total[:3])
    assert o["mll"] == pytest.approx(mass, rel=1e-5)
    assert (o["isOS"], o["isSF"]) == (1.0, 1.0)
    assert result.categories["channel"][0] == 0  # ee
    assert (o["lep1_pt"], o["lep2_pt"]) == pytest.approx((50.0, 40.0))
    assert (o["lep1_flav"], o["lep2_flav"]) == (11, 11)
    assert (o["lep1_d0"], o["lep2_d0sig"], o["lep2_isTightID"]) == pytest.approx((0.01, 2.5, 0.0))
    assert (o["lep1_ptcone30"], o["lep2_z0"]) == pytest.approx((1.0, -0.1))
    # jets: 70 GeV light, 25 GeV with MV2c10 0.9 (70/77/85% working points, not 60%), 15 GeV
    assert (o["njet20"], o["njet60"]) == (2, 1)
    assert [o[f"nbjet{k}"] for k in (60, 70, 77, 85)] == [0, 1, 1, 1]
    assert o["met_et"] == pytest.approx(30.0) and o["met_phi"] == pytest.approx(1.0)
    assert o["mt2"] >= 0
    # the negative lepton (the leading one here) is the first of the Collins-Soper angle
    assert -1.0 <= o["costhstar"] <= 1.0 and o["costhstar"] != 0.0


def test_an_electron_scale_variation_moves_every_electron_feature(processor):
    events = _events()
    objects, _ = processor.objects(events)
    selections = processor.selections(events, objects)
    (nominal,) = selections.nominal().values()
    varied_leptons = scale_momentum(objects.leptons, "electron", 0.01)
    (varied,) = selections.varied(objects._replace(leptons=varied_leptons)).values()
    assert varied.observables["mll"][0] == pytest.approx(1.01 * nominal.observables["mll"][0])
    assert varied.observables["lep1_pt"][0] == pytest.approx(50.5)
    # pT^miss follows the electrons' momentum change: px_miss -= 0.01 * (px1 + px2)
    shift = 0.01 * (_p4(50.0, 0.5, 0.1) + _p4(40.0, -1.0, 2.5))[:2]
    met = 30.0 * np.array([np.cos(1.0), np.sin(1.0)]) - shift
    assert varied.observables["met_et"][0] == pytest.approx(np.hypot(*met), rel=1e-6)
    # both leptons scaled alike: the pair's decay angle does not move
    assert varied.observables["costhstar"][0] == pytest.approx(nominal.observables["costhstar"][0])
