"""Figures of a multi-class evaluation: confusion matrices, ROC curves, importance, scores.

Each function draws one figure into a PNG (the format follows the path's
suffix) and returns its path; :func:`draw_evaluation` draws them all into a
folder. The score distributions are normalized to unit area with the event
weights as given, so a class with many negative weights can dip below zero,
which is what its yield does too.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np

from liberica.models.evaluation import (
    ConfusionMatrix,
    Evaluation,
    FeatureImportance,
    RocCurve,
    class_indices,
)

SCORE_BINS = 25


def draw_confusion_matrix(
    matrix: ConfusionMatrix, path: pathlib.Path, title: str = ""
) -> pathlib.Path:
    """Two annotated heat maps: row-normalized (recall) and column-normalized (precision).

    Args:
        matrix: the weighted confusion matrix
        path: the figure's file
        title: the figure's title

    Returns:
        ``path``
    """
    plt, mplhep = _pyplot()
    n = len(matrix.classes)
    size = max(6.0, 0.9 * n + 3.0)
    path = _prepared(path)
    with plt.style.context(mplhep.style.ATLAS):
        figure, axes = plt.subplots(1, 2, figsize=(2 * size + 2, size))
        figure.subplots_adjust(wspace=0.3)
        panels = (
            (matrix.recall, "Row-normalized: fraction of each true class (recall)"),
            (matrix.precision, "Column-normalized: fraction of each prediction (precision)"),
        )
        for ax, (values, label) in zip(axes, panels, strict=True):
            image = ax.imshow(np.nan_to_num(values), vmin=0.0, vmax=1.0, cmap="Blues")
            for i in range(n):
                for j in range(n):
                    value = values[i, j]
                    text = "-" if not np.isfinite(value) else f"{value:.2f}"
                    color = "white" if np.isfinite(value) and value > 0.6 else "black"
                    ax.text(j, i, text, ha="center", va="center", color=color, fontsize=9)
            ax.set_xticks(range(n), matrix.classes, rotation=45, ha="right")
            ax.set_yticks(range(n), matrix.classes)
            ax.minorticks_off()
            ax.set_xlabel("Predicted class (argmax)")
            ax.set_ylabel("True class")
            ax.set_title(label, fontsize="small")
            figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        figure.suptitle(title or f"Weighted confusion matrix, accuracy {matrix.accuracy:.3f}")
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
    return path


def draw_roc_curves(
    curves: dict[str, RocCurve], path: pathlib.Path, title: str = ""
) -> pathlib.Path:
    """Every class's one-against-rest ROC curve on one plot, the AUC in the legend.

    Args:
        curves: the curves by class name
        path: the figure's file
        title: the figure's title

    Returns:
        ``path``
    """
    plt, mplhep = _pyplot()
    path = _prepared(path)
    with plt.style.context(mplhep.style.ATLAS):
        figure, ax = plt.subplots(figsize=(7, 7))
        for k, (name, curve) in enumerate(curves.items()):
            ax.plot(curve.fpr, curve.tpr, color=f"C{k % 10}", label=f"{name}, AUC {curve.auc:.3f}")
        ax.plot([0, 1], [0, 1], "k:", linewidth=1, label="random")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("Efficiency of the other classes (weighted)")
        ax.set_ylabel("Efficiency of the class (weighted)")
        ax.legend(loc="lower right", fontsize="small")
        ax.set_title(title or "One against rest", fontsize="medium")
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
    return path


def draw_importance(
    importance: FeatureImportance, path: pathlib.Path, title: str = ""
) -> pathlib.Path:
    """A horizontal bar chart of the ranked features, the spread over repeats as error bars.

    Args:
        importance: the permutation importance (its ``top`` features are drawn)
        path: the figure's file
        title: the figure's title

    Returns:
        ``path``
    """
    plt, mplhep = _pyplot()
    path = _prepared(path)
    n = len(importance.names)
    what = "AUC" if importance.metric == "auc" else "cross-entropy"
    with plt.style.context(mplhep.style.ATLAS):
        figure, ax = plt.subplots(figsize=(8, max(3.0, 0.35 * n + 1.5)))
        rows = np.arange(n)
        ax.barh(rows, importance.importance, xerr=importance.spread, color="C0", capsize=3)
        ax.set_yticks(rows, importance.names)
        ax.minorticks_off()
        ax.set_ylim(n - 0.5, -0.5)  # the most important on top
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel(f"Degradation of the {what} when permuted ({importance.repeats} repeats)")
        ax.set_title(
            title or f"Permutation importance, top {n} of {importance.n_features}",
            fontsize="medium",
        )
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
    return path


def draw_score_distributions(
    probabilities: np.ndarray,
    true_class: np.ndarray,
    weights: np.ndarray | None,
    classes: Sequence[str],
    path: pathlib.Path,
    title: str = "",
) -> pathlib.Path:
    """The first class's probability for each true class, normalized with event weights.

    Args:
        probabilities: ``(n, C)`` class probabilities
        true_class: ``(n,)`` true class indices or names
        weights: ``(n,)`` event weights [default: unit]
        classes: the C class names
        path: the figure's file
        title: the figure's title

    Returns:
        ``path``
    """
    plt, mplhep = _pyplot()
    path = _prepared(path)
    score = np.asarray(probabilities, dtype=np.float64)[:, 0]
    truth = class_indices(true_class, classes, len(score))
    weights = np.ones(len(score)) if weights is None else np.asarray(weights, dtype=np.float64)
    bins = np.linspace(0.0, 1.0, SCORE_BINS + 1)
    with plt.style.context(mplhep.style.ATLAS):
        figure, ax = plt.subplots(figsize=(8, 6))
        for k, name in enumerate(classes):
            rows = truth == k
            if weights[rows].sum() <= 0:
                continue
            ax.hist(
                np.clip(score[rows], 0.0, 1.0),
                bins=bins,
                weights=weights[rows],
                density=True,
                histtype="step",
                linewidth=2 if k == 0 else 1.5,
                color=f"C{k % 10}",
                label=name,
            )
        ax.set_xlabel(f"p({classes[0]})")
        ax.set_ylabel("Normalized events (weighted)")
        ax.set_yscale("log")
        ax.legend(fontsize="small")
        if title:
            ax.set_title(title, fontsize="medium")
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
    return path


def draw_evaluation(
    evaluation: Evaluation,
    probabilities: np.ndarray,
    true_class: np.ndarray,
    weights: np.ndarray | None,
    folder: pathlib.Path,
) -> list[pathlib.Path]:
    """Draw every figure of an evaluation as PNGs into ``folder``; return their paths."""
    folder = pathlib.Path(folder)
    paths = [
        draw_confusion_matrix(evaluation.confusion, folder / "confusion_matrix.png"),
        draw_roc_curves(evaluation.roc, folder / "roc_one_vs_rest.png"),
        draw_score_distributions(
            probabilities,
            true_class,
            weights,
            evaluation.classes,
            folder / "score_distributions.png",
        ),
    ]
    if evaluation.importance is not None:
        paths.append(draw_importance(evaluation.importance, folder / "feature_importance.png"))
    return paths


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    return plt, mplhep


def _prepared(path: pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
