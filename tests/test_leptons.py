import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory

from liberica.analysis.hzz4l.leptons import GoodLeptons
from liberica.core.definition import load
from liberica.processors.leptons import (
    lepton_columns,
    per_event_count,
    take_events,
)
from liberica.processors.schema import OpenDataSchema
from liberica.processors.variations import scale_momentum


@pytest.fixture(scope="module")
def generated_leptons(small_sample):
    import json

    fileset = json.loads(small_sample.read_text())
    filename = next(iter(fileset["ZZllll"]["files"]))
    events = NanoEventsFactory.from_root(
        {filename: "mini"}, schemaclass=OpenDataSchema, mode="virtual"
    ).events()
    return events.leptons


def _reference_mask(leptons: ak.Array, cuts) -> ak.Array:
    """Every cut of the object selection written out on the jagged collection."""
    abs_eta = abs(leptons.eta)
    electron = (
        (leptons.abs_pdg_id == 11)
        & (leptons.pt > cuts.electron.min_pt)
        & (abs_eta < cuts.electron.max_abs_eta)
        & (abs(leptons.d0_significance) < cuts.electron.max_abs_d0_significance)
    )
    muon = (
        (leptons.abs_pdg_id == 13)
        & (leptons.pt > cuts.muon.min_pt)
        & (abs_eta < cuts.muon.max_abs_eta)
        & (abs(leptons.d0_significance) < cuts.muon.max_abs_d0_significance)
    )
    z0_sin_theta = abs(leptons.z0 * np.sin(2.0 * np.arctan(np.exp(-leptons.eta))))
    return (
        (electron | muon)
        & (leptons.pt > cuts.min_pt)
        & (abs_eta < cuts.max_abs_eta)
        & (leptons.ptcone30 / leptons.pt < cuts.max_ptcone30_over_pt)
        & (leptons.etcone20 / leptons.pt < cuts.max_etcone20_over_pt)
        & (z0_sin_theta < cuts.max_abs_z0_sin_theta)
        & leptons.is_tight
    )


def test_columns_hold_the_collection_values_and_dtypes(generated_leptons):
    columns = lepton_columns(generated_leptons)
    assert columns.n_events == len(generated_leptons)
    np.testing.assert_array_equal(columns.counts, ak.num(generated_leptons))
    for field in ("pt", "eta", "energy", "charge", "abs_pdg_id", "ptcone30", "is_tight"):
        flat = ak.to_numpy(ak.flatten(generated_leptons[field]))
        values = getattr(columns, field)
        assert values.dtype == flat.dtype, field
        np.testing.assert_array_equal(values, flat)


def test_take_events_keeps_whole_events(generated_leptons):
    columns = lepton_columns(generated_leptons)
    chosen = np.flatnonzero(columns.counts >= 3)
    subset = take_events(columns, chosen)
    np.testing.assert_array_equal(subset.event_index, chosen)
    np.testing.assert_array_equal(subset.pt, ak.flatten(generated_leptons.pt[chosen]))
    np.testing.assert_array_equal(subset.charge, ak.flatten(generated_leptons.charge[chosen]))
    # twice: indices compose, back to the chunk's events
    again = take_events(subset, np.array([0, 2]))
    np.testing.assert_array_equal(again.event_index, chosen[[0, 2]])


def test_good_leptons_equal_every_cut_applied_at_once(generated_leptons):
    """Momentum-independent cuts once, then pT and isolation per variation: same mask."""
    cuts = load("hzz4l").cuts.leptons
    columns = lepton_columns(generated_leptons)
    good = GoodLeptons(columns, cuts)
    expected = ak.flatten(_reference_mask(generated_leptons, cuts))
    np.testing.assert_array_equal(good.mask(columns), expected)
    assert 0.3 < np.mean(expected) < 0.99
    # a 5% electron momentum scale, against the same cuts on scaled jagged leptons
    varied = scale_momentum(columns, "electron", 0.05)
    factor = ak.where(generated_leptons.abs_pdg_id == 11, 1.05, 1.0)
    scaled = ak.with_field(generated_leptons, generated_leptons.pt * factor, "pt")
    expected_varied = ak.flatten(_reference_mask(scaled, cuts))
    np.testing.assert_array_equal(good.mask(varied), expected_varied)
    assert not np.array_equal(expected_varied, expected)


def test_per_event_count():
    offsets = np.array([0, 2, 2, 5])
    mask = np.array([True, False, True, True, False])
    assert list(per_event_count(offsets, mask)) == [1, 0, 2]
