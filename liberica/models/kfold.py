"""Train any registered classifier in K folds by eventNumber, as self-contained ONNX models.

The fold rule is :class:`~liberica.models.spec.FeatureSpec`'s: the model of fold
m trains on the rows with ``eventNumber % K != (m + 1) % K`` and scores the
others, so ``inference.evaluate(classifiers, features, event_number)`` gives
every row, in the training set or not, a score from the one model that never
saw it. A weakly supervised search (CWoLa) needs exactly this: it selects
events by scores of a classifier trained on those very events.

Trainers are registered by name in :data:`TRAINERS`; each turns rows into a
fitted model and a fitted model into ONNX bytes. Both classes are weighted to
the same total by default (each to half the training rows), as
``train.labels_and_weights`` does, so a small signal region is not ignored.
"""

from __future__ import annotations

import logging
import pathlib
import tempfile
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from liberica.core.errors import LibericaError
from liberica.models.spec import SPEC_VERSION_MULTI, Classifier, FeatureSpec, read_classifier

log = logging.getLogger(__name__)


class TrainingInputError(LibericaError, ValueError):
    """Rows, labels, weights or options that a k-fold training cannot use."""


class Trainer(NamedTuple):
    """How one fold's model is fitted and exported.

    Attributes:
        default_config: makes the configuration used when none is given (a
            NamedTuple with a ``seed`` field; a given one must be of its type)
        fit: ``(features, labels, weights, config) -> model``
        export: ``(model, spec, check_rows) -> ONNX bytes`` (checked against the model)
        preprocessing: what the graph does to the raw features, for the spec
    """

    default_config: Callable[[], Any]
    fit: Callable[[np.ndarray, np.ndarray, np.ndarray, Any], Any]
    export: Callable[[Any, FeatureSpec, np.ndarray], bytes]
    preprocessing: str


def _fit_trees(features, labels, weights, config):
    from liberica.models.trees import train_tree_ensemble

    return train_tree_ensemble(features, labels, weights, config)


def _export_trees(model, spec: FeatureSpec, check_rows: np.ndarray) -> bytes:
    from liberica.models.trees import export_tree_ensemble

    return export_tree_ensemble(model, spec, check_rows)


def _tree_config():
    from liberica.models.trees import TreeEnsembleConfig

    return TreeEnsembleConfig()


def _fit_mlp(features, labels, weights, config):
    from liberica.models.train import train_fold

    model, _ = train_fold(features, labels.astype(np.float32), weights.astype(np.float32), config)
    return model


def _export_mlp(model, spec: FeatureSpec, check_rows: np.ndarray) -> bytes:
    from liberica.models.train import export_onnx

    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "model.onnx"
        export_onnx(model, spec, path, check_rows, title="liberica k-fold MLP")
        return path.read_bytes()


def _mlp_config():
    from liberica.models.train import TrainingConfig

    return TrainingConfig(hidden=(64, 64, 64))


TRAINERS: dict[str, Trainer] = {
    "trees": Trainer(
        _tree_config,
        _fit_trees,
        _export_trees,
        "none: trees cut on the raw features",
    ),
    "mlp": Trainer(
        _mlp_config,
        _fit_mlp,
        _export_mlp,
        "standardization (x - mean) / std of the training rows, inside the graph",
    ),
}
"""The k-fold trainers by name (``trees``: the boosted-tree ensemble; ``mlp``: train.py's
network). Register another as a :class:`Trainer`."""


def fold_seed(seed: int, fold: int) -> int:
    """The seed of fold ``fold``'s model in a training seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, 1 << 16, fold]).generate_state(1)[0] >> 1)


def balanced_weights(labels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weights (unit by default) scaled so that each class sums to half the rows."""
    balanced = np.ones(len(labels)) if weights is None else np.array(weights, dtype=np.float64)
    for value in (0, 1):
        part = labels == value
        total = balanced[part].sum()
        if total > 0:
            balanced[part] *= 0.5 * len(labels) / total
    return balanced


def _checked(
    features: np.ndarray,
    labels: np.ndarray,
    event_number: np.ndarray,
    weights: np.ndarray | None,
    folds: int,
    feature_names: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    features = np.ascontiguousarray(features, dtype=np.float32)
    labels, event_number = np.asarray(labels), np.asarray(event_number)
    n = len(features)
    if features.ndim != 2 or features.shape[1] != len(feature_names):
        raise TrainingInputError(
            f"features of shape {features.shape}, expected (rows, {len(feature_names)}) "
            f"for {list(feature_names)}"
        )
    if labels.shape != (n,) or event_number.shape != (n,):
        raise TrainingInputError(
            f"{n} feature rows but labels of shape {labels.shape} and event numbers of "
            f"shape {event_number.shape}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise TrainingInputError(f"labels must be 0 or 1, got {np.unique(labels)[:5].tolist()}")
    if not np.issubdtype(event_number.dtype, np.integer):
        raise TrainingInputError(f"event numbers must be integers, got {event_number.dtype}")
    if folds < 2:
        raise TrainingInputError(f"k-fold training needs at least 2 folds, got {folds}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (n,) or not np.isfinite(weights).all() or (weights < 0).any():
            raise TrainingInputError(
                f"weights must be {n} finite non-negative values, got shape {weights.shape} "
                f"with minimum {np.min(weights) if weights.size else None}"
            )
    return features, labels.astype(np.int64), event_number, weights


def train_kfold(
    features: np.ndarray,
    labels: np.ndarray,
    event_number: np.ndarray,
    *,
    trainer: str = "trees",
    folds: int = 5,
    weights: np.ndarray | None = None,
    seed: int = 0,
    feature_set: str,
    feature_names: tuple[str, ...],
    training_sample: str,
    config: Any = None,
    progress: Callable[[int, int], None] | None = None,
    output: str = "P(label 1)",
    balance: bool = True,
) -> list[Classifier]:
    """Train one model per fold by ``eventNumber % folds``, each exported to ONNX and re-read.

    Args:
        features: ``(n, F)`` rows (cast to float32), columns in ``feature_names`` order
        labels: ``(n,)`` 0 or 1 (for CWoLa: 1 = signal region, 0 = sidebands)
        event_number: ``(n,)`` integers; the fold rule goes by them
        trainer: a name in :data:`TRAINERS`
        folds: K
        weights: ``(n,)`` non-negative event weights [default: unit]
        seed: the model of fold m is seeded from ``(seed, m)``; the same seed gives
            the same bytes (it replaces ``config.seed``)
        feature_set: the feature set's identifier, stored in each spec
        feature_names: feature names in column order, stored in each spec
        training_sample: description of the rows, stored in each spec
        config: the trainer's configuration [default: the trainer's]
        progress: called as ``progress(folds_done, folds)`` after each fold
        output: what the output means, stored in each spec
        balance: scale the weights so that each class sums to half a fold's training rows

    Returns:
        the K classifiers, fold 0 first, ready for ``inference.evaluate``

    Raises:
        TrainingInputError: for an unknown trainer or config, inconsistent
            shapes, labels other than 0/1, negative weights, or a fold whose
            training rows lack one of the classes
    """
    if trainer not in TRAINERS:
        raise TrainingInputError(f"unknown trainer {trainer!r}; known: {sorted(TRAINERS)}")
    recipe = TRAINERS[trainer]
    feature_names = tuple(feature_names)
    features, labels, event_number, weights = _checked(
        features, labels, event_number, weights, folds, feature_names
    )
    default = recipe.default_config()
    config = default if config is None else config
    if type(config) is not type(default):
        raise TrainingInputError(
            f"trainer {trainer!r} takes a {type(default).__name__}, got {type(config).__name__}"
        )
    residue = event_number % folds
    classifiers = []
    for fold in range(folds):
        evaluates = (fold + 1) % folds
        fit_rows = np.flatnonzero(residue != evaluates)
        check_rows = np.flatnonzero(residue == evaluates)
        counts = np.bincount(labels[fit_rows], minlength=2)
        if counts.min() == 0:
            raise TrainingInputError(
                f"fold {fold} of {folds}: its {len(fit_rows)} training rows have "
                f"{counts[0]} of label 0 and {counts[1]} of label 1; both are needed"
            )
        fit_weights = None if weights is None else weights[fit_rows]
        if balance:
            fit_weights = balanced_weights(labels[fit_rows], fit_weights)
        elif fit_weights is None:
            fit_weights = np.ones(len(fit_rows))
        fold_config = config._replace(seed=fold_seed(seed, fold))
        model = recipe.fit(features[fit_rows], labels[fit_rows], fit_weights, fold_config)
        spec = FeatureSpec(
            feature_set=feature_set,
            features=feature_names,
            fold=fold,
            output=output,
            preprocessing=recipe.preprocessing,
            training_sample=f"{training_sample}; trainer {trainer}; seed {seed}; "
            f"class-balanced {balance}",
            version=SPEC_VERSION_MULTI,
            folds=folds,
        )
        rows = check_rows if check_rows.size else fit_rows
        model_bytes = recipe.export(model, spec, features[rows])
        classifiers.append(read_classifier(model_bytes, f"{trainer} fold {fold} of {folds}"))
        log.info(
            "%s fold %d/%d: trained on %d rows (%d label 1), scores %d",
            trainer,
            fold,
            folds,
            len(fit_rows),
            counts[1],
            check_rows.size,
        )
        if progress is not None:
            progress(fold + 1, folds)
    return classifiers
