"""Train a definition's multiclass classifier in K folds and evaluate it on its scoring selection.

The table is the processor's dump of the classifier's training selection (the
extended training set when the definition names a looser ``training_selection``),
with ``in_selection`` marking the rows of the selection it scores. Every
architecture is evaluated on the same rows, the scoring selection's, each row
scored by the fold model that did not train on it, so that the transformer,
the baselines and the two training sets compare like with like: the weighted
confusion matrix, the one-against-rest ROC curves, the permutation importance
of the features (on the deployed ONNX files) and the binned significance of the
first class's probability (``models/evaluation.py``).
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any, NamedTuple

import numpy as np

from liberica.core.definition import AnalysisDefinitionError, ClassifierConfig
from liberica.core.registry import FeatureSet

log = logging.getLogger(__name__)

TRAINING_SETS = ("extended", "selection")
"""``extended``: the classifier's training selection; ``selection``: its scoring selection only."""

IMPORTANCE_EVENTS = 20_000
"""Scoring-selection rows (a seeded subset) on which the permutation importance is measured."""


class MulticlassTraining(NamedTuple):
    """What a multiclass training made.

    Attributes:
        classifier: the definition's classifier
        architecture: ``ft_transformer``, ``mlp`` or ``binary_mlp``
        training_set: ``extended`` or ``selection``
        classes: the classes of the evaluation (for ``binary_mlp``: the first class and
            the rest)
        reports: the fold reports (``models.multiclass.MulticlassFoldReport``)
        evaluation: ``models.evaluation.Evaluation`` on the scoring selection
        out: the folder of the models, ``evaluation.json``, ``training.json`` and plots
        files: the models and figures written
        n_training_rows: rows of the table trained on (over all folds' inputs)
        n_evaluated: scoring-selection rows evaluated
    """

    classifier: str
    architecture: str
    training_set: str
    classes: tuple[str, ...]
    reports: list[Any]
    evaluation: Any
    out: pathlib.Path
    files: list[pathlib.Path]
    n_training_rows: int
    n_evaluated: int


def model_names(
    config: ClassifierConfig, architecture: str, training_set: str, folds: int
) -> tuple[str, ...]:
    """The definition's model names for its own architecture on its own training set,
    else ``{classifier}_{architecture}[_selection]_fold{m}.onnx``."""
    if architecture == config.architecture and training_set == "extended":
        return config.models
    suffix = "" if training_set == "extended" else "_selection"
    return tuple(f"{config.name}_{architecture}{suffix}_fold{m}.onnx" for m in range(folds))


def _rows(table: np.ndarray, training_set: str) -> tuple[np.ndarray, np.ndarray]:
    """The table rows trained on, and whether each is in the scoring selection."""
    names = table.dtype.names or ()
    in_selection = (
        np.asarray(table["in_selection"], dtype=bool)
        if "in_selection" in names
        else np.ones(len(table), dtype=bool)
    )
    if training_set == "selection":
        return table[in_selection], np.ones(int(in_selection.sum()), dtype=bool)
    return table, in_selection


def _predictor(paths: list[pathlib.Path], event_number: np.ndarray):
    """``predict(features)`` of the fold models, each row by the model that did not train on it."""
    from liberica.models import inference
    from liberica.models.spec import read_classifier

    classifiers = [read_classifier(path.read_bytes(), path.name) for path in paths]

    def predict(features: np.ndarray) -> np.ndarray:
        scores = inference.evaluate(classifiers, np.asarray(features, np.float32), event_number)
        return scores.reshape(len(features), -1)

    return predict, classifiers


def train_and_evaluate(
    config: ClassifierConfig,
    table: np.ndarray,
    feature_set: FeatureSet,
    out: pathlib.Path,
    *,
    architecture: str | None = None,
    training_set: str = "extended",
    settings: dict[str, Any] | None = None,
    description: str = "",
    source: str = "",
) -> MulticlassTraining:
    """Train ``config`` (a multiclass classifier) on ``table`` and evaluate it.

    Args:
        config: the definition's classifier
        table: the dump of its training selection (``in_selection`` marks scoring rows)
        feature_set: its registered feature set (names, categorical features)
        out: folder for the models, ``training.json``, ``evaluation.json`` and plots
        architecture: ``ft_transformer``, ``mlp`` or ``binary_mlp`` [default: the
            classifier's]
        training_set: ``extended`` (the training selection) or ``selection`` (the
            scoring selection only)
        settings: fields of ``models.multiclass.MulticlassConfig`` to set (folds, seed,
            max_epochs, d_token, ...) over the classifier's ``training`` block
        description: the training sample, stored in the models' specs
        source: the definition (for errors)

    Raises:
        AnalysisDefinitionError: an unknown architecture or training set, or folds other
            than the definition's number of models for its own models
    """
    from liberica.models.multiclass import ARCHITECTURES, MulticlassConfig, train_multiclass

    architecture = architecture or config.architecture
    if architecture not in ARCHITECTURES:
        raise AnalysisDefinitionError(
            source, f"classifiers.{config.name}", f"unknown architecture {architecture!r}"
        )
    if training_set not in TRAINING_SETS:
        raise AnalysisDefinitionError(
            source, f"classifiers.{config.name}", f"unknown training set {training_set!r}"
        )
    settings = {
        "folds": len(config.models),
        **config.training,
        **(settings or {}),
        "architecture": architecture,
    }
    training_config = MulticlassConfig(**settings)
    names = model_names(config, architecture, training_set, training_config.folds)
    if len(names) != training_config.folds:
        raise AnalysisDefinitionError(
            source,
            f"classifiers.{config.name}.models",
            f"{training_config.folds} folds need {training_config.folds} model names; "
            f"the classifier lists {len(names)}",
        )
    rows, in_selection = _rows(table, training_set)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trained = train_multiclass(
        rows,
        config.classes,
        feature_set.features,
        feature_set.categorical,
        out,
        names,
        training_config,
        description=f"{description}; training set {training_set}",
        feature_set=feature_set.name,
    )
    evaluation, files, n_evaluated = evaluate_models(
        config,
        table,
        feature_set,
        [out / name for name in names],
        out,
        binary=architecture == "binary_mlp",
        seed=training_config.seed,
    )
    record = {
        "classifier": config.name,
        "architecture": architecture,
        "training_set": training_set,
        "classes": {name: list(members) for name, members in config.classes.items()},
        "config": {
            k: list(v) if isinstance(v, tuple) else v for k, v in training_config._asdict().items()
        },
        "rows_trained_on": int(len(trained.rows)),
        "rows_evaluated": n_evaluated,
        "folds": [_fold_record(r) for r in trained.folds],
    }
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    log.info(
        "%s (%s, %s training set): %d rows trained on, %d evaluated",
        config.name,
        architecture,
        training_set,
        len(trained.rows),
        n_evaluated,
    )
    return MulticlassTraining(
        config.name,
        architecture,
        training_set,
        evaluation.classes,
        list(trained.folds),
        evaluation,
        out,
        [out / name for name in names] + files,
        int(len(trained.rows)),
        n_evaluated,
    )


def evaluate_models(
    config: ClassifierConfig,
    table: np.ndarray,
    feature_set: FeatureSet,
    paths: list[pathlib.Path],
    out: pathlib.Path,
    *,
    binary: bool = False,
    seed: int = 42,
) -> tuple[Any, list[pathlib.Path], int]:
    """Evaluate fold models (ONNX files) on the scoring selection's rows of ``table``, each
    row scored by the model that did not train on it; write ``evaluation.json`` and figures.

    Args:
        config: the definition's classifier (its classes)
        table: a dump of its training selection (``in_selection`` marks scoring rows)
        feature_set: its feature set
        paths: the fold models
        out: where evaluation.json and the figures go
        binary: the models have one sigmoid output (the first class against the rest)
        seed: the permutation importance's seed

    Returns:
        the ``models.evaluation.Evaluation``, the figures, and the rows evaluated
    """
    from liberica.models import inference
    from liberica.models.evaluation import evaluate, permutation_importance, write_evaluation
    from liberica.models.evaluation_plots import draw_evaluation
    from liberica.models.multiclass import class_rows

    scoring, _ = _rows(table, "selection")
    kept, truth = class_rows(scoring["process"], config.classes)
    scoring = scoring[kept]
    features = np.stack([scoring[name] for name in feature_set.features], axis=1).astype(np.float32)
    event_number = np.asarray(scoring["eventNumber"])
    weight = np.asarray(scoring["weight"], dtype=np.float64)
    predict, classifiers = _predictor(paths, event_number)
    probabilities = predict(features)
    classes = tuple(config.classes)
    if binary:
        classes = (classes[0], "rest")
        probabilities = _two_columns(probabilities)
        truth = np.where(truth == 0, 0, 1)
    evaluation = evaluate(probabilities, truth, weight, classes)
    # the importance on a seeded subset, each row still scored by its own fold model
    subset = np.sort(np.random.default_rng(seed).permutation(len(truth))[:IMPORTANCE_EVENTS])
    predict_subset, subset_classifiers = _predictor(paths, event_number[subset])
    importance = permutation_importance(
        (lambda x: _two_columns(predict_subset(x))) if binary else predict_subset,
        features[subset],
        truth[subset],
        weight[subset],
        feature_set.features,
        classes=classes,
        seed=seed,
    )
    evaluation = evaluation._replace(importance=importance)
    inference.release(classifiers + subset_classifiers)
    write_evaluation(evaluation, out)
    figures = draw_evaluation(evaluation, probabilities, truth, weight, out)
    return evaluation, list(figures), int(len(truth))


def _two_columns(scores: np.ndarray) -> np.ndarray:
    first = scores[:, 0]
    return np.column_stack([first, 1.0 - first])


def _fold_record(report: Any) -> dict[str, Any]:
    return {
        "fold": report.fold,
        "model": report.path.name,
        "evaluates": f"eventNumber % {report.folds} == {report.evaluates}",
        "epochs": report.epochs,
        "stop_reason": report.stop_reason,
        "seconds": round(report.seconds, 1),
        "seconds_per_epoch": round(report.seconds_per_epoch, 2),
        "best_validation_loss": report.best_validation_loss,
        "n_train": report.n_train,
        "n_validation": report.n_validation,
        "n_evaluated": report.n_evaluated,
        "onnx_max_abs_diff": report.onnx_max_abs_diff,
    }
