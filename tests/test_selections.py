import numpy as np
import pytest
from conftest import random_leptons

from liberica.analysis.hzz4l.quadruplets import four_lepton_mass, four_lepton_pt
from liberica.analysis.hzz4l.selections import AGC_LEPTON_TYPE_SUMS, Observables, agc_baseline

Z_MASS = 91.1876


@pytest.fixture(scope="module")
def leptons():
    """Random events with 3 to 5 leptons, mixed flavours and charges."""
    rng = np.random.default_rng(5)
    return random_leptons(rng, rng.integers(3, 6, 4000))


def test_agc_baseline_keeps_four_lepton_neutral_same_flavour_events(leptons):
    result = agc_baseline(leptons, Z_MASS)
    quad = result.quad
    assert np.array_equal(quad.event_index, np.flatnonzero(leptons.counts == 4))
    neutral = quad.charge.sum(axis=1) == 0
    types = np.isin(quad.abs_pdg_id.sum(axis=1), AGC_LEPTON_TYPE_SUMS)
    np.testing.assert_array_equal(result.passed, neutral & types)
    assert 0 < result.passed.sum() < len(quad.event_index)


def test_four_lepton_observables_are_computed_on_first_use(leptons):
    result = agc_baseline(leptons, Z_MASS)
    observables = result.observables
    assert isinstance(observables, Observables)
    assert "m4l" not in observables and "pt4l" not in observables
    np.testing.assert_array_equal(observables["m4l"], four_lepton_mass(result.quad))
    assert "m4l" in observables  # kept for the next region
    np.testing.assert_array_equal(observables["pt4l"], four_lepton_pt(result.quad))
    np.testing.assert_array_equal(observables["m12"], result.pairing.z1_mass)
    with pytest.raises(KeyError, match="mjj"):
        observables["mjj"]
