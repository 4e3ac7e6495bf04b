"""Per-process ONNX sessions, the CPU fallback, and the fold rule at inference."""

import logging

import numpy as np
from conftest import constant_model

from liberica.analysis.hzz4l.features import FEATURE_NAMES
from liberica.models import inference
from liberica.models.spec import read_classifier


def _folds(low=0.25, high=0.75):
    return [
        read_classifier(constant_model(low, 0), "fold0"),
        read_classifier(constant_model(high, 1), "fold1"),
    ]


def test_each_event_is_scored_by_the_model_that_did_not_train_on_it():
    classifiers = _folds(0.125, 0.875)
    event_number = np.arange(11, 31)
    scores = inference.evaluate(
        classifiers, np.zeros((20, len(FEATURE_NAMES)), np.float32), event_number
    )
    # even events: the model trained on odd ones (0.875); odd events: the other one
    np.testing.assert_array_equal(scores, np.where(event_number % 2 == 0, 0.875, 0.125))


def test_one_session_per_model_per_process_and_cpu_fallback_is_logged(caplog):
    classifiers = _folds(0.3, 0.6)  # new bytes: not cached yet
    before = inference.stats()["sessions_created"]
    features = np.zeros((4, len(FEATURE_NAMES)), np.float32)
    with caplog.at_level(logging.INFO, logger="liberica.models.inference"):
        for _ in range(5):
            inference.evaluate(classifiers, features, np.arange(4))
    assert inference.stats()["sessions_created"] - before == 2
    assert inference.stats()["provider"] == "CPUExecutionProvider"
    assert "no CUDA execution provider here" in caplog.text
    assert inference.session(classifiers[0]).get_session_options().intra_op_num_threads == 1


def test_k_fold_models_score_their_residue_and_multi_output_models_give_columns():
    three = [
        read_classifier(constant_model(0.1 * (m + 1), m, folds=3), f"three{m}") for m in range(3)
    ]
    event_number = np.arange(30)
    features = np.zeros((30, len(FEATURE_NAMES)), np.float32)
    scores = inference.evaluate(three, features, event_number)
    # fold m scores eventNumber % 3 == (m + 1) % 3
    expected = np.array([0.1 * (((r - 1) % 3) + 1) for r in event_number % 3])
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    multi = [
        read_classifier(constant_model(0.2, m, outputs=("h", "z", "t")), f"multi{m}")
        for m in (0, 1)
    ]
    columns = inference.evaluate(multi, features, event_number)
    assert columns.shape == (30, 3)
    np.testing.assert_allclose(columns, np.tile([0.2, 1.2, 2.2], (30, 1)), rtol=1e-6)
