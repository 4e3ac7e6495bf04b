"""The boosted-tree ensemble: early-stopped members averaged, one ONNX graph equal to scikit-learn."""

import numpy as np
import onnxruntime as ort
import pytest

from liberica.models.spec import SPEC_VERSION_MULTI, FeatureSpec, read_classifier
from liberica.models.trees import (
    EXPORT_TOLERANCE,
    TreeEnsemble,
    TreeEnsembleConfig,
    export_tree_ensemble,
    member_seed,
    train_tree_ensemble,
)

NAMES = ("x0", "x1", "x2", "x3")
SPEC = FeatureSpec(
    "toy-v1", NAMES, 2, "P(label 1)", "none", "toy", version=SPEC_VERSION_MULTI, folds=5
)
QUICK = TreeEnsembleConfig(members=3, max_iter=60, seed=5)


def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Label 1 shifted in x0 and x1; x2, x3 noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    features = rng.normal(size=(n, 4))
    features[:, 0] += 1.0 * labels
    features[:, 1] -= 0.5 * labels
    return features.astype(np.float32), labels


@pytest.fixture(scope="module")
def ensemble() -> TreeEnsemble:
    features, labels = _toy(6000, 1)
    return train_tree_ensemble(features, labels, None, QUICK)


def _onnx(model_bytes: bytes, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"features": np.ascontiguousarray(rows, dtype=np.float32)})
    return output


def _rows_on_thresholds(ensemble: TreeEnsemble, rng) -> np.ndarray:
    """Rows with one feature set to (the float32 nearest, and the next float32 above) a split
    threshold of some tree: a float32 rounding of the threshold sends them the other way."""
    features, thresholds = [], []
    for member in ensemble.members:
        for (tree,) in member._predictors:
            split = ~tree.nodes["is_leaf"].astype(bool)
            features.append(tree.nodes["feature_idx"][split])
            thresholds.append(tree.nodes["num_threshold"][split])
    feature, threshold = np.concatenate(features), np.concatenate(thresholds)
    nearest = threshold.astype(np.float32)
    rows = []
    for value in (nearest, np.nextafter(nearest, np.float32(np.inf))):
        block = rng.normal(size=(len(feature), 4)).astype(np.float32)
        block[np.arange(len(feature)), feature] = value
        rows.append(block)
    return np.concatenate(rows)


def test_onnx_equals_scikit_learn_on_thresholds_and_missing_values(ensemble):
    rng = np.random.default_rng(2)
    fresh, _ = _toy(4000, 3)
    fresh[:50, 1] = np.nan  # the trees' missing-value branches
    on_thresholds = _rows_on_thresholds(ensemble, rng)
    # about half the float32-nearest thresholds lie above scikit-learn's float64 ones
    assert len(on_thresholds) > 1000
    model_bytes = export_tree_ensemble(ensemble, SPEC, fresh[:100])
    for rows in (fresh, on_thresholds):
        output = _onnx(model_bytes, rows)
        assert output.shape == (len(rows), 1)
        expected = ensemble.predict_proba(rows)[:, 1]
        # paths agree exactly; only float32 sums of leaf values differ (measured 2e-7)
        assert np.max(np.abs(output[:, 0] - expected)) < 1e-6 < EXPORT_TOLERANCE
    assert np.isfinite(_onnx(model_bytes, fresh[:50])).all()


def test_model_carries_its_spec_and_one_output(ensemble):
    fresh, _ = _toy(200, 4)
    classifier = read_classifier(export_tree_ensemble(ensemble, SPEC, fresh), "trees")
    assert classifier.spec == SPEC
    session = ort.InferenceSession(classifier.model_bytes, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["score"]
    assert [i.name for i in session.get_inputs()] == ["features"]


def test_members_are_seeded_apart_stop_early_and_are_averaged(ensemble):
    states = [m.random_state for m in ensemble.members]
    assert states == [member_seed(QUICK.seed, k) for k in range(QUICK.members)]
    assert len(set(states)) == QUICK.members
    # early stopping on each member's own validation split: different lengths, below max_iter
    assert all(n < QUICK.max_iter for n in ensemble.iterations)
    assert len(set(ensemble.iterations)) > 1
    rows, labels = _toy(3000, 6)
    members = [m.predict_proba(rows)[:, 1] for m in ensemble.members]
    np.testing.assert_allclose(ensemble.predict_proba(rows)[:, 1], np.mean(members, axis=0))
    assert np.ptp(members, axis=0).max() > 0.01  # the members differ
    # the toy's optimal AUC is about 0.79; the ensemble gets close
    from liberica.models.train import roc

    assert roc(ensemble.predict_proba(rows)[:, 1], labels)[2] > 0.76


def test_same_seed_same_bytes_other_seed_other_bytes():
    features, labels = _toy(3000, 7)
    config = TreeEnsembleConfig(members=2, max_iter=30, seed=11)
    once = [
        export_tree_ensemble(train_tree_ensemble(features, labels, None, c), SPEC, features[:50])
        for c in (config, config, config._replace(seed=12))
    ]
    assert once[0] == once[1]
    assert once[0] != once[2]
    # uniform weights are no weights (a faster binning, the same model)
    uniform = train_tree_ensemble(features, labels, np.full(len(labels), 2.5), config)
    assert export_tree_ensemble(uniform, SPEC, features[:50]) == once[0]


def test_export_refuses_a_graph_that_differs_or_a_wrong_width(ensemble):
    class Shifted(TreeEnsemble):
        def predict_proba(self, features):
            return super().predict_proba(features) + np.array([0.0, 1e-4])

    rows, _ = _toy(100, 8)
    with pytest.raises(RuntimeError, match="differs from scikit-learn"):
        export_tree_ensemble(Shifted(ensemble.members), SPEC, rows)
    with pytest.raises(ValueError, match="spec has 3"):
        export_tree_ensemble(ensemble, SPEC._replace(features=NAMES[:3]), rows[:, :3])
    with pytest.raises(ValueError, match="labels must be 0 and 1"):
        train_tree_ensemble(rows, np.full(100, 1), None, QUICK)
