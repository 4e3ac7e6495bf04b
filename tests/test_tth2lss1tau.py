"""tth2lss1tau: its definition, the multiclass outputs a region takes, its selection."""

import copy
from importlib import resources

import numpy as np
import pytest
import yaml

from liberica.core import definition
from liberica.core.definition import Discriminant
from liberica.processors.base import _discriminant, region_score_key


@pytest.fixture
def config():
    text = resources.files("liberica.analysis.tth2lss1tau").joinpath("definition.yaml")
    return yaml.safe_load(text.read_text())


def test_definition_loads_with_its_multiclass_classifier():
    loaded = definition.load("tth2lss1tau")
    classifier = loaded.classifiers["tth_ft"]
    assert classifier.kind == "multiclass"
    assert list(classifier.classes) == ["ttH", "ttW", "ttZ", "ttbar", "VV", "other"]
    assert classifier.trained_on == "preselection" and classifier.selection == "sr"
    region = loaded.regions["sr_ptth"]
    assert region.output == Discriminant(("ttH",))
    assert region_score_key(region) == "score:tth_ft:ttH"


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda c: c["regions"]["sr_ptth"].__setitem__("output", "ttX"), "regions.sr_ptth.output"),
        (
            lambda c: c["regions"]["sr_ptth"].__setitem__(
                "output", {"numerator": ["ttH"], "denominator": ["ttH", "tZ"]}
            ),
            "regions.sr_ptth.output.denominator[1]",
        ),
        (
            lambda c: c["regions"]["sr_lep1_pt"].__setitem__("output", "ttH"),
            "regions.sr_lep1_pt.output",
        ),
        (
            lambda c: c["classifiers"]["tth_ft"]["classes"]["other"].append("ttW"),
            "classifiers.tth_ft.classes.other[3]",
        ),
        (
            lambda c: c["classifiers"]["tth_ft"]["classes"]["ttH"].__setitem__(0, "tH"),
            "classifiers.tth_ft.classes.ttH[0]",
        ),
        (lambda c: c["classifiers"]["tth_ft"].pop("classes"), "classifiers.tth_ft.classes"),
        (
            lambda c: c["classifiers"]["tth_ft"].__setitem__("training_selection", "loose"),
            "classifiers.tth_ft.training_selection",
        ),
    ],
)
def test_bad_definition_names_the_key(config, change, key):
    broken = copy.deepcopy(config)
    change(broken)
    with pytest.raises(definition.AnalysisDefinitionError) as info:
        definition.validate(broken, "broken.yaml")
    assert info.value.key == key


def test_a_preselection_tighter_than_the_signal_region_is_refused(tmp_path, config):
    config["cuts"]["events"]["preselection"]["min_jets"] = 5
    path = tmp_path / "tight.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(definition.AnalysisDefinitionError) as info:
        definition.load(path)
    assert info.value.key == "cuts.events.preselection.min_jets"


def test_discriminants_are_classes_or_ratios_of_summed_classes():
    columns = {
        "ttH": np.array([0.6, 0.1, 0.0]),
        "ttW": np.array([0.2, 0.3, 0.0]),
        "ttZ": np.array([0.2, 0.6, 1.0]),
    }
    np.testing.assert_array_equal(_discriminant(columns, Discriminant(("ttH",))), columns["ttH"])
    np.testing.assert_allclose(
        _discriminant(columns, Discriminant(("ttH", "ttW"))), [0.8, 0.4, 0.0]
    )
    ratio = _discriminant(columns, Discriminant(("ttH",), ("ttH", "ttW")))
    np.testing.assert_allclose(ratio, [0.75, 0.25, 0.0])  # 0/0 is 0, not NaN
    assert Discriminant(("ttH",), ("ttH", "ttW")).label == "(ttH)/(ttH+ttW)"


@pytest.fixture(scope="module")
def dumped(tmp_path_factory):
    """A small sample processed nominal-only with the classifier's training rows dumped."""
    from liberica.analysis.tth2lss1tau.generator import generate_tth2lss1tau
    from liberica.core.definition import without_classifier
    from liberica.orchestration.pipeline import run_processor

    sample = generate_tth2lss1tau(tmp_path_factory.mktemp("tth_sel"), events=24_000, seed=3)
    loaded = definition.load("tth2lss1tau")
    result = run_processor(
        without_classifier(loaded),
        sample.fileset_path,
        executor="iterative",
        systematics=False,
        dump_features=loaded.classifiers["tth_ft"],
        status=False,
    )
    return loaded, result


def test_the_selections_are_what_appendix_a2_says(dumped):
    from liberica.analysis.tth2lss1tau import CHANNEL_CODES, MISSING

    loaded, result = dumped
    table = result.features
    sr = table["in_selection"]
    assert 0 < sr.sum() < len(table)  # the extended set holds the signal region and more
    assert set(np.unique(table["total_charge"])) <= {-2.0, 2.0}  # same sign, both leptons
    assert np.all(table["n_bjets"] >= 1) and np.all(table["n_jets"] >= 2)
    assert np.all(table["lep1_pt"] > 20.0) and np.all(table["lep2_pt"] > 10.0)
    assert np.all(table["m_ll"] > 12.0)
    # in the signal region: one tau of 1 or 3 tracks, four jets, the Z veto on ee and mumu
    assert set(np.unique(table["tau_n_tracks"][sr])) <= {1.0, 3.0}
    assert np.all(table["tau_pt"][sr] > 25.0) and np.all(table["tau2_pt"][sr] == MISSING)
    assert np.all(table["n_jets"][sr] >= 4)
    same_flavour = table["channel"] != CHANNEL_CODES["emu"]
    assert np.all(np.abs(table["m_ll"][sr & same_flavour] - 91.2) > 10.0)
    # e-mu is exempt: some e-mu pairs sit in the Z window (the veto does not touch them)
    emu = table["channel"] == CHANNEL_CODES["emu"]
    assert np.any(np.abs(table["m_ll"][emu] - 91.2) < 10.0)
    # the preselection has events without a tau: their tau features are the missing code
    assert np.any(table["tau_pt"][~sr] == MISSING)
    # every class of the classifier has rows, and the cutflow ends where the region starts
    assert set(np.unique(table["process"])) >= {"ttH", "ttW", "ttZ", "ttbar"}
    cutflow = result.cutflow["ttH"]["sr_lep1_pt"]
    assert list(cutflow)[-3:] == ["sr_taus", "sr_jets", "sr_bjets"]
    steps = [step["raw"] for step in cutflow.values()]
    assert steps == sorted(steps, reverse=True)


def test_the_shipped_models_name_the_classes_and_take_the_feature_set():
    from liberica.orchestration.pipeline import classifiers_of

    loaded = definition.load("tth2lss1tau")
    models = classifiers_of(loaded)["tth_ft"]
    assert [m.spec.fold for m in models] == [0, 1, 2]
    spec = models[0].spec
    assert spec.outputs == tuple(loaded.classifiers["tth_ft"].classes)
    assert set(spec.categorical) == {
        "lep1_flavour",
        "lep2_flavour",
        "total_charge",
        "tau_charge",
        "tau_n_tracks",
    }
    assert set(spec.categorical["tau_n_tracks"]) == {1.0, 3.0}


@pytest.mark.slow
def test_a_blinded_run_fits_asimov_with_grouped_impacts(tmp_path):
    """generate -> process with the shipped FT-Transformer -> equal-population p(ttH) ->
    blinded Asimov fit with the grouped impacts."""
    import json

    from liberica import api

    sample = api.generate("tth2lss1tau", tmp_path / "sample", events=60_000, seed=11)
    run = api.process("tth2lss1tau", sample.fileset_path, out=tmp_path / "run", progress=False)
    binning = json.loads((tmp_path / "run" / "binning.json").read_text())["sr_ptth"]
    assert 2 <= binning["bins_made"] <= 8
    assert run.metrics["blinding"]["regions"]["sr_ptth"]["n_hidden"] >= 1
    result = api.fit(tmp_path / "run", ranking=False)
    assert result.blinded and result.asimov
    assert result.expected.bestfit == pytest.approx(1.0, abs=1e-3)
    groups = {g.name for g in result.grouped_impacts.groups}
    assert {"experimental", "modelling", "mc_statistics", "luminosity"} <= groups
