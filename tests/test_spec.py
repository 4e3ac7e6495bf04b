"""A model's feature spec: round trip through ONNX metadata, and refusal of mismatches."""

import json

import pytest
from conftest import constant_model

from liberica.analysis.hzz4l.features import FEATURE_NAMES, FEATURE_SET
from liberica.models.spec import FeatureSpec, ModelSpecError, check_against, read_classifier


def test_spec_round_trips_through_metadata():
    spec = FeatureSpec(FEATURE_SET, FEATURE_NAMES, 1, "p(signal)", "standardized", "sample")
    assert FeatureSpec.from_metadata(spec.to_metadata(), "m.onnx") == spec


def test_missing_metadata_key_is_named():
    metadata = FeatureSpec(FEATURE_SET, FEATURE_NAMES, 0, "o", "p", "s").to_metadata()
    del metadata["liberica.features"]
    with pytest.raises(ModelSpecError, match=r"m\.onnx: ONNX metadata lacks 'liberica\.features'"):
        FeatureSpec.from_metadata(metadata, "m.onnx")


def test_matching_models_pass():
    models = [read_classifier(constant_model(0.5, p), f"fold{p}") for p in (0, 1)]
    check_against(models, FEATURE_SET, FEATURE_NAMES)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (FEATURE_NAMES[::-1], "order differs"),
        (FEATURE_NAMES[:-1] + ("m4l",), r"missing \['delta_r_z2'\], unexpected \['m4l'\]"),
    ],
)
def test_feature_mismatch_is_refused(features, message):
    models = [
        read_classifier(constant_model(0.5, 0, features), "bad.onnx"),
        read_classifier(constant_model(0.5, 1), "good.onnx"),
    ]
    with pytest.raises(ModelSpecError, match=f"bad.onnx: feature list does not match: {message}"):
        check_against(models, FEATURE_SET, FEATURE_NAMES)


def test_both_parities_are_required():
    models = [read_classifier(constant_model(0.5, 0), f"m{k}") for k in range(2)]
    with pytest.raises(ModelSpecError, match="one model trained on each eventNumber parity"):
        check_against(models, FEATURE_SET, FEATURE_NAMES)


def test_input_width_must_match_the_spec():
    import onnx

    model = onnx.load_from_string(constant_model(0.5, 0))
    for entry in model.metadata_props:
        if entry.key == "liberica.features":
            entry.value = '["m12"]'
    with pytest.raises(ModelSpecError, match="input has 15 columns but the spec lists 1"):
        read_classifier(model.SerializeToString(), "narrow.onnx")


def test_garbage_is_not_a_model():
    with pytest.raises(ModelSpecError, match="junk.onnx: not a readable ONNX model"):
        read_classifier(b"not onnx at all", "junk.onnx")


def test_a_k_fold_multi_output_spec_is_version_2_and_round_trips():
    spec = FeatureSpec(
        FEATURE_SET, FEATURE_NAMES, 1, "p", "s", "t", folds=3, outputs=("a", "b", "c")
    )
    metadata = spec.to_metadata()
    assert metadata["liberica.spec_version"] == "2"
    assert json.loads(metadata["liberica.fold_rule"]) == {
        "key": "eventNumber % 3",
        "fold": 1,
        "evaluates": 2,
        "trains_on": [0, 1],
    }
    back = FeatureSpec.from_metadata(metadata, "m.onnx")
    assert back == spec._replace(version="2") and back.evaluates == 2
    # two folds and one output stay version 1, as the shipped models are
    assert (
        FeatureSpec(FEATURE_SET, FEATURE_NAMES, 0, "p", "s", "t").to_metadata()[
            "liberica.spec_version"
        ]
        == "1"
    )


def test_k_folds_need_one_model_per_fold_and_one_rule():
    three = [read_classifier(constant_model(0.5, m, folds=3), f"f{m}") for m in range(3)]
    check_against(three, FEATURE_SET, FEATURE_NAMES)
    with pytest.raises(ModelSpecError, match="each fold of eventNumber % 3, got \\[0, 1\\]"):
        check_against(three[:2], FEATURE_SET, FEATURE_NAMES)
    mixed = [three[0], read_classifier(constant_model(0.5, 1), "two-fold")]
    with pytest.raises(ModelSpecError, match="different fold rules"):
        check_against(mixed, FEATURE_SET, FEATURE_NAMES)


def test_the_output_width_must_match_the_spec():
    import onnx

    model = onnx.load_from_string(constant_model(0.5, 0, outputs=("a", "b")))
    for entry in model.metadata_props:
        if entry.key == "liberica.outputs":
            entry.value = '["a"]'
    with pytest.raises(ModelSpecError, match="output has 2 columns but the spec names 1"):
        read_classifier(model.SerializeToString(), "wide.onnx")
