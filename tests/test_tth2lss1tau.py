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
