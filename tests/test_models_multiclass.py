"""K-fold multi-class training: fold rule, separation of a toy problem, ONNX contract, refusals."""

import numpy as np
import pytest

pytest.importorskip("torch")

from liberica.models import inference  # noqa: E402
from liberica.models.multiclass import (  # noqa: E402
    MulticlassConfig,
    MulticlassError,
    class_rows,
    loss_weights,
    stratified_subsample,
    train_multiclass,
)
from liberica.models.spec import check_against, read_classifier  # noqa: E402
from liberica.models.train import roc  # noqa: E402

FEATURES = ("x0", "x1", "x2", "charge")
CLASSES = {"A": ["a1", "a2"], "B": ["b"], "C": ["c"]}
TINY = MulticlassConfig(
    d_token=8,
    n_blocks=1,
    hidden=(16,),
    learning_rate=3e-3,
    batch_size=64,
    max_epochs=25,
    patience=5,
    folds=2,
)
"""A tiny transformer: its two ONNX exports take most of the default run's time."""


def toy_table(n: int = 900, seed: int = 7) -> np.ndarray:
    """Three classes with class-dependent means in x0, x1, x2, a missing code, a charge, and a
    process in no class."""
    rng = np.random.default_rng(seed)
    processes = np.array(["a1", "a2", "b", "c", "other"])
    process = processes[rng.integers(0, len(processes), n)]
    shift = {"a1": (2.0, 0, 0), "a2": (2.0, 0, 0), "b": (0, 2.0, 0), "c": (0, 0, 2.0)}
    dtype = [(name, "f4") for name in FEATURES] + [
        ("weight", "f8"),
        ("eventNumber", "i8"),
        ("process", "U8"),
    ]
    table = np.zeros(n, dtype)
    for k in range(3):
        mean = np.array([shift.get(p, (0, 0, 0))[k] for p in process])
        table[f"x{k}"] = rng.normal(size=n) + mean
    table["x2"][::10] = -999.0
    table["charge"] = rng.choice([-1.0, 1.0], n)
    table["weight"] = rng.uniform(0.2, 2.0, n)
    table["weight"][::50] = -0.3  # clipped to 0 in the loss
    table["eventNumber"] = rng.permutation(n) * 7 + 11
    table["process"] = process
    return table


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("multiclass")
    table = toy_table()
    names = tuple(f"ft_fold{m}.onnx" for m in range(TINY.folds))
    result = train_multiclass(
        table, CLASSES, FEATURES, ("charge",), out, names, TINY, "toy rows", "toy-v1"
    )
    classifiers = [read_classifier((out / name).read_bytes(), name) for name in names]
    return table, result, classifiers


def test_no_row_is_scored_by_a_model_that_trained_on_it(trained):
    table, result, classifiers = trained
    assert len(result.rows) == np.isin(table["process"], ["a1", "a2", "b", "c"]).sum()
    residue = result.event_number % TINY.folds
    for report, classifier in zip(result.folds, classifiers, strict=True):
        spec = classifier.spec
        assert (spec.fold, spec.folds, spec.evaluates) == (report.fold, 2, report.evaluates)
        # every row it trained or validated on lies outside the residue it scores
        assert report.fitted_rows.size == report.n_train + report.n_validation
        assert not np.any(residue[report.fitted_rows] == spec.evaluates)
        assert report.n_evaluated == np.sum(residue == spec.evaluates)
        assert report.onnx_max_abs_diff <= 1e-5
        assert report.stop_reason in ("early_stopping", "max_epochs")
    assert np.isfinite(result.probabilities).all()


def test_inference_reproduces_the_out_of_fold_probabilities(trained):
    table, result, classifiers = trained
    check_against(classifiers, "toy-v1", FEATURES)
    assert all(c.spec.outputs == ("A", "B", "C") for c in classifiers)
    assert dict(classifiers[0].spec.categorical) == {"charge": (-1.0, 1.0)}
    features = np.stack([table[name][result.rows] for name in FEATURES], axis=1)
    scores = inference.evaluate(classifiers, features, result.event_number)
    inference.release(classifiers)
    assert scores.shape == (len(result.rows), 3)
    np.testing.assert_allclose(scores, result.probabilities, atol=1e-6)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)


def test_the_transformer_separates_classes_with_different_means(trained):
    _, result, _ = trained
    for k, name in enumerate(result.classes):
        _, _, auc = roc(result.probabilities[:, k], (result.class_index == k).astype(int))
        assert auc > 0.8, name


def test_classes_are_balanced_in_the_loss():
    class_index = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    weight = np.array([1.0, 2.0, -1.0, 0.5, 0.5, 1, 1, 1, 1, 6])
    balanced = loss_weights(weight, class_index, 3, binary=False)
    sums = [balanced[class_index == k].sum() for k in range(3)]
    np.testing.assert_allclose(sums, [10 / 3] * 3)
    assert balanced[2] == 0.0  # the negative weight is clipped
    binary = loss_weights(weight, class_index, 3, binary=True)
    sums = [binary[class_index == k].sum() for k in range(3)]
    np.testing.assert_allclose(sums, [5.0, 2.5, 2.5])
    with pytest.raises(MulticlassError, match="class index 1 has no positive weight"):
        loss_weights(np.array([1.0, -1.0]), np.array([0, 1]), 2, binary=False)


def test_subsample_keeps_each_class_share():
    class_index = np.repeat([0, 1, 2], [6000, 3000, 1000])
    chosen = stratified_subsample(class_index, 1000, np.random.default_rng(0))
    assert np.bincount(class_index[chosen]).tolist() == [600, 300, 100]
    assert np.all(np.diff(chosen) > 0)
    again = stratified_subsample(class_index, 1000, np.random.default_rng(0))
    np.testing.assert_array_equal(chosen, again)


def test_time_limit_stops_a_fold_and_keeps_its_best_epoch(tmp_path):
    from liberica.models.ft_transformer import fit_encoding
    from liberica.models.multiclass import _train_fold

    table = toy_table(200)
    rows, class_index = class_rows(table["process"], CLASSES)
    features = np.stack([table[name][rows] for name in FEATURES], axis=1)
    weights = loss_weights(table["weight"][rows], class_index, 3, binary=False)
    train, valid = np.arange(40, len(rows)), np.arange(40)
    encoding = fit_encoding(features[train], FEATURES, ("charge",))
    config = TINY._replace(max_fold_seconds=1e-9)
    fit = _train_fold(
        features,
        class_index,
        weights.astype(np.float32),
        train,
        valid,
        encoding,
        3,
        config,
        np.random.default_rng(0),
    )
    assert (fit.epochs, fit.stop_reason, len(fit.validation_losses)) == (1, "time_limit", 1)
    assert fit.best_validation_loss == fit.validation_losses[0]


def test_class_definitions_and_tables_are_checked(tmp_path):
    table = toy_table(60)
    with pytest.raises(MulticlassError, match="process 'b' is in classes 'B' and 'C'"):
        class_rows(table["process"], {"B": ["b"], "C": ["c", "b"]})
    with pytest.raises(MulticlassError, match=r"class 'D' \(\['d'\]\) has no rows"):
        class_rows(table["process"], {"B": ["b"], "D": ["d"]})
    with pytest.raises(MulticlassError, match=r"lacks the columns \['tau_pt'\]"):
        train_multiclass(table, CLASSES, ("x0", "tau_pt"), (), tmp_path, ("a", "b"), TINY)
    with pytest.raises(MulticlassError, match="architecture must be one of"):
        train_multiclass(
            table, CLASSES, FEATURES, (), tmp_path, ("a", "b"), TINY._replace(architecture="bdt")
        )
    with pytest.raises(MulticlassError, match="2 folds need as many model names"):
        train_multiclass(table, CLASSES, FEATURES, (), tmp_path, ("a", "b", "c"), TINY)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["mlp", "binary_mlp"])
def test_mlp_baselines_separate_the_toy_problem(tmp_path, architecture):
    table = toy_table()
    names = tuple(f"{architecture}_{m}.onnx" for m in range(3))
    config = TINY._replace(architecture=architecture, max_epochs=40, folds=3)
    result = train_multiclass(table, CLASSES, FEATURES, ("charge",), tmp_path, names, config)
    classifiers = [read_classifier((tmp_path / name).read_bytes(), name) for name in names]
    features = np.stack([table[name][result.rows] for name in FEATURES], axis=1)
    scores = inference.evaluate(classifiers, features, result.event_number)
    inference.release(classifiers)
    residue = result.event_number % 3
    for report, classifier in zip(result.folds, classifiers, strict=True):
        assert not np.any(residue[report.fitted_rows] == classifier.spec.evaluates)
    if architecture == "binary_mlp":
        assert result.outputs == ("A",) and classifiers[0].spec.outputs == ("A",)
        assert scores.shape == (len(result.rows),)
        np.testing.assert_allclose(scores, result.probabilities[:, 0], atol=1e-6)
        _, _, auc = roc(scores, (result.class_index == 0).astype(int))
        assert auc > 0.8
        return
    assert scores.shape == (len(result.rows), 3)
    for k in range(3):
        _, _, auc = roc(result.probabilities[:, k], (result.class_index == k).astype(int))
        assert auc > 0.8, result.classes[k]


@pytest.mark.slow
def test_the_same_seed_gives_the_same_models(tmp_path):
    table = toy_table(300)
    config = TINY._replace(folds=2, max_epochs=3)
    paths = []
    for run in ("first", "second"):
        names = (f"{run}_0.onnx", f"{run}_1.onnx")
        train_multiclass(table, CLASSES, FEATURES, ("charge",), tmp_path, names, config)
        paths.append([tmp_path / name for name in names])
    for first, second in zip(*paths, strict=True):
        assert first.read_bytes() == second.read_bytes()
