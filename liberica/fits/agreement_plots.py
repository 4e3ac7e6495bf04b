"""Plots of the data/MC feature agreement (``fits/agreement.py``), one PNG each.

Per feature: the MC processes stacked (scaled to the data with ``shape_only``,
as the comparison is), the data with Garwood errors, the MC statistical band,
and a data/MC ratio panel; the legend's title gives chi2/ndf, the p-value and
the largest pull, and says when the feature is flagged. The drawing reuses
``fits/plots.py`` (style, legend placement, ratio panel, experiment label).
The summary is one bar per feature of the measure, with the threshold.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")

import hist  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from liberica.core.definition import Process  # noqa: E402
from liberica.fits import plots  # noqa: E402
from liberica.fits.agreement import Agreement, AgreementSummary, histogram_inputs  # noqa: E402
from liberica.fits.labels import observable_unit  # noqa: E402
from liberica.processors.histograms import NOMINAL  # noqa: E402

FLAGGED_COLOR = "#d62728"
KEPT_COLOR = "#1f77b4"


def _save_png(figure: plt.Figure, folder: pathlib.Path, name: str) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return path


def _p_value(p: float) -> str:
    """``= 0.23``, or ``< 1e-15`` where the survival function has no digits left."""
    return f"= {p:.2g}" if p >= 1e-15 else "< 1e-15"


def _title(agreement: Agreement) -> str:
    verdict = (
        f"FLAGGED: {agreement.measure} > {agreement.threshold:g}" if agreement.flagged else "kept"
    )
    low, high = agreement.max_pull_bin
    return (
        f"{agreement.name} ({verdict})\n"
        f"$\\chi^2$/ndf = {agreement.chi2:.1f}/{agreement.ndf} = {agreement.chi2_ndf:.2f}, "
        f"p {_p_value(agreement.p_value)}\n"
        f"max pull {agreement.max_pull:+.1f} in [{low:g}, {high:g}]"
    )


def feature_plot(
    h: hist.Hist,
    agreement: Agreement,
    processes: Mapping[str, Process],
    folder: pathlib.Path,
    *,
    lumi_fb: float | None = None,
    pseudo_data: bool = False,
) -> pathlib.Path:
    """Data against the stacked MC of one feature, with a ratio panel (module doc).

    Args:
        h: the feature's region histogram ``Hist(observable, process, variation)``
        agreement: its comparison (which processes were summed is ``processes``)
        processes: the MC processes stacked, by name (labels and colours)
        folder: where ``{feature}.png`` goes
        lumi_fb: luminosity for the label
        pseudo_data: the data are generated (labelled so, plot tagged "Simulation")

    Returns:
        the PNG's path
    """
    edges, data, mc, variance = histogram_inputs(h, list(processes))
    scale = agreement.normalization if agreement.shape_only else 1.0
    order = plots.stack_order(list(processes), processes)
    yields = [scale * h[:, name, NOMINAL].values() for name in order]
    total = scale * mc
    band = scale * np.sqrt(np.clip(variance, 0.0, None))
    errors = plots.poisson_errors(data)
    data_label = "Pseudo-data" if pseudo_data else "Data"
    mc_label = f"MC stat. unc.{f' (MC x {scale:.3f})' if agreement.shape_only else ''}"
    label = h.axes[0].label or agreement.name
    with plt.style.context(plots.STYLE):
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(9, 9), sharex=True, gridspec_kw={"height_ratios": (3, 1)}
        )
        bottom.set_xlim(edges[0], edges[-1])
        mplhep.histplot(
            yields,
            edges,
            stack=True,
            histtype="fill",
            label=[processes[name].label for name in order],
            color=[processes[name].color for name in order],
            ax=top,
        )
        top.stairs(
            total + band,
            edges,
            baseline=total - band,
            fill=True,
            hatch="////",
            facecolor="none",
            edgecolor="grey",
            linewidth=0,
            label=mc_label,
        )
        centres = 0.5 * (edges[1:] + edges[:-1])
        top.errorbar(centres, data, yerr=errors, fmt="ko", markersize=4, label=data_label)
        top.set_ylabel(plots.events_label(edges, observable_unit(label)))
        entries = dict(zip(*top.get_legend_handles_labels()[::-1], strict=True))
        labels = [data_label, *[processes[name].label for name in order][::-1], mc_label]
        legend = plots._place_legend(
            top,
            [entries[entry] for entry in labels],
            labels,
            _title(agreement),
            edges,
            np.fmax(data + errors[1], total + band),
        )
        if agreement.flagged:
            legend.get_title().set_color(FLAGGED_COLOR)
        plots._experiment_label(top, lumi_fb, pseudo_data)
        plots._ratio_panel(bottom, edges, data, total, band)
        bottom.set_ylabel("Data / MC")
        bottom.set_xlabel(label)
        return _save_png(figure, folder, agreement.name)


def summary_plot(
    summary: AgreementSummary,
    folder: pathlib.Path,
    *,
    lumi_fb: float | None = None,
    pseudo_data: bool = False,
) -> pathlib.Path:
    """The measure of every feature as a bar, flagged ones red, the threshold dashed.

    Returns:
        the path of ``agreement_summary.png`` in ``folder``
    """
    names = list(summary.results)
    values = np.array([summary.results[n].value for n in names])
    colors = [FLAGGED_COLOR if summary.results[n].flagged else KEPT_COLOR for n in names]
    axis_label = {"chi2_ndf": r"$\chi^2$/ndf", "max_pull": "|largest pull|"}[summary.measure]
    positions = np.arange(len(names))[::-1]
    with plt.style.context(plots.STYLE):
        figure, ax = plt.subplots(figsize=(8, 1.5 + 0.4 * len(names)))
        ax.barh(positions, values, color=colors)
        for position, value in zip(positions, values, strict=True):
            ax.annotate(
                f" {value:.3g}", (value, position), va="center", fontsize="small", clip_on=True
            )
        ax.axvline(summary.threshold, color="black", linestyle="--", linewidth=1.5)
        ax.set_yticks(positions, names)
        largest = max(float(np.nanmax(values)), summary.threshold)
        if largest > 30 * summary.threshold:  # room on the right for the values' text
            smallest = min(float(np.nanmin(values[values > 0], initial=largest)), summary.threshold)
            ax.set_xscale("log")
            ax.set_xlim(smallest / 3, largest * 8)
        else:
            ax.set_xlim(0, largest * 1.25)
        shape = " (shape only)" if summary.shape_only else ""
        ax.set_xlabel(f"{axis_label}{shape}; dashed: threshold {summary.threshold:g}")
        ax.set_ylim(-0.7, len(names) - 0.3)
        plots._experiment_label(ax, lumi_fb, pseudo_data)
        return _save_png(figure, folder, "agreement_summary")


def plot_agreement(
    histograms: Mapping[str, hist.Hist],
    summary: AgreementSummary,
    processes: Mapping[str, Process],
    folder: pathlib.Path,
    *,
    lumi_fb: float | None = None,
    pseudo_data: bool = False,
) -> list[pathlib.Path]:
    """One PNG per feature of ``summary`` and the summary bar plot.

    Args:
        histograms: the run's region histograms
        summary: the features' comparison
        processes: the definition's processes (those summed are taken from ``summary``)
        folder: where the PNGs go
    """
    stacked = {name: processes[name] for name in summary.processes}
    paths = [
        feature_plot(
            histograms[name], result, stacked, folder, lumi_fb=lumi_fb, pseudo_data=pseudo_data
        )
        for name, result in summary.results.items()
    ]
    return [*paths, summary_plot(summary, folder, lumi_fb=lumi_fb, pseudo_data=pseudo_data)]
