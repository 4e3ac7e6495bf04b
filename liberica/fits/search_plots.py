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

from liberica.core.definition import AnalysisDefinition, SculptingConfig  # noqa: E402
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
    spectra: dict[str, Spectrum],
    config: SculptingConfig,
    definition: AnalysisDefinition,
    folder: pathlib.Path,
) -> list[pathlib.Path]:
    """The background spectrum after each selection against the reference, normalized;
    below, each one's ratio to the reference's shape (1: no sculpting)."""
    reference = spectra[config.reference]
    observable = definition.regions[config.reference].observable
    processes = list(config.processes) or ["background"]
    widths = np.diff(reference.edges)
    shape_0 = reference.values / reference.values.sum()
    with plt.style.context(STYLE):
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(8, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        mplhep.histplot(shape_0 / widths, reference.edges, ax=top,
                        label=f"reference ({config.reference})", color="black",
                        histtype="fill", alpha=0.2)  # fmt: skip
        for name, region in config.selections.items():
            shape = spectra[name].values / spectra[name].values.sum()
            line = mplhep.histplot(shape / widths, reference.edges, ax=top,
                                   label=f"{name} ({region})")  # fmt: skip
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(shape_0 > 0, shape / shape_0, np.nan)
            mplhep.histplot(ratio, reference.edges, ax=bottom, color=line[0].stairs.get_edgecolor())
        bottom.axhline(1.0, color="grey", lw=1)
        bottom.set_xlim(reference.edges[0], reference.edges[-1])
        bottom.set_ylabel("shape ratio", fontsize=12)
        bottom.set_xlabel(_label(definition, observable))
        top.set_ylabel(f"{', '.join(processes)}, normalized [1/GeV]")
        top.legend(title=f"{', '.join(processes)} MC", fontsize=11)
        name = "sculpting" if definition.sculpting is None else f"sculpting_{config.reference}"
        return save(figure, folder, name)


def draw(
    drawn: dict[str, dict[str, Any]], definition: AnalysisDefinition, folder: pathlib.Path
) -> list[pathlib.Path]:
    """Each selection's spectrum fit plot; returns the files written."""
    paths = []
    for name, fits in drawn.items():
        paths += spectrum_fit(name, fits, definition, folder)
    return paths
