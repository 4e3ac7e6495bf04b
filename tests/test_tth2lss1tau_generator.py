"""The embedded tth2lss1tau sample: format, normalization, the physics in it, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from liberica.analysis.tth2lss1tau.generator import (
    _BY_NAME,
    SAMPLES,
    GenerationError,
    _simulate,
    generate_tth2lss1tau,
    select,
)
from liberica.core.errors import LibericaError
from liberica.samples.sample import stream

REFERENCE_SR = {"ttH": 12.2, "ttW": 5.5, "ttZ": 7.8, "ttbar": 22.4}
"""The thesis's SR yields at 140 fb^-1 (table 1.2; ttbar: the fake total of table 1.3).
VV (2.6) is left out: its SR holds no MC events yet (an open item)."""


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return generate_tth2lss1tau(tmp_path_factory.mktemp("tth"), events=6_000, seed=5)


@pytest.fixture(scope="module")
def record(sample) -> dict:
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


@pytest.mark.slow
def test_sr_yields_are_recorded_and_sane(record):
    sr = record["expected_yields"]["sr"]
    for process, reference in REFERENCE_SR.items():
        assert 0.2 * reference < sr[process] < 5.0 * reference, (process, sr[process])
    assert record["raw_mc_events"]["sr"]["ttH"] > 50
    assert record["samples"]["data"] > 0


def test_processes_differ_as_physics_says():
    rng_seed = 9
    made = {
        name: _simulate(_BY_NAME[name], stream(rng_seed, i), 1500, is_data=False)
        for i, name in enumerate(("ttH", "ttW", "VV"))
    }
    taus = {
        k: np.average(m.events.objects["tau"].fields["isTightID"].sum() / len(m.weights))
        for k, m in made.items()
    }
    jets = {k: np.mean(m.events.objects["jet"].counts) for k, m in made.items()}
    assert taus["ttH"] > taus["ttW"]
    assert jets["ttH"] > jets["VV"] and jets["ttW"] > jets["VV"]
    sr = {k: select(m.events)["sr"].mean() for k, m in made.items()}
    assert sr["ttH"] > sr["ttW"] > sr["VV"]


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
