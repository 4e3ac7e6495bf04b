"""The search's plots: each selection's spectrum fits with a pull panel, and the sculpting.

Saved as PNG and PDF under ``RUNDIR/search/figures/`` (``fits/plots.save``).
"""

from __future__ import annotations

import pathlib
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from liberica.analysis.definition import AnalysisDefinition  # noqa: E402
from liberica.fits.plots import STYLE, save  # noqa: E402
from liberica.fits.spectrum import Spectrum  # noqa: E402


def _label(definition: AnalysisDefinition, observable: str) -> str:
    known = definition.observables.get(observable)
    return known.label if known is not None else observable


def spectrum_fit(
    name: str, fits: dict[str, Any], definition: AnalysisDefinition, folder: pathlib.Path
) -> list[pathlib.Path]:
    """Data, the background MC, the H0 and H1 fits, the window; pulls of data against both."""
    data: Spectrum = fits["data"]
    edges = data.edges
    observed, window = fits["observed"], fits["window"]
    region = definition.search.selections[name]
    observable = definition.regions[region].observable
    with plt.style.context(STYLE):
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(8, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        mplhep.histplot(fits["background"].values, edges, ax=top, label="background MC",
                        histtype="fill", color="#6b59d3", alpha=0.35)  # fmt: skip
        mplhep.histplot(fits["signal"].values, edges, ax=top, label=f"{definition.search.signal} MC",
                        color="#e41a1c")  # fmt: skip
        mplhep.histplot(observed.h0.expected, edges, ax=top, label="H0 fit (background)",
                        color="black", linestyle="--")  # fmt: skip
        mplhep.histplot(observed.h1.expected, edges, ax=top, label=(
            f"H1 fit: s = {observed.signal_yield:.0f} $\\pm$ {observed.signal_yield_error:.0f}, "
            f"Z = {observed.z:+.2f}"), color="black")  # fmt: skip
        centres = 0.5 * (edges[1:] + edges[:-1])
        top.errorbar(centres, data.values, np.sqrt(data.values), fmt="ko", ms=4, label="data")
        for ax in (top, bottom):
            ax.axvspan(window.low, window.high, color="grey", alpha=0.15, lw=0)
        top.set_ylabel("Events / bin")
        top.set_yscale("log")
        top.set_ylim(bottom=max(0.1, 0.3 * float(np.min(observed.h0.expected))))
        top.legend(fontsize=11, title=f"{name} ({region}), window shaded", title_fontsize=11)
        for fit, style, label in ((observed.h0, "--", "H0"), (observed.h1, "o", "H1")):
            pull = (data.values - fit.expected) / np.sqrt(np.maximum(fit.expected, 1e-9))
            if style == "o":
                bottom.plot(centres, pull, "ko", ms=4, label=label)
            else:
                bottom.step(centres, pull, where="mid", color="black", linestyle="--", label=label)
        bottom.axhline(0, color="grey", lw=1)
        bottom.set_ylabel("(data - fit) / \u221afit", fontsize=12)
        bottom.set_xlabel(_label(definition, observable))
        bottom.legend(fontsize=10, ncol=2)
        return save(figure, folder, f"spectrum_{name}")


def sculpting(
    drawn: dict[str, dict[str, Any]],
    reference: Spectrum,
    definition: AnalysisDefinition,
    folder: pathlib.Path,
) -> list[pathlib.Path]:
    """The background spectrum after each selection against the preselection, normalized."""
    observable = definition.regions[definition.search.preselection].observable
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(8, 6))
        widths = np.diff(reference.edges)
        mplhep.histplot(reference.values / reference.values.sum() / widths, reference.edges,
                        ax=ax, label=f"preselection ({definition.search.preselection})",
                        color="black", histtype="fill", alpha=0.2)  # fmt: skip
        for name, fits in drawn.items():
            background = fits["background_full"]
            density = background.values / background.values.sum() / np.diff(background.edges)
            mplhep.histplot(density, background.edges, ax=ax, label=name)
        ax.set_xlabel(_label(definition, observable))
        ax.set_ylabel("background, normalized [1/GeV]")
        ax.legend(title="background MC")
        return save(figure, folder, "sculpting")


def draw(
    drawn: dict[str, dict[str, Any]],
    reference: Spectrum,
    definition: AnalysisDefinition,
    folder: pathlib.Path,
) -> list[pathlib.Path]:
    """Every search plot; returns the files written."""
    paths = []
    for name, fits in drawn.items():
        paths += spectrum_fit(name, fits, definition, folder)
    paths += sculpting(drawn, reference, definition, folder)
    return paths
