"""Multi-class evaluation: confusion matrix, one-vs-rest AUCs, permutation importance,
binned significance, evaluation.json and its figures."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from liberica.models.evaluation import (
    EvaluationError,
    binned_significance,
    confusion_matrix,
    evaluate,
    one_vs_rest,
    onnx_predictor,
    permutation_importance,
    write_evaluation,
)
from liberica.models.evaluation_plots import draw_evaluation

CLASSES = ("sig", "bkg1", "bkg2")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def toy():
    """Three classes; feature 0 separates them (mean = class index), 1 and 2 are noise.

    The model is the Bayes classifier of feature 0 alone, written as a function.
    """
    rng = np.random.default_rng(7)
    n = 6000
    truth = rng.integers(0, 3, n)
    features = rng.normal(size=(n, 3)).astype(np.float32)
    features[:, 0] += truth

    def predict(x: np.ndarray) -> np.ndarray:
        return _softmax(np.stack([-0.5 * (x[:, 0] - k) ** 2 for k in range(3)], axis=1))

    weights = rng.uniform(0.2, 2.0, n)
    weights[rng.random(n) < 0.05] *= -1  # a few negative generator weights
    return features, truth, weights, predict


def test_confusion_matrix_of_a_hand_made_case():
    probabilities = np.array(
        [
            [0.7, 0.2, 0.1],  # sig -> sig
            [0.6, 0.3, 0.1],  # sig -> sig
            [0.2, 0.5, 0.3],  # sig -> bkg1
            [0.5, 0.4, 0.1],  # bkg1 -> sig
            [0.1, 0.8, 0.1],  # bkg1 -> bkg1
            [0.1, 0.2, 0.7],  # bkg2 -> bkg2
            [0.1, 0.1, 0.8],  # bkg2 -> bkg2 (negative weight)
        ]
    )
    truth = np.array(["sig", "sig", "sig", "bkg1", "bkg1", "bkg2", "bkg2"])
    weights = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 2.0, -0.5])
    matrix = confusion_matrix(probabilities, truth, weights, CLASSES)
    expected = np.array([[3.0, 0.5, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 1.5]])
    np.testing.assert_array_equal(matrix.counts, expected)
    # recall divides by the true class (row), precision by the prediction (column)
    np.testing.assert_allclose(np.diag(matrix.recall), [3 / 3.5, 3 / 4, 1.0])
    np.testing.assert_allclose(np.diag(matrix.precision), [3 / 4, 3 / 3.5, 1.0])
    np.testing.assert_allclose(matrix.recall.sum(axis=1), 1.0)
    np.testing.assert_allclose(matrix.precision.sum(axis=0), 1.0)
    assert matrix.accuracy == pytest.approx(7.5 / 9.0)
    per_class = matrix.to_dict()["per_class"]["sig"]
    assert per_class["f1"] == pytest.approx(2 * (3 / 4) * (3 / 3.5) / (3 / 4 + 3 / 3.5))
    # a class never predicted has no precision: None in JSON, not a number
    empty = confusion_matrix(probabilities[:5], truth[:5], weights[:5], CLASSES)
    assert empty.to_dict()["precision"][0][2] is None
    with pytest.raises(EvaluationError, match="'ttX' is not one of"):
        confusion_matrix(probabilities[:1], np.array(["ttX"]), None, CLASSES)


def test_one_vs_rest_auc_equals_sklearn_with_weights(toy):
    features, truth, weights, predict = toy
    probabilities = np.round(predict(features), 2)  # ties, as sklearn collapses them
    positive_weights = np.abs(weights)
    curves = one_vs_rest(probabilities, truth, positive_weights, CLASSES)
    for k, name in enumerate(CLASSES):
        expected = roc_auc_score(truth == k, probabilities[:, k], sample_weight=positive_weights)
        assert curves[name].auc == pytest.approx(expected, abs=1e-12)
    # negative weights are clipped to 0 for the curves (a curve cannot step backwards)
    clipped = one_vs_rest(probabilities, truth, weights, CLASSES)
    expected = roc_auc_score(
        truth == 0, probabilities[:, 0], sample_weight=np.clip(weights, 0, None)
    )
    assert clipped["sig"].auc == pytest.approx(expected, abs=1e-12)
    # the middle class is the hardest to tell apart with one Gaussian feature
    assert curves["bkg1"].auc < min(curves["sig"].auc, curves["bkg2"].auc)


@pytest.mark.parametrize("metric", ["auc", "cross_entropy"])
def test_permutation_importance_ranks_the_informative_feature_first(toy, metric):
    features, truth, weights, predict = toy
    result = permutation_importance(
        predict, features, truth, weights, ["x_info", "noise_a", "noise_b"], metric=metric, seed=3
    )
    assert result.names[0] == "x_info"
    assert result.importance[0] > 0.1
    # the model ignores the noise columns: permuting them changes nothing
    np.testing.assert_array_equal(result.importance[1:], 0.0)
    assert result.spread[0] > 0
    again = permutation_importance(
        predict, features, truth, weights, ["x_info", "noise_a", "noise_b"], metric=metric, seed=3
    )
    np.testing.assert_array_equal(again.importance, result.importance)
    subset = permutation_importance(
        predict, features, truth, weights, ["x_info", "noise_a", "noise_b"], max_events=1000
    )
    assert subset.n_events == 1000 and subset.names[0] == "x_info"


def test_permutation_importance_of_an_onnx_model_trained_on_noise_and_signal():
    """A model that fits a coefficient to a noise feature too: its importance is ~0,
    within a few times its spread, while the informative one is far above."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(11)
    n = 4000
    truth = rng.integers(0, 2, n)
    features = rng.normal(size=(n, 4)).astype(np.float32)
    features[:, 2] += 1.5 * truth
    features[:, 0] += 0.3 * truth
    model = LogisticRegression().fit(features, truth)
    onnx_model = to_onnx(model, features[:1], options={"zipmap": False})
    predict = onnx_predictor_from_bytes(onnx_model.SerializeToString())
    np.testing.assert_allclose(predict(features), model.predict_proba(features), atol=1e-5)
    result = permutation_importance(
        predict, features, truth, None, ["weak", "noise_a", "strong", "noise_b"], repeats=5, seed=1
    )
    assert result.names[:2] == ("strong", "weak")
    ranked = dict(
        zip(result.names, zip(result.importance, result.spread, strict=True), strict=True)
    )
    for name in ("noise_a", "noise_b"):
        value, spread = ranked[name]
        assert abs(value) < 0.005 and abs(value) <= 4 * spread + 1e-4
    assert ranked["strong"][0] > 50 * abs(ranked["noise_a"][0]) + 0.1


def onnx_predictor_from_bytes(model: bytes):
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return onnx_predictor(session, output=1)  # skl2onnx: label, probabilities


def test_significance_of_a_known_case():
    # one bin: s = 10, b = 100
    score = np.array([0.5, 0.5])
    is_signal = np.array([True, False])
    result = binned_significance(score, is_signal, np.array([10.0, 100.0]), edges=[0.0, 1.0])
    assert result["s_over_sqrt_b"] == pytest.approx(1.0, rel=1e-12)
    assert result["asimov_z"] == pytest.approx(math.sqrt(2 * (110 * math.log(1.1) - 10)))
    # two independent bins add in quadrature: (3/1)^2 + (4/2)^2 -> sqrt(13)
    score = np.array([0.2, 0.2, 0.8, 0.8])
    is_signal = np.array([True, False, True, False])
    result = binned_significance(
        score, is_signal, np.array([3.0, 1.0, 4.0, 4.0]), edges=[0, 0.5, 1]
    )
    assert result["s_over_sqrt_b"] == pytest.approx(math.sqrt(13.0))
    assert result["signal"] == [3.0, 4.0] and result["background"] == [1.0, 4.0]


def test_default_bins_hold_equal_background(toy):
    features, truth, weights, predict = toy
    score = predict(features)[:, 0]
    positive = np.abs(weights)
    result = binned_significance(score, truth == 0, positive, bins=8)
    assert result["binning"] == "equal_background" and len(result["edges"]) == 9
    background = np.array(result["background"])
    # each bin within one event's largest weight of total/8
    assert np.all(np.abs(background - positive[truth != 0].sum() / 8) <= positive.max())
    signal = np.array(result["signal"])
    assert np.all(np.diff(signal[2:]) > 0)  # signal piles up at high p(sig)
    assert result["asimov_z"] < result["s_over_sqrt_b"]  # s/sqrt(b) overstates when s ~ b


def test_evaluation_json_and_figures(toy, tmp_path):
    features, truth, weights, predict = toy
    probabilities = predict(features)
    result = evaluate(
        probabilities,
        np.array(CLASSES)[truth],
        weights,
        CLASSES,
        predict=predict,
        features=features,
        feature_names=["x_info", "noise_a", "noise_b"],
        repeats=2,
        bins=5,
    )
    path = write_evaluation(result, tmp_path)
    content = json.loads(path.read_text())
    assert content["signal_class"] == "sig"
    assert set(content["auc"]) == set(CLASSES)
    assert content["feature_importance"]["ranking"][0]["feature"] == "x_info"
    assert len(content["roc"]["sig"]["fpr"]) <= 210
    assert content["sum_weights"]["bkg2"] == pytest.approx(weights[truth == 2].sum())
    assert content["confusion_matrix"]["counts"][0][0] == pytest.approx(
        weights[(truth == 0) & (probabilities.argmax(axis=1) == 0)].sum()
    )
    figures = draw_evaluation(result, probabilities, truth, weights, tmp_path / "plots")
    names = {p.name for p in figures}
    assert names == {
        "confusion_matrix.png",
        "roc_one_vs_rest.png",
        "score_distributions.png",
        "feature_importance.png",
    }
    for figure in figures:
        assert figure.stat().st_size > 1000
