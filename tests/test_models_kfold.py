"""K-fold training: every row scored by the one model that never saw it, for trees and MLPs."""

import numpy as np
import onnxruntime as ort
import pytest
from conftest import constant_model
from scipy.stats import norm

from liberica.core.errors import LibericaError
from liberica.models import inference, kfold
from liberica.models.kfold import TRAINERS, Trainer, TrainingInputError, train_kfold
from liberica.models.train import TrainingConfig, roc
from liberica.models.trees import TreeEnsembleConfig

NAMES = ("x0", "x1", "x2", "x3")
MODEL = {"feature_set": "toy-v1", "feature_names": NAMES, "training_sample": "toy"}
FEW = TreeEnsembleConfig(members=2)


def _toy(n: int, seed: int, shift: float, signal_fraction: float = 0.5):
    """Label 1 shifted by ``shift`` in x0 (optimal AUC Phi(shift / sqrt 2)); shuffled event numbers."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < signal_fraction).astype(int)
    features = rng.normal(size=(n, 4)).astype(np.float32)
    features[:, 0] += shift * labels
    return features, labels, rng.permutation(n) + 1000


def test_random_labels_out_of_fold_auc_is_half_while_in_sample_is_not():
    # 60k rows: the null AUC's spread is 1/sqrt(3 n) = 0.0024, so 0.01 is 4 sigma
    # (seeds 0-4 gave 0.4975, 0.4971, 0.5013, 0.4951, 0.5020)
    features, labels, event_number = _toy(60_000, 0, shift=0.0)
    classifiers = train_kfold(
        features, labels, event_number, folds=5, seed=0, config=FEW, balance=False, **MODEL
    )
    scores = inference.evaluate(classifiers, features, event_number)
    assert abs(roc(scores, labels)[2] - 0.5) < 0.01
    # trees overfit random labels: each model ranks its own training rows (seeds 0-4: 0.58-0.60)
    for classifier in classifiers[:2]:
        trained = event_number % 5 != classifier.spec.evaluates
        own = inference.session(classifier).run(None, {"features": features[trained]})[0]
        assert roc(own.ravel(), labels[trained])[2] > 0.55
    assert inference.release(classifiers) == 5


def test_every_row_is_scored_by_the_model_that_did_not_train_on_it(monkeypatch):
    trained_on: dict[int, set[int]] = {}

    def fit(features, labels, weights, config):
        # x0 carries the event number; each class sums to half the rows
        np.testing.assert_allclose([weights[labels == v].sum() for v in (0, 1)], len(labels) / 2)
        return config.seed, set(features[:, 0].astype(int).tolist())

    def export(model, spec, check_rows):
        trained_on[spec.fold] = model[1]
        return constant_model(spec.fold + 0.5, spec.fold, spec.features, folds=spec.folds,
                              feature_set=spec.feature_set)  # fmt: skip

    recorder = Trainer(lambda: FEW, fit, export, "none")
    monkeypatch.setitem(TRAINERS, "recorder", recorder)
    event_number = np.arange(3, 703)
    labels = (event_number % 7 == 0).astype(int)
    features = np.zeros((700, 4), np.float32)
    features[:, 0] = event_number
    progress = []
    classifiers = train_kfold(features, labels, event_number, trainer="recorder", folds=4,
                              progress=lambda done, total: progress.append((done, total)), **MODEL)  # fmt: skip
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [c.spec.fold for c in classifiers] == [0, 1, 2, 3]
    assert {c.spec.folds for c in classifiers} == {4}
    for fold, seen in trained_on.items():
        assert seen == set(event_number[event_number % 4 != (fold + 1) % 4].tolist())
    # rows of the training set and rows it never had: the model of fold (r - 1) % 4 scores r
    for numbers in (event_number, np.arange(10_000, 10_013)):
        rows = np.zeros((len(numbers), 4), np.float32)
        scores = inference.evaluate(classifiers, rows, numbers)
        fold = (numbers % 4 - 1) % 4
        np.testing.assert_array_equal(scores, fold + 0.5)
        assert all(int(n) not in trained_on[f] for n, f in zip(numbers, fold, strict=True))
    inference.release(classifiers)


def test_separable_toy_reaches_its_known_auc_with_class_balanced_weights():
    # 30% label 1: the class-balanced weights are not uniform (scikit-learn's weighted binning)
    features, labels, event_number = _toy(12_000, 1, shift=1.0, signal_fraction=0.3)
    classifiers = train_kfold(features, labels, event_number, folds=3, config=FEW, **MODEL)
    auc = roc(inference.evaluate(classifiers, features, event_number), labels)[2]
    optimal = norm.cdf(1.0 / np.sqrt(2.0))  # 0.760
    assert optimal - 0.02 < auc < optimal + 0.01  # 0.760 (toy seeds 2-4: 0.761, 0.756, 0.742)
    inference.release(classifiers)


def test_same_seed_same_bytes():
    features, labels, event_number = _toy(2_000, 5, shift=1.0, signal_fraction=0.3)
    config = TreeEnsembleConfig(members=1, max_iter=20)
    runs = [
        train_kfold(features, labels, event_number, folds=2, seed=s, config=config, **MODEL)
        for s in (4, 4, 5)
    ]
    assert [c.model_bytes for c in runs[0]] == [c.model_bytes for c in runs[1]]
    assert runs[0][0].model_bytes != runs[0][1].model_bytes
    assert runs[0][0].model_bytes != runs[2][0].model_bytes


@pytest.mark.slow
def test_mlp_trainer_trains_folds_and_its_onnx_equals_torch():
    import torch

    features, labels, event_number = _toy(4_000, 2, shift=1.0)
    config = TrainingConfig(hidden=(16, 16), learning_rate=1e-2, max_epochs=5, batch_size=128)
    classifiers = train_kfold(
        features, labels, event_number, trainer="mlp", folds=2, seed=3, config=config, **MODEL
    )
    assert [c.spec.fold for c in classifiers] == [0, 1] and classifiers[0].spec.folds == 2
    auc = roc(inference.evaluate(classifiers, features, event_number), labels)[2]
    assert auc > 0.74  # two folds of five epochs, pooled (the optimum is 0.76)
    inference.release(classifiers)
    # fold 0 again, in torch: it trained on the even event numbers, seeded from (3, 0)
    rows = event_number % 2 == 0
    weights = kfold.balanced_weights(labels[rows])
    fold_config = config._replace(seed=kfold.fold_seed(3, 0))
    model = TRAINERS["mlp"].fit(features[rows], labels[rows], weights, fold_config)
    session = ort.InferenceSession(classifiers[0].model_bytes, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(torch.as_tensor(features)).numpy()
    np.testing.assert_allclose(session.run(None, {"features": features})[0], expected, atol=1e-5)


def test_release_drops_the_cached_sessions():
    from liberica.models.spec import read_classifier

    classifiers = [
        read_classifier(constant_model(0.3 + 0.1 * m, m, NAMES, folds=3), f"m{m}") for m in range(3)
    ]
    rows = np.zeros((6, 4), np.float32)
    before = inference.stats()["sessions_created"]
    inference.evaluate(classifiers, rows, np.arange(6))
    inference.evaluate(classifiers, rows, np.arange(6))
    assert inference.stats()["sessions_created"] - before == 3
    assert inference.release(classifiers) == 3
    assert inference.release(classifiers) == 0
    inference.evaluate(classifiers, rows, np.arange(6))
    assert inference.stats()["sessions_created"] - before == 6
    inference.release(classifiers)


def test_bad_inputs_are_one_line_errors():
    features, labels, event_number = _toy(300, 3, shift=1.0)
    with pytest.raises(LibericaError, match="unknown trainer 'forest'"):
        train_kfold(features, labels, event_number, trainer="forest", **MODEL)
    with pytest.raises(TrainingInputError, match="takes a TreeEnsembleConfig"):
        train_kfold(features, labels, event_number, config=TrainingConfig(), **MODEL)
    with pytest.raises(TrainingInputError, match="labels must be 0 or 1"):
        train_kfold(features, labels + 1, event_number, **MODEL)
    with pytest.raises(TrainingInputError, match="expected \\(rows, 4\\)"):
        train_kfold(features[:, :3], labels, event_number, **MODEL)
    with pytest.raises(TrainingInputError, match="non-negative"):
        train_kfold(features, labels, event_number, weights=-np.ones(300), **MODEL)
    only_one = np.where(event_number % 5 == 1, labels, 0)  # label 1 only where fold 0 scores
    with pytest.raises(TrainingInputError, match="fold 0 of 5: .* 0 of label 1"):
        train_kfold(features, only_one, event_number, **MODEL)
