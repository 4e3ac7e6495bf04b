"""The figure of an autoencoder training: error distributions and ROC curves.

Reconstruction errors span decades (outliers of the scaled features), so the
distributions are drawn in logarithmic bins on a log-log plot, each normalized
to unit area with its event weights (negative ones as 0, as in the AUCs).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np

from liberica.models.train import roc

N_BINS = 40


def plot_errors(
    scores: np.ndarray,
    process: np.ndarray,
    weight: np.ndarray,
    backgrounds: Sequence[str],
    signals: Sequence[str],
    stem: pathlib.Path,
    title: str = "",
) -> pathlib.Path:
    """Draw the error distributions of the backgrounds and each signal, and their ROC curves.

    Args:
        scores: per-event reconstruction errors, each from the fold that did not train on it
        process: each row's process
        weight: each row's event weight
        backgrounds: the processes trained on (drawn together)
        signals: the processes scored against them (one curve each)
        stem: the figure's path without suffix; ``.png`` and ``.pdf`` are written
        title: the figure's title

    Returns:
        the PNG's path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    weight = np.clip(np.asarray(weight, dtype=np.float64), 0.0, None)
    positive = scores[scores > 0]
    low, high = (positive.min(), positive.max()) if positive.size else (1e-6, 1.0)
    bins = np.geomspace(low, max(high, low * 10), N_BINS + 1)
    clipped = np.clip(scores, bins[0], bins[-1])
    is_background = np.isin(process, list(backgrounds))
    colors = {name: f"C{k % 10}" for k, name in enumerate(signals)}
    colors["background"] = colors["all signals"] = "black"
    groups = [("background", is_background)] + [(name, process == name) for name in signals]
    stem.parent.mkdir(parents=True, exist_ok=True)
    with plt.style.context(mplhep.style.ATLAS):
        figure, (left, right) = plt.subplots(1, 2, figsize=(14, 6.5))
        for name, rows in groups:
            if rows.any() and weight[rows].sum() > 0:
                left.hist(
                    clipped[rows],
                    bins=bins,
                    weights=weight[rows],
                    density=True,
                    histtype="step",
                    linewidth=2 if name == "background" else 1.5,
                    color=colors[name],
                    label=name,
                )
        left.set_xscale("log")
        left.set_yscale("log")
        left.set_xlabel("Reconstruction error")
        left.set_ylabel("Normalized events")
        left.legend(fontsize="small")
        curves = [(name, [name]) for name in signals] + [("all signals", list(signals))]
        for name, members in curves:
            is_signal = np.isin(process, members)
            if weight[is_signal].sum() <= 0 or weight[is_background].sum() <= 0:
                continue
            rows = is_signal | is_background
            fpr, tpr, auc = roc(scores[rows], is_signal[rows].astype(float), weight[rows])
            style = "--" if name == "all signals" else "-"
            right.plot(fpr, tpr, style, color=colors[name], label=f"{name}, AUC {auc:.3f}")
        right.plot([0, 1], [0, 1], "k:", linewidth=1)
        right.set_xlim(0, 1)
        right.set_ylim(0, 1.05)
        right.set_xlabel("Background efficiency")
        right.set_ylabel("Signal efficiency")
        right.legend(loc="lower right", fontsize="small")
        if title:
            figure.suptitle(title)
        for fmt in ("png", "pdf"):
            figure.savefig(stem.with_suffix(f".{fmt}"), bbox_inches="tight")
        plt.close(figure)
    return stem.with_suffix(".png")
