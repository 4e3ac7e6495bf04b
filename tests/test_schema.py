import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoEventsFactory

from liberica.processors.schema import OpenDataSchema


def _events(path):
    return NanoEventsFactory.from_root(
        {str(path): "mini"}, schemaclass=OpenDataSchema, mode="virtual"
    ).events()


def test_real_file_collections_in_gev(data_a):
    events = _events(data_a)
    raw = uproot.open(data_a)["mini"].arrays(["lep_pt", "lep_E", "met_et", "jet_pt"])
    leptons = events.leptons
    assert len(events) == 39
    assert ak.all(ak.num(leptons) == 4)
    np.testing.assert_allclose(ak.flatten(leptons.pt), ak.flatten(raw.lep_pt) / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(
        ak.flatten(leptons.energy), ak.flatten(raw.lep_E) / 1000.0, rtol=1e-6
    )
    np.testing.assert_allclose(events.met.pt, raw.met_et / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(
        ak.flatten(events.jets.pt), ak.flatten(raw.jet_pt) / 1000.0, rtol=1e-6
    )
    # four-vector behaviour: lepton masses are tiny, 4l masses are in the GeV range
    assert ak.all(abs(ak.flatten(leptons.mass)) < 1.0)
    m4l = (leptons[:, 0] + leptons[:, 1] + leptons[:, 2] + leptons[:, 3]).mass
    assert 80 < np.median(m4l) < 1000
    assert set(np.unique(ak.flatten(leptons.abs_pdg_id))) <= {11, 13}


def test_counted_arrays_read_like_std_vectors(data_a, tmp_path):
    """uproot writes jagged branches as counted arrays; the schema reads both the same."""
    branches = [
        "lep_pt",
        "lep_eta",
        "lep_phi",
        "lep_E",
        "lep_charge",
        "lep_type",
        "lep_isTightID",
        "lep_ptcone30",
        "lep_etcone20",
        "lep_z0",
        "lep_trackd0pvunbiased",
        "lep_tracksigd0pvunbiased",
    ]
    raw = uproot.open(data_a)["mini"].arrays(branches + ["met_et", "met_phi", "lep_n"])
    leptons = ak.zip({b[len("lep_") :]: raw[b] for b in branches})
    written = tmp_path / "counted.root"
    with uproot.recreate(written) as out:
        out.mktree(
            "mini",
            {
                "lep": leptons.type.content,
                "lep_n": "uint32",
                "met_et": "float32",
                "met_phi": "float32",
            },
        )
        out["mini"].extend(
            {"lep": leptons, "lep_n": raw.lep_n, "met_et": raw.met_et, "met_phi": raw.met_phi}
        )
    tree = uproot.open(written)["mini"]
    assert "nlep" in tree and tree["lep_pt"].interpretation.__class__.__name__ == "AsJagged"
    original, counted = _events(data_a).leptons, _events(written).leptons
    for field in (
        "pt",
        "eta",
        "phi",
        "energy",
        "charge",
        "abs_pdg_id",
        "is_tight",
        "d0",
        "d0_significance",
    ):
        assert ak.all(original[field] == counted[field]), field


def test_flat_lepton_columns_equal_the_collection(data_a):
    """The processor's flat columns hold exactly the numbers and dtypes of events.leptons."""
    from liberica.processors.leptons import LeptonColumns, lepton_columns, open_data_lepton_columns

    events = _events(data_a)
    every_field = tuple(f for f in LeptonColumns._fields[2:])  # d0 is read only on request
    flat = open_data_lepton_columns(events, every_field)
    from_collection = lepton_columns(events.leptons)
    for name in LeptonColumns._fields:
        ours, theirs = getattr(flat, name), getattr(from_collection, name)
        if theirs is None:
            assert ours is None, name
            continue
        assert ours.dtype == theirs.dtype, name
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
    assert flat.pt.max() < 1000.0  # GeV


def test_misaligned_lepton_branches_are_named():
    from liberica.processors.schema import flat_leptons

    events = ak.Array({"lep_pt": [[1.0, 2.0], [3.0]], "lep_E": [[1.0], [3.0, 4.0]]})
    with pytest.raises(ValueError, match="branch lep_E has other per-event lengths"):
        flat_leptons(events, ["pt", "energy"])


@pytest.mark.parametrize(
    "take",
    [slice(None), slice(1, None), [2, 0], np.array([True, False, True])],
    ids=["whole", "offsets not from 0", "list array", "masked"],
)
def test_flat_lepton_columns_of_any_jagged_layout_equal_awkwards_own(take):
    from liberica.processors.schema import flat_leptons

    events = ak.Array(
        {
            "lep_pt": [[1000.0, 2000.0], [3000.0], [4000.0, 5000.0, 6000.0]],
            "lep_eta": [[0.1, 0.2], [0.3], [0.4, 0.5, 0.6]],
        }
    )[take]
    counts, arrays = flat_leptons(events, ["pt", "eta"])
    np.testing.assert_array_equal(counts, ak.num(events["lep_pt"], axis=1))
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(arrays["pt"], ak.flatten(events["lep_pt"]) / 1000.0)
    np.testing.assert_array_equal(arrays["eta"], ak.flatten(events["lep_eta"]))
    misaligned = ak.with_field(events, events["lep_eta"][:, ::-1][:, :1], "lep_eta")
    with pytest.raises(ValueError, match="branch lep_eta has other per-event lengths"):
        flat_leptons(misaligned, ["pt", "eta"])
