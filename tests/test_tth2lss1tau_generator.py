"""The embedded tth2lss1tau sample: format, normalization, the physics in it, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from liberica.analysis.tth2lss1tau import processes as physics
from liberica.analysis.tth2lss1tau.generator import (
    SAMPLES,
    GenerationError,
    generate_tth2lss1tau,
)
from liberica.core.errors import LibericaError

REFERENCE_SR = {"ttH": 12.2, "ttW": 5.5, "ttZ": 7.8, "VV": 2.6, "ttbar": 22.4}
"""The thesis's SR yields at 140 fb^-1 (table 1.2; ttbar: the fake total of table 1.3)."""
REFERENCE_RARE = 4.6
"""tZ + tttt + other in the SR."""


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return generate_tth2lss1tau(tmp_path_factory.mktemp("tth"), events=60_000, seed=5)


@pytest.fixture(scope="module")
def record(sample) -> dict:
    """generation.json: the numpy selection's yields and raw counts."""
    return json.loads((sample.fileset_path.parent / "generation.json").read_text())


@pytest.mark.slow
def test_fileset_names_processes_variations_and_data(sample):
    fileset = json.loads(sample.fileset_path.read_text())
    assert set(fileset) == {s.name for s in SAMPLES} | {"data"}
    assert fileset["ttW_alt"]["metadata"]["variation"] == "ttw_modelling"
    assert fileset["ttbar_alt"]["metadata"] == fileset["ttbar_alt"]["metadata"] | {
        "process": "ttbar",
        "variation": "ttbar_modelling",
    }
    assert fileset["data"]["metadata"]["mu_injected"] == 1.0
    tree = uproot.open(next(iter(fileset["ttH"]["files"])))["mini"]
    arrays = tree.arrays(["tau_n", "tau_nTracks", "tau_pt", "lep_pt", "mcWeight", "SumWeights"])
    assert np.sum(arrays["tau_n"]) > 0
    assert np.min(arrays["lep_pt"]) > 5_000.0  # MeV
    assert np.isclose(float(arrays["SumWeights"][0]), float(np.sum(arrays["mcWeight"])), rtol=1e-4)
    assert np.mean(np.asarray(arrays["mcWeight"]) < 0) < 0.1


NO_MODEL = """
extends: tth2lss1tau
name: tth_nomodel
classifiers: ~
regions: {sr_ptth: ~}
fit: {regions: [sr_lep1_pt]}
"""


@pytest.mark.slow
def test_processor_sr_yields_within_a_factor_1p5_of_the_thesis(sample, record, tmp_path):
    """The coffea processor's SR yields at 140 fb^-1, and the numpy selection agreeing."""
    from liberica.api.processing import process

    definition = tmp_path / "tth_nomodel.yaml"
    definition.write_text(NO_MODEL)
    result = process(
        str(definition), sample.fileset_path, systematics=False, workers=2, progress=False
    )
    histogram = result.histograms["sr_lep1_pt"][{"variation": "nominal"}]
    processes = list(histogram.axes["process"])
    values = histogram.values(flow=True)
    sr = {p: float(values[:, i].sum()) for i, p in enumerate(processes)}
    for process_name, reference in REFERENCE_SR.items():
        assert reference / 1.5 < sr[process_name] < 1.5 * reference, (process_name, sr)
    rare = sr["tZ"] + sr["tttt"] + sr["other"]
    assert REFERENCE_RARE / 1.5 < rare < 1.5 * REFERENCE_RARE, rare
    for process_name, value in record["expected_yields"]["sr"].items():
        assert value == pytest.approx(sr[process_name], rel=1e-3), process_name
    raw = record["raw_mc_events"]
    assert raw["sr"]["ttH"] > 1_000
    for name in raw["sr"]:
        assert raw["preselection"][name] > 3 * raw["sr"][name], name
    # moderate MC weights in the SR
    assert max(record["sr_weight_spread"].values()) < 50


def _weighted_mean(values: np.ndarray, drawn: physics.Drawn) -> float:
    return float(np.sum(values * drawn.truth.weight) / np.sum(drawn.weight) * drawn.forced)


def test_processes_differ_as_physics_says():
    """Per drawn event (the biasing weights restore the physical mixture): ttH has more
    hadronic taus and same-sign pairs than ttW; VV fewer jets than ttH."""
    made = {
        name: generate(np.random.default_rng(9), 20_000)
        for name, generate in (
            ("ttH", physics.generate_tth),
            ("ttW", physics.generate_ttw),
            ("VV", physics.generate_vv),
        )
    }
    taus = {k: _weighted_mean(m.truth.taus.valid.sum(axis=1), m) for k, m in made.items()}
    jets = {
        k: _weighted_mean((m.truth.events.jets.valid & (m.truth.events.jets.pt > 25)).sum(1), m)
        for k, m in made.items()
    }
    assert taus["ttH"] > 1.2 * taus["ttW"]
    assert jets["ttH"] > jets["VV"]


def test_biasing_weights_keep_the_normalization():
    """The mean biasing weight over drawn events is 1 (the forced probability for ttbar),
    and the kept events are the same-sign ones."""
    rng = np.random.default_rng(4)
    tth = physics.generate_tth(rng, 40_000)
    assert np.mean(tth.weight) == pytest.approx(1.0, abs=0.03)
    leptons = tth.truth.events.leptons
    charge = np.where(leptons.valid, leptons.charge, 0)
    assert np.all(((charge > 0).sum(1) >= 2) | ((charge < 0).sum(1) >= 2))
    ttbar = physics.generate_ttbar(rng, 40_000)
    assert np.mean(ttbar.weight) / ttbar.forced == pytest.approx(1.0, abs=0.03)
    assert ttbar.forced < 0.01


@pytest.mark.slow
def test_same_seed_same_bytes(tmp_path):
    a = generate_tth2lss1tau(tmp_path / "a", events=1_500, lumi_fb=10.0, seed=3)
    b = generate_tth2lss1tau(tmp_path / "b", events=1_500, lumi_fb=10.0, seed=3)
    for name in ("ttH_0.root", "ttbar_0.root", "data_0.root"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a.samples == b.samples


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(GenerationError, match="lumi_fb") as error:
        generate_tth2lss1tau(tmp_path, events=10, lumi_fb=-1.0)
    assert isinstance(error.value, LibericaError)
