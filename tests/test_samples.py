"""The embedded hzz4l sample: format, reproducibility and the physics in it."""

from __future__ import annotations

import json
import pathlib

import awkward as ak
import numpy as np
import pytest
import uproot

from liberica.analysis.hzz4l.generator import SAMPLES, expected_data_events, generate_hzz4l
from liberica.samples import GeneratedSample, kinematics

MC_SAMPLES = [s.name for s in SAMPLES]
WEIGHT_SCALE_FACTORS = (
    "scaleFactor_ELE",
    "scaleFactor_MUON",
    "scaleFactor_LepTRIGGER",
    "scaleFactor_PILEUP",
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> GeneratedSample:
    """A small sample (20k MC events) with pseudo-data at the full 140 fb^-1."""
    return generate_hzz4l(tmp_path_factory.mktemp("hzz4l"), events=20_000, seed=7)


@pytest.fixture(scope="module")
def fileset(sample) -> dict:
    return json.loads(sample.fileset_path.read_text())


def _arrays(fileset: dict, name: str, branches: list[str] | None = None) -> ak.Array:
    parts = [uproot.open(f)["mini"].arrays(branches) for f in fileset[name]["files"]]
    return ak.concatenate(parts) if len(parts) > 1 else parts[0]


def _m4l(arrays: ak.Array) -> np.ndarray:
    """Invariant mass (GeV) of all leptons of events with exactly four."""
    four = arrays[arrays.lep_n == 4]
    pt = ak.to_numpy(four.lep_pt).reshape(-1, 4) / 1e3
    eta = ak.to_numpy(four.lep_eta).reshape(-1, 4)
    phi = ak.to_numpy(four.lep_phi).reshape(-1, 4)
    energy = ak.to_numpy(four.lep_E).reshape(-1, 4) / 1e3
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    m2 = energy.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def _file_bytes(fileset: dict) -> dict[str, bytes]:
    return {
        pathlib.Path(f).name: pathlib.Path(f).read_bytes()
        for entry in fileset.values()
        for f in entry["files"]
    }


def _relative(fileset: dict) -> dict:
    text = json.dumps(fileset)
    folder = str(pathlib.Path(next(iter(next(iter(fileset.values()))["files"]))).parent)
    return json.loads(text.replace(folder, "DIR"))


# -- reproducibility ----------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    runs = {}
    for label, seed in (("a", 3), ("b", 3), ("c", 4)):
        generated = generate_hzz4l(tmp_path / label, events=20_000, lumi_fb=5.0, seed=seed)
        runs[label] = json.loads(generated.fileset_path.read_text())
    assert _relative(runs["a"]) == _relative(runs["b"])
    bytes_a, bytes_b, bytes_c = (_file_bytes(runs[k]) for k in "abc")
    assert bytes_a.keys() == bytes_b.keys()
    for name in bytes_a:
        assert bytes_a[name] == bytes_b[name], f"{name} differs between identical runs"
    assert all(bytes_a[name] != bytes_c[name] for name in bytes_a if name in bytes_c)
    pt_a = _arrays(runs["a"], "ggH125_ZZ4lep", ["lep_pt"]).lep_pt
    pt_c = _arrays(runs["c"], "ggH125_ZZ4lep", ["lep_pt"]).lep_pt
    assert ak.sum(pt_a) != ak.sum(pt_c)
    assert (tmp_path / "a" / "generation.json").read_text() == (
        tmp_path / "b" / "generation.json"
    ).read_text()


def test_events_per_file_caps_files_and_keys_the_cache(tmp_path):
    from liberica.analysis.hzz4l.generator import cached_hzz4l

    small = cached_hzz4l(
        tmp_path / "cache", events=20_000, lumi_fb=5.0, seed=3, events_per_file=2_000
    )
    fileset = json.loads(small.fileset_path.read_text())
    sizes = {
        name: [uproot.open(f)["mini"].num_entries for f in entry["files"]]
        for name, entry in fileset.items()
    }
    assert max(max(s) for s in sizes.values()) <= 2_000
    assert len(sizes["ZZllll"]) == 3  # 6,000 events
    assert (
        json.loads((tmp_path / "cache" / "generation.json").read_text())["events_per_file"] == 2_000
    )
    # another file size is another sample: regenerated, not taken from the cache
    bigger = cached_hzz4l(tmp_path / "cache", events=20_000, lumi_fb=5.0, seed=3)
    assert len(json.loads(bigger.fileset_path.read_text())["ZZllll"]["files"]) == 1


# -- format --------------------------------------------------------------------------------


def test_fileset_lists_every_sample_with_metadata(sample, fileset):
    assert list(fileset) == [*MC_SAMPLES, "data"]
    for name in MC_SAMPLES:
        metadata = fileset[name]["metadata"]
        assert metadata["is_data"] is False
        assert metadata["xsec"] > 0 and metadata["sumw"] > 0
        assert len(fileset[name]["files"]) >= 1
        assert all(
            pathlib.Path(f).is_absolute() and tree == "mini"
            for f, tree in fileset[name]["files"].items()
        )
    assert fileset["ZZllll_alt"]["metadata"]["variation"] == "zz_generator"
    assert fileset["ZZllll_alt"]["metadata"]["process"] == "ZZ"
    assert fileset["ggH125_ZZ4lep"]["metadata"]["process"] == "ggH"
    for name, n in sample.samples.items():
        assert n == sum(uproot.open(f)["mini"].num_entries for f in fileset[name]["files"])
    assert sum(sample.samples[n] for n in MC_SAMPLES) == pytest.approx(20_000, abs=10)
    record = json.loads((sample.fileset_path.parent / "generation.json").read_text())
    assert record["events"] == 20_000 and record["seed"] == 7
    assert record["samples"] == sample.samples


def test_branches_and_types_match_real_open_data(fileset, data_a):
    real = uproot.open(data_a)["mini"]
    mine = uproot.open(next(iter(fileset["ZZllll"]["files"])))["mini"]
    skipped = {"lep_pt_syst", "jet_pt_syst", "photon_pt_syst", "tau_pt_syst", "largeRjet_pt_syst"}
    for branch in real.branches:
        assert branch.name in mine, f"{branch.name} missing"
        if branch.name in skipped:
            continue
        real_type = branch.interpretation
        my_type = mine[branch.name].interpretation
        real_dtype = getattr(real_type, "content", real_type).from_dtype
        my_dtype = getattr(my_type, "content", my_type).from_dtype
        assert my_dtype == real_dtype, branch.name
        assert isinstance(my_type, uproot.AsJagged) == isinstance(real_type, uproot.AsJagged)


def test_counters_units_and_ordering(fileset):
    arrays = _arrays(fileset, "ggH125_ZZ4lep")
    assert ak.all(arrays.lep_n == ak.num(arrays.lep_pt))
    assert ak.all(arrays.jet_n == ak.num(arrays.jet_pt))
    assert ak.all(arrays.photon_n == ak.num(arrays.photon_pt))
    assert np.median(ak.flatten(arrays.lep_pt)) > 1000.0  # MeV
    assert ak.all(arrays.lep_pt[:, :-1] >= arrays.lep_pt[:, 1:])  # pT-ordered
    assert ak.all(arrays.jet_pt[:, :-1] >= arrays.jet_pt[:, 1:])
    assert set(np.unique(ak.flatten(arrays.lep_type))) == {11, 13}
    assert ak.all(arrays.channelNumber == 345060)
    numbers = ak.to_numpy(arrays.eventNumber)
    assert len(np.unique(numbers)) == len(numbers)


# -- physics -------------------------------------------------------------------------------


def test_higgs_four_lepton_mass_peaks_at_125(fileset):
    m4l = _m4l(
        _arrays(fileset, "ggH125_ZZ4lep", ["lep_n", "lep_pt", "lep_eta", "lep_phi", "lep_E"])
    )
    assert len(m4l) > 200
    q25, median, q75 = np.percentile(m4l, [25, 50, 75])
    assert 122.0 < median < 128.0
    assert 1.0 < (q75 - q25) / 1.35 < 5.0


def test_higgs_decays_to_z_and_off_shell_z():
    rng = np.random.default_rng(1)
    shape = kinematics.BreitWigner(kinematics.Z_MASS, kinematics.Z_WIDTH)
    m1, m2 = kinematics.sample_pair_masses(rng, np.full(20_000, 125.0), shape, shape, ordered=True)
    assert np.all(m1 >= m2) and np.all(m1 + m2 < 125.0) and np.all(m2 > 4.0)
    assert 85.0 < np.median(m1) < 92.0  # Z1 on shell
    assert 15.0 < np.median(m2) < 35.0  # Z2 off shell


def test_two_body_decay_conserves_four_momentum():
    rng = np.random.default_rng(2)
    parent = kinematics.p4_from_pt_y_phi_m(
        rng.gamma(2.0, 20.0, 1000), rng.normal(0, 2, 1000), rng.uniform(-np.pi, np.pi, 1000), 125.0
    )
    d1, d2 = kinematics.two_body_decay(rng, parent, 91.0, 30.0)
    np.testing.assert_allclose(d1 + d2, parent, atol=1e-8)
    np.testing.assert_allclose(kinematics.invariant_mass(d1), 91.0, rtol=1e-9)
    np.testing.assert_allclose(kinematics.invariant_mass(d2), 30.0, rtol=1e-9)


def test_generator_weights_and_sum_of_weights(fileset):
    for name in ("ggH125_ZZ4lep", "ZZllll", "ttbar_lep"):
        arrays = _arrays(fileset, name, ["mcWeight", "SumWeights", "XSection"])
        weights = ak.to_numpy(arrays.mcWeight).astype(np.float64)
        negative = np.mean(weights < 0)
        assert 0.0 < negative < 0.1, name
        total = weights.sum()
        assert np.allclose(ak.to_numpy(arrays.SumWeights), total, rtol=1e-6)
        assert fileset[name]["metadata"]["sumw"] == pytest.approx(total, rel=1e-9)
        assert np.allclose(
            ak.to_numpy(arrays.XSection), fileset[name]["metadata"]["xsec"], rtol=1e-6
        )


def test_non_prompt_leptons_are_not_isolated(fileset):
    def isolated(arrays, mask):
        iso = (arrays.lep_ptcone30 / arrays.lep_pt < 0.3) & (
            arrays.lep_etcone20 / arrays.lep_pt < 0.3
        )
        return float(ak.mean(iso[mask]))

    branches = [
        "lep_type",
        "lep_pt",
        "lep_ptcone30",
        "lep_etcone20",
        "lep_trackd0pvunbiased",
        "lep_tracksigd0pvunbiased",
    ]
    higgs = _arrays(fileset, "ggH125_ZZ4lep", branches)
    zee = _arrays(fileset, "Zee", branches)
    non_prompt = zee.lep_type == 13  # Z -> ee: every muon is a non-prompt candidate
    assert isolated(higgs, higgs.lep_pt > 0) > 0.98
    assert isolated(zee, non_prompt) < 0.6
    significance = abs(zee.lep_tracksigd0pvunbiased)
    higgs_significance = abs(higgs.lep_tracksigd0pvunbiased)
    assert ak.mean(significance[non_prompt] < 3) < ak.mean(higgs_significance < 3) - 0.15


def test_pseudo_data_follow_the_mc_prediction(sample, fileset):
    metadata = fileset["data"]["metadata"]
    assert metadata == {
        "process": "data",
        "is_data": True,
        "mu_injected": 1.0,
        "lumi_fb": 140.0,
        "seed": 7,
    }
    data = _arrays(
        fileset,
        "data",
        [
            "mcWeight",
            "scaleFactor_ELE",
            "lep_n",
            "trigE",
            "trigM",
            "lep_charge",
            "runNumber",
            "channelNumber",
        ],
    )
    assert ak.all(data.mcWeight == 0) and ak.all(data.scaleFactor_ELE == 0)  # as real data
    assert ak.all(data.runNumber == data.channelNumber)

    # all events: Poisson around sum(xsec x lumi x <SF>)
    expected_all = 0.0
    # four leptons, triggered, neutral: the MC prediction with weights and scale factors
    expected_4l = 0.0
    variance_4l = 0.0
    for name, produced in expected_data_events(140.0, 1.0).items():
        arrays = _arrays(
            fileset,
            name,
            ["mcWeight", *WEIGHT_SCALE_FACTORS, "lep_n", "trigE", "trigM", "lep_charge"],
        )
        sf = np.prod(
            [ak.to_numpy(arrays[b]).astype(np.float64) for b in WEIGHT_SCALE_FACTORS], axis=0
        )
        weight = ak.to_numpy(arrays.mcWeight) * sf * produced / fileset[name]["metadata"]["sumw"]
        expected_all += produced * sf.mean()
        selected = ak.to_numpy(
            (arrays.lep_n == 4)
            & (arrays.trigE | arrays.trigM)
            & (ak.sum(arrays.lep_charge, axis=1) == 0)
        )
        expected_4l += weight[selected].sum()
        variance_4l += np.sum(weight[selected] ** 2)
    observed_all = len(data)
    assert abs(observed_all - expected_all) < 5.0 * np.sqrt(expected_all) + 0.01 * expected_all
    observed_4l = int(
        ak.sum(
            (data.lep_n == 4) & (data.trigE | data.trigM) & (ak.sum(data.lep_charge, axis=1) == 0)
        )
    )
    assert observed_4l > 1000
    assert abs(observed_4l - expected_4l) < 5.0 * np.sqrt(expected_4l + variance_4l)


def test_signal_injection_scales_the_signal_only(tmp_path):
    expected_0 = expected_data_events(140.0, 0.0)
    expected_2 = expected_data_events(140.0, 2.0)
    assert expected_0["ggH125_ZZ4lep"] == 0.0
    assert expected_2["ggH125_ZZ4lep"] > 0 and expected_2["ZZllll"] == expected_0["ZZllll"]
    # a tiny luminosity still writes a valid (possibly empty) data file
    generated = generate_hzz4l(tmp_path, events=1_000, lumi_fb=1e-6, mu_inject=0.0, seed=1)
    fileset = json.loads(generated.fileset_path.read_text())
    assert fileset["data"]["metadata"]["mu_injected"] == 0.0
    assert generated.samples["data"] == sum(
        uproot.open(f)["mini"].num_entries for f in fileset["data"]["files"]
    )


def test_file_uuids_depend_on_every_generation_argument(tmp_path):
    """Samples that differ in one argument are other files to the fileset check and checkpoints."""

    def uuids(name: str, **options) -> set[bytes]:
        arguments = {"events": 4_000, "lumi_fb": 2.0, "seed": 7, **options}
        fileset = json.loads(generate_hzz4l(tmp_path / name, **arguments).fileset_path.read_text())
        return {uproot.open(f).file.fUUID for e in fileset.values() for f in e["files"]}

    reference = uuids("reference")
    assert uuids("same") == reference
    for name, options in (
        ("mu", {"mu_inject": 0.5}),
        ("events", {"events": 4_001}),
        ("lumi", {"lumi_fb": 2.5}),
        ("per_file", {"events_per_file": 1_500}),
        ("seed", {"seed": 8}),
    ):
        assert not uuids(name, **options) & reference, name
