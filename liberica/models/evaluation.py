"""Evaluate a multi-class classifier on events it did not train on, with event weights.

The quantities follow a ttH-style multi-class evaluation: a weighted confusion
matrix (argmax prediction), one-against-rest ROC curves, a permutation feature
importance, and the binned significance of the first class's probability.

Conventions, stated once:

- Rows of the confusion matrix are true classes, columns predicted ones. Its
  row-normalized form is the recall (efficiency) of each true class, its
  column-normalized form the precision (purity) of each prediction. (Some
  texts swap the two names; recall divides by the true class's total.)
- Negative event weights enter the confusion matrix and the yields of the
  significance as given: they are MC yields. The ROC curves clip them to 0 by
  default, as :func:`liberica.models.train.roc`'s callers do, because a curve
  with negative weights can step backwards and its area is then ill-defined.
- Permutation importance needs only ``predict(features) -> (n, C)``, so it
  works on an exported ONNX file (see :func:`onnx_predictor`); integrated
  gradients would need the torch model and its gradients, which the ONNX
  contract does not keep.
"""

from __future__ import annotations

import json
import logging
import math
import pathlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from liberica.core.errors import LibericaError
from liberica.models.train import roc

log = logging.getLogger(__name__)

ROC_POINTS = 200
"""A ROC curve in ``evaluation.json`` keeps at most about this many points."""
TOP_FEATURES = 20
"""Features listed by the importance ranking (the thesis's figure A.2 shows 20)."""
SIGNIFICANCE_BINS = 10
"""Bins of equal background yield of the first class's probability."""
EVALUATION_FILE = "evaluation.json"

Predictor = Callable[[np.ndarray], np.ndarray]


class EvaluationError(LibericaError, ValueError):
    """Inputs from which no evaluation can be computed (shapes, classes, weights)."""


class ConfusionMatrix(NamedTuple):
    """A weighted confusion matrix and its two normalizations.

    Attributes:
        classes: class names, in the order of rows and columns
        counts: ``(C, C)`` sum of event weights with true class i (row) and argmax
            prediction j (column); negative weights as given
        recall: ``counts`` divided by each row's sum: the fraction of true class i
            predicted as j (diagonal: recall); NaN for a row summing to <= 0
        precision: ``counts`` divided by each column's sum: the fraction of events
            predicted as j that are of class i (diagonal: precision); NaN likewise
        accuracy: trace over total
    """

    classes: tuple[str, ...]
    counts: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as None)."""
        diagonal_recall = np.diag(self.recall)
        diagonal_precision = np.diag(self.precision)
        return {
            "classes": list(self.classes),
            "rows": "true class",
            "columns": "predicted class (argmax)",
            "counts": _listed(self.counts),
            "recall": _listed(self.recall),
            "precision": _listed(self.precision),
            "accuracy": _number(self.accuracy),
            "per_class": {
                name: {
                    "recall": _number(diagonal_recall[k]),
                    "precision": _number(diagonal_precision[k]),
                    "f1": _number(_f1(diagonal_precision[k], diagonal_recall[k])),
                }
                for k, name in enumerate(self.classes)
            },
        }


class RocCurve(NamedTuple):
    """A weighted one-against-rest ROC curve.

    Attributes:
        fpr: weighted fraction of the other classes above each threshold (increasing)
        tpr: weighted fraction of this class above each threshold
        auc: area under the curve (trapezoidal, ties as one step)
    """

    fpr: np.ndarray
    tpr: np.ndarray
    auc: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the curve thinned to about ``ROC_POINTS`` points."""
        keep = _thinned(self.fpr, self.tpr)
        return {
            "auc": _number(self.auc),
            "fpr": _listed(self.fpr[keep]),
            "tpr": _listed(self.tpr[keep]),
        }


class FeatureImportance(NamedTuple):
    """Permutation importance, most important first.

    Attributes:
        names: feature names, sorted by decreasing importance (at most ``top``)
        importance: mean degradation of the metric when the feature is permuted
            (baseline AUC minus permuted AUC; or permuted minus baseline cross-entropy)
        spread: standard deviation of the degradation over the repeats (ddof 1)
        metric: ``auc`` or ``cross_entropy``
        baseline: the metric on the unpermuted features
        repeats: permutations per feature
        seed: the seed of the permutations
        n_features: features evaluated (the list may keep fewer)
        n_events: rows the metric was computed on (after ``max_events``)
    """

    names: tuple[str, ...]
    importance: np.ndarray
    spread: np.ndarray
    metric: str
    baseline: float
    repeats: int
    seed: int
    n_features: int
    n_events: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "method": "permutation",
            "metric": self.metric,
            "baseline": _number(self.baseline),
            "repeats": self.repeats,
            "seed": self.seed,
            "n_features": self.n_features,
            "n_events": self.n_events,
            "ranking": [
                {"feature": name, "importance": _number(value), "spread": _number(spread)}
                for name, value, spread in zip(
                    self.names, self.importance, self.spread, strict=True
                )
            ],
        }


class Evaluation(NamedTuple):
    """Everything :func:`evaluate` measured; ``to_dict()`` is ``evaluation.json``.

    Attributes:
        classes: class names (the first is the signal)
        confusion: the weighted confusion matrix
        roc: one-against-rest ROC curve per class
        importance: permutation importance, or None where no predictor was given
        significance: binned s/sqrt(b) and Asimov Z of the first class's probability
        n_events: rows evaluated
        sum_weights: their sum of weights per true class
    """

    classes: tuple[str, ...]
    confusion: ConfusionMatrix
    roc: dict[str, RocCurve]
    importance: FeatureImportance | None
    significance: dict[str, Any]
    n_events: int
    sum_weights: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready content of ``evaluation.json``."""
        return {
            "classes": list(self.classes),
            "signal_class": self.classes[0],
            "n_events": self.n_events,
            "sum_weights": {k: _number(v) for k, v in self.sum_weights.items()},
            "confusion_matrix": self.confusion.to_dict(),
            "auc": {name: _number(curve.auc) for name, curve in self.roc.items()},
            "roc": {name: curve.to_dict() for name, curve in self.roc.items()},
            "feature_importance": None if self.importance is None else self.importance.to_dict(),
            "significance": self.significance,
        }


def confusion_matrix(
    probabilities: np.ndarray,
    true_class: np.ndarray,
    weights: np.ndarray | None,
    classes: Sequence[str],
) -> ConfusionMatrix:
    """The weighted confusion matrix of argmax predictions.

    Args:
        probabilities: ``(n, C)`` class probabilities (any scores; argmax is taken)
        true_class: ``(n,)`` true class of each row, as an index into ``classes`` or its name
        weights: ``(n,)`` event weights, negative ones as given [default: unit]
        classes: the C class names, in the order of the probability columns

    Raises:
        EvaluationError: on mismatched shapes or a true class not in ``classes``
    """
    probabilities, truth, weights = _checked(probabilities, true_class, weights, classes)
    n_classes = len(classes)
    predicted = np.argmax(probabilities, axis=1)
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (truth, predicted), weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = counts.sum(axis=1, keepdims=True)
        columns = counts.sum(axis=0, keepdims=True)
        recall = np.where(rows > 0, counts / rows, np.nan)
        precision = np.where(columns > 0, counts / columns, np.nan)
    total = counts.sum()
    accuracy = float(np.trace(counts) / total) if total > 0 else math.nan
    return ConfusionMatrix(tuple(classes), counts, recall, precision, accuracy)


def one_vs_rest(
    probabilities: np.ndarray,
    true_class: np.ndarray,
    weights: np.ndarray | None,
    classes: Sequence[str],
    negative_weights: str = "clip",
) -> dict[str, RocCurve]:
    """The weighted ROC curve and AUC of each class against all others.

    The score of class k is its probability column; the positives are the rows of
    true class k. A class without positives or without others is left out (logged).

    Args:
        probabilities: ``(n, C)`` class probabilities
        true_class: ``(n,)`` true class indices or names
        weights: ``(n,)`` event weights [default: unit]
        classes: the C class names
        negative_weights: ``clip`` (to 0, default) or ``as_given``

    Raises:
        EvaluationError: on mismatched shapes, unknown classes or ``negative_weights``
    """
    probabilities, truth, weights = _checked(probabilities, true_class, weights, classes)
    if negative_weights == "clip":
        weights = np.clip(weights, 0.0, None)
    elif negative_weights != "as_given":
        raise EvaluationError(
            f"negative_weights must be 'clip' or 'as_given', got {negative_weights!r}"
        )
    curves = {}
    for k, name in enumerate(classes):
        positive = truth == k
        if weights[positive].sum() <= 0 or weights[~positive].sum() <= 0:
            log.warning("class %s: no weighted positives or negatives; no ROC curve", name)
            continue
        fpr, tpr, auc = roc(probabilities[:, k], positive.astype(int), weights)
        curves[name] = RocCurve(fpr, tpr, auc)
    return curves


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """The weighted ROC AUC of ``scores`` for ``labels`` (1 positive), weights clipped at 0."""
    return roc(np.asarray(scores, dtype=np.float64), labels, np.clip(weights, 0.0, None))[2]


def weighted_cross_entropy(
    probabilities: np.ndarray, truth: np.ndarray, weights: np.ndarray
) -> float:
    """The weighted mean of -ln p(true class), with p floored at 1e-12 (weights as given)."""
    chosen = np.asarray(probabilities, dtype=np.float64)[np.arange(len(truth)), truth]
    return float(-np.sum(weights * np.log(np.clip(chosen, 1e-12, None))) / np.sum(weights))


def permutation_importance(
    predict: Predictor,
    features: np.ndarray,
    true_class: np.ndarray,
    weights: np.ndarray | None,
    names: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    metric: str = "auc",
    repeats: int = 3,
    seed: int = 0,
    top: int = TOP_FEATURES,
    max_events: int | None = None,
) -> FeatureImportance:
    """Permutation importance of each feature column for a model given as a function.

    Each column is shuffled across rows ``repeats`` times (seeded per column, so the
    answer does not depend on the order of the columns) with the others kept, and
    the degradation of the metric is recorded. A feature the model ignores scores
    0 exactly; correlated features share their importance (each looks dispensable).

    Args:
        predict: ``predict(features) -> (n, C)`` probabilities, e.g. :func:`onnx_predictor`
        features: ``(n, F)`` inputs, as the model takes them
        true_class: ``(n,)`` true class indices (or names, with ``classes``)
        weights: ``(n,)`` event weights [default: unit]
        names: the F feature names
        classes: class names, to read ``true_class`` as names [default: indices]
        metric: ``auc`` (weighted AUC of the first class against the rest; weights
            clipped at 0) or ``cross_entropy`` (weighted mean -ln p(true class))
        repeats: permutations per feature (>= 1)
        seed: seeds the permutations
        top: features kept, most important first
        max_events: evaluate on a seeded random subset of at most this many rows
            (the cost is ``F x repeats + 1`` predictions of all rows)

    Raises:
        EvaluationError: on mismatched shapes or names, a bad metric or repeats, or a
            ``predict`` whose output is not ``(n, C)``
    """
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != len(names):
        raise EvaluationError(
            f"features of shape {features.shape} do not match the {len(names)} feature names"
        )
    if metric not in ("auc", "cross_entropy"):
        raise EvaluationError(f"metric must be 'auc' or 'cross_entropy', got {metric!r}")
    if repeats < 1:
        raise EvaluationError(f"repeats must be >= 1, got {repeats}")
    n = len(features)
    weights = _weights(weights, n)
    truth = class_indices(true_class, classes, n)
    if max_events is not None and n > max_events:
        rows = np.sort(np.random.default_rng([seed, len(names)]).choice(n, max_events, False))
        features, weights, truth, n = features[rows], weights[rows], truth[rows], max_events

    def score(columns: np.ndarray) -> float:
        probabilities = np.asarray(predict(columns), dtype=np.float64)
        if probabilities.ndim != 2 or len(probabilities) != n:
            raise EvaluationError(
                f"predict returned shape {probabilities.shape}, expected ({n}, C)"
            )
        if truth.max(initial=0) >= probabilities.shape[1]:
            raise EvaluationError(
                f"true class {int(truth.max())} beyond the {probabilities.shape[1]} outputs"
            )
        if metric == "auc":
            return weighted_auc(probabilities[:, 0], (truth == 0).astype(int), weights)
        return weighted_cross_entropy(probabilities, truth, weights)

    baseline = score(features)
    sign = 1.0 if metric == "auc" else -1.0  # a larger cross-entropy is worse
    shuffled = features.copy()
    drops = np.empty((len(names), repeats))
    for j in range(len(names)):
        rng = np.random.default_rng([seed, j])
        for r in range(repeats):
            shuffled[:, j] = features[rng.permutation(n), j]
            drops[j, r] = sign * (baseline - score(shuffled))
        shuffled[:, j] = features[:, j]
    mean = drops.mean(axis=1)
    spread = drops.std(axis=1, ddof=1) if repeats > 1 else np.zeros(len(names))
    order = np.argsort(-mean, kind="stable")[: max(top, 0)]
    return FeatureImportance(
        names=tuple(names[j] for j in order),
        importance=mean[order],
        spread=spread[order],
        metric=metric,
        baseline=float(baseline),
        repeats=int(repeats),
        seed=int(seed),
        n_features=len(names),
        n_events=n,
    )


def onnx_predictor(session, output: int = 0) -> Predictor:
    """``predict(features)`` from an onnxruntime session with one float input.

    Args:
        session: an ``onnxruntime.InferenceSession`` (or a path to an ONNX file)
        output: the index of the probability output

    Raises:
        EvaluationError: if the model has more than one input
    """
    if isinstance(session, str | pathlib.Path):
        import onnxruntime as ort

        session = ort.InferenceSession(str(session), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise EvaluationError(
            f"onnx_predictor takes a model with one input; this one has "
            f"{[i.name for i in inputs]}: wrap it in your own predict function"
        )
    name = inputs[0].name
    output_name = session.get_outputs()[output].name

    def predict(features: np.ndarray) -> np.ndarray:
        return session.run([output_name], {name: np.asarray(features, dtype=np.float32)})[0]

    return predict


def equal_background_edges(
    score: np.ndarray, is_signal: np.ndarray, weights: np.ndarray | None, bins: int
) -> np.ndarray:
    """Edges over the score's range with about equal weighted background in each bin.

    Interior edges are weighted quantiles of the background (negative weights clipped
    at 0 for the quantiles only); ties collapse edges, so fewer bins may result.
    """
    score = np.asarray(score, dtype=np.float64)
    weights = _weights(weights, len(score))
    background = ~np.asarray(is_signal, dtype=bool)
    values = score[background]
    mass = np.clip(weights[background], 0.0, None)
    if bins < 1:
        raise EvaluationError(f"bins must be >= 1, got {bins}")
    if mass.sum() <= 0:
        raise EvaluationError("no positive background weight to define equal-yield bins")
    order = np.argsort(values, kind="stable")
    values, cumulative = values[order], np.cumsum(mass[order])
    targets = cumulative[-1] * np.arange(1, bins) / bins
    interior = values[np.searchsorted(cumulative, targets, side="left")]
    low, high = float(score.min()), float(score.max())
    return np.unique(np.concatenate([[low], interior[interior > low], [high]]))


def binned_significance(
    signal_score: np.ndarray,
    is_signal: np.ndarray,
    weights: np.ndarray | None,
    bins: int = SIGNIFICANCE_BINS,
    edges: np.ndarray | None = None,
) -> dict[str, Any]:
    """s/sqrt(b) and the Asimov Z, each summed in quadrature over bins of a score.

    Per bin, s/sqrt(b) and Z_A = sqrt(2((s+b) ln(1+s/b) - s)) (Cowan et al.); the
    totals are the square roots of the summed squares. Bins with b <= 0 are left
    out of the totals and counted in ``bins_without_background``. Yields are sums of
    weights as given.

    Args:
        signal_score: ``(n,)`` the score binned, e.g. the signal class's probability
        is_signal: ``(n,)`` True for signal events
        weights: ``(n,)`` event weights (the yields) [default: unit]
        bins: bins of equal background yield when ``edges`` is None
        edges: explicit bin edges (events outside them are not counted)

    Returns:
        a JSON-ready dict: ``edges``, ``binning``, per-bin ``signal``, ``background``,
        and the totals ``s_over_sqrt_b`` and ``asimov_z``
    """
    score = np.asarray(signal_score, dtype=np.float64)
    is_signal = np.asarray(is_signal, dtype=bool)
    weights = _weights(weights, len(score))
    if len(is_signal) != len(score):
        raise EvaluationError(
            f"{len(is_signal)} signal flags for {len(score)} scores in binned_significance"
        )
    if edges is None:
        edges = equal_background_edges(score, is_signal, weights, bins)
        binning = "equal_background"
    else:
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise EvaluationError(f"edges must increase strictly, got {edges.tolist()}")
        binning = "given"
    s, _ = np.histogram(score[is_signal], bins=edges, weights=weights[is_signal])
    b, _ = np.histogram(score[~is_signal], bins=edges, weights=weights[~is_signal])
    filled = b > 0
    ratio = np.zeros_like(s)
    z2 = np.zeros_like(s)
    ratio[filled] = s[filled] ** 2 / b[filled]
    sp, bp = np.clip(s[filled], 0.0, None), b[filled]
    z2[filled] = 2.0 * ((sp + bp) * np.log1p(sp / bp) - sp)
    return {
        "binning": binning,
        "edges": _listed(edges),
        "signal": _listed(s),
        "background": _listed(b),
        "s_over_sqrt_b_per_bin": _listed(np.where(filled, s / np.sqrt(np.where(filled, b, 1)), 0)),
        "s_over_sqrt_b": float(math.sqrt(max(ratio.sum(), 0.0))),
        "asimov_z": float(math.sqrt(max(z2.sum(), 0.0))),
        "bins_without_background": int(np.sum(~filled)),
    }


def evaluate(
    probabilities: np.ndarray,
    true_class: np.ndarray,
    weights: np.ndarray | None,
    classes: Sequence[str],
    *,
    predict: Predictor | None = None,
    features: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    metric: str = "auc",
    repeats: int = 3,
    seed: int = 0,
    top: int = TOP_FEATURES,
    max_events: int | None = None,
    bins: int = SIGNIFICANCE_BINS,
) -> Evaluation:
    """Confusion matrix, one-against-rest ROC curves, importance and significance at once.

    The first class is the signal: its probability is the binned score and the
    importance metric's class. The importance is computed only when ``predict``,
    ``features`` and ``feature_names`` are all given.

    Args:
        probabilities: ``(n, C)`` class probabilities, each row from a model that did
            not train on it
        true_class: ``(n,)`` true class indices or names
        weights: ``(n,)`` event weights [default: unit]
        classes: the C class names, the signal first
        predict: the model as ``predict(features) -> (n, C)``, for the importance
        features: ``(n, F)`` the model's inputs for the importance
        feature_names: the F names
        metric, repeats, seed, top, max_events: as :func:`permutation_importance`
        bins: bins of equal background yield for :func:`binned_significance`
    """
    probabilities, truth, weights = _checked(probabilities, true_class, weights, classes)
    importance = None
    if predict is not None and features is not None and feature_names is not None:
        importance = permutation_importance(
            predict,
            features,
            truth,
            weights,
            feature_names,
            metric=metric,
            repeats=repeats,
            seed=seed,
            top=top,
            max_events=max_events,
        )
    return Evaluation(
        classes=tuple(classes),
        confusion=confusion_matrix(probabilities, truth, weights, classes),
        roc=one_vs_rest(probabilities, truth, weights, classes),
        importance=importance,
        significance=binned_significance(probabilities[:, 0], truth == 0, weights, bins=bins),
        n_events=len(truth),
        sum_weights={name: float(weights[truth == k].sum()) for k, name in enumerate(classes)},
    )


def write_evaluation(result: Evaluation | dict[str, Any], folder: pathlib.Path) -> pathlib.Path:
    """Write ``evaluation.json`` into ``folder`` (created) and return its path."""
    content = result.to_dict() if isinstance(result, Evaluation) else result
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EVALUATION_FILE
    path.write_text(json.dumps(content, indent=1, allow_nan=False) + "\n")
    return path


def _checked(
    probabilities: np.ndarray,
    true_class: np.ndarray,
    weights: np.ndarray | None,
    classes: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(classes):
        raise EvaluationError(
            f"probabilities of shape {probabilities.shape} do not match the "
            f"{len(classes)} classes {list(classes)}"
        )
    n = len(probabilities)
    return probabilities, class_indices(true_class, classes, n), _weights(weights, n)


def class_indices(
    true_class: np.ndarray, classes: Sequence[str] | None, n: int | None = None
) -> np.ndarray:
    """True classes as indices into ``classes``, from indices or names (``n``: rows expected).

    Raises:
        EvaluationError: on a wrong shape, an index out of range or an unknown name
    """
    true_class = np.asarray(true_class)
    n = len(true_class) if n is None else n
    if true_class.shape != (n,):
        raise EvaluationError(f"true_class of shape {true_class.shape}, expected ({n},)")
    if true_class.dtype.kind in "iu":
        if classes is not None and len(true_class) and true_class.max() >= len(classes):
            raise EvaluationError(
                f"true class index {int(true_class.max())} beyond the classes {list(classes)}"
            )
        if len(true_class) and true_class.min() < 0:
            raise EvaluationError(f"negative true class index {int(true_class.min())}")
        return true_class.astype(np.intp)
    if classes is None:
        raise EvaluationError("true_class given as names: pass the class names as classes")
    lookup = {name: k for k, name in enumerate(classes)}
    unknown = sorted(set(true_class.tolist()) - set(lookup))
    if unknown:
        raise EvaluationError(f"true class {unknown[0]!r} is not one of {list(classes)}")
    return np.array([lookup[value] for value in true_class.tolist()], dtype=np.intp)


def _weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n,):
        raise EvaluationError(f"weights of shape {weights.shape}, expected ({n},)")
    if not np.isfinite(weights).all():
        raise EvaluationError(f"{int(np.sum(~np.isfinite(weights)))} weights are not finite")
    return weights


def _thinned(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """Indices of about ROC_POINTS points that follow the curve along both axes."""
    half = ROC_POINTS // 2
    on_fpr = np.searchsorted(fpr, np.linspace(0.0, 1.0, half), side="left")
    on_tpr = np.searchsorted(np.maximum.accumulate(tpr), np.linspace(0.0, 1.0, half))
    points = np.concatenate([on_fpr, on_tpr, [0, len(fpr) - 1]])
    return np.unique(np.clip(points, 0, len(fpr) - 1))


def _f1(precision: float, recall: float) -> float:
    if not (np.isfinite(precision) and np.isfinite(recall)) or precision + recall <= 0:
        return math.nan
    return 2.0 * precision * recall / (precision + recall)


def _number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _listed(values: np.ndarray) -> list:
    return [
        _listed(row) if np.ndim(row) else _number(row) for row in np.asarray(values, dtype=float)
    ]
