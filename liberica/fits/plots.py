"""Fit plots with mplhep styling, each saved as PNG and PDF.

cabinetry's own plot functions switch matplotlib to cabinetry's style globally,
so the plots are drawn here from cabinetry's result containers instead:
data/MC stacks per region (pre-fit and post-fit, ratio panel, uncertainty
band), the impact ranking, the pulls, the correlation matrix and the CLs scan.

Every plot carries the experiment label with the luminosity, tagged
"Simulation" when the data are generated pseudo-data; parameters are named by
:func:`liberica.fits.labels.parameter_label`, as in results.json.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import hist.intervals  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from cabinetry.fit.results_containers import FitResults  # noqa: E402
from cabinetry.model_utils import ModelPrediction  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402

from liberica.core.definition import AnalysisDefinition, Process  # noqa: E402
from liberica.fits.labels import observable_unit, parameter_label  # noqa: E402
from liberica.fits.limit import UpperLimit  # noqa: E402
from liberica.fits.ranking import Impact  # noqa: E402

STYLE = mplhep.style.ATLAS
FORMATS = ("png", "pdf")

#: the ratio panel spans 1 +- the first half-width that holds every point's centre;
#: a point beyond the last is an arrow at the panel's edge, so that one empty or
#: doubled bin does not squash the others
RATIO_HALF_WIDTHS = (0.5, 0.75)

#: free space kept between the legend (or the axes' top) and the highest bin
#: under it, in fractions of the axes' height
LEGEND_MARGIN = 0.03

#: modifier types whose parameters the bands count as MC statistics or systematics
_MC_STAT_TYPES = frozenset({"staterror", "shapesys"})
_SYST_TYPES = frozenset({"normsys", "histosys", "lumi"})


def save(figure: plt.Figure, folder: pathlib.Path, name: str) -> list[pathlib.Path]:
    """Save ``figure`` as ``folder/name.png`` and ``.pdf`` and close it."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{fmt}" for fmt in FORMATS]
    for path in paths:
        figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return paths


def _experiment_label(ax: plt.Axes, lumi_fb: float | None, pseudo_data: bool) -> None:
    """The experiment and luminosity above ``ax``; "Simulation" when no data are real.

    Call it once the y range is final: mplhep draws the whole figure (about a
    second) to move the label clear of the y-axis' x10^n text, which appears
    only beyond the formatter's limits, so it is asked to only then.
    """
    scientific = 10.0 ** plt.rcParams["axes.formatter.limits"][1]
    mplhep.label.exp_label(
        scilocator_adjust=max(np.abs(ax.get_ylim())) >= scientific,
        exp="liberica",
        llabel="Simulation" if pseudo_data else "",
        data=True,
        lumi=lumi_fb,
        lumi_format="{0:g}",
        com=13,
        ax=ax,
        loc=0,
    )


def _label_above(
    figure: plt.Figure, ax: plt.Axes, lumi_fb: float | None, pseudo_data: bool
) -> None:
    """The experiment label above everything ``ax`` draws over its top (a twin's ticks).

    mplhep places the label on the axes' top edge, where a twin x-axis has its
    tick labels; an empty axes just above their extent carries it instead.
    """
    extent = ax.get_tightbbox(figure.canvas.get_renderer()).transformed(
        figure.transFigure.inverted()
    )
    box = ax.get_position()
    header = figure.add_axes((box.x0, extent.y1 + 0.005, box.width, 1e-3))
    header.axis("off")
    _experiment_label(header, lumi_fb, pseudo_data)


def poisson_errors(counts: np.ndarray) -> np.ndarray:
    """Down and up errors of counts: Garwood 68% central intervals.

    sqrt(N) is too small below the mean for few counts and zero for an empty
    bin; the Garwood interval of 0 counts is [0, 1.84].

    Returns:
        array of shape (2, n): the distances to the interval's lower and upper ends
    """
    counts = np.asarray(counts, dtype=float)
    low, high = hist.intervals.poisson_interval(counts)
    return np.array([counts - np.nan_to_num(low), high - counts])


def stack_order(samples: Sequence[str], processes: Mapping[str, Process]) -> list[str]:
    """The samples from the bottom of the stack up: backgrounds, then signals.

    Each group keeps the definition's process order, so that the stack and its
    legend are the same in every region, pre-fit and post-fit.
    """
    position = {name: index for index, name in enumerate(processes)}
    return sorted(samples, key=lambda s: (processes[s].kind == "signal", position[s]))


def events_label(edges: np.ndarray, unit: str) -> str:
    """The y-axis label: ``Events / 5 GeV`` for regular bins, ``Events / bin`` otherwise."""
    widths = np.diff(np.asarray(edges, dtype=float))
    if not np.allclose(widths, widths[0]):
        return "Events / bin"
    return f"Events / {widths[0]:g} {unit}".rstrip()


def _band_label(model, stage: str) -> str:
    """What the hatched band holds, from the model's modifier types.

    Pre-fit, cabinetry gives unconstrained parameters (mu) no width; post-fit,
    they count with their fitted errors and correlations.
    """
    kinds = {kind for _, kind in model.config.modifiers}
    sources = ["MC stat."] if kinds & _MC_STAT_TYPES else []
    sources += ["syst."] if kinds & _SYST_TYPES else []
    if stage == "prefit":
        return f"Pre-fit unc. ({' + '.join(sources)})" if sources else "Pre-fit unc."
    free = [n for n, kind in model.config.modifiers if kind == "normfactor"]
    sources += [r"$\mu$" if n == "mu" else n for n in dict.fromkeys(free)]
    return f"Post-fit unc. ({' + '.join(sources)})" if sources else "Post-fit unc."


def _category_label(value: str) -> str:
    """A category value with ``mu`` as the Greek letter, e.g. ``4mu`` -> ``4$\\mu$``."""
    return value.replace("mu", r"$\mu$")


def _region_title(definition: AnalysisDefinition, channel: str, stage: str) -> str:
    region = definition.regions[channel]
    values = [v for kept in region.categories.values() for v in kept]
    title = ", ".join(_category_label(v) for v in values) or channel
    if region.score is not None:
        title += f", score {region.score[0]:g}-{region.score[1]:g}"
    return f"{title}\n{stage.replace('fit', '-fit').capitalize()}"


def _headroom(ax: plt.Axes, legend: Legend, edges: np.ndarray, tops: np.ndarray) -> float:
    """The y-axis top at which no bin top reaches the legend box or the axes' top.

    The legend sits at a fixed place in axes fractions, whatever the y range:
    a bin under it must stay below its lower edge.
    """
    box = legend.get_window_extent(ax.figure.canvas.get_renderer())
    box = box.transformed(ax.transAxes.inverted())
    low, high = ax.get_xlim()
    x0, x1 = low + box.x0 * (high - low), low + box.x1 * (high - low)
    covered = (edges[1:] > x0) & (edges[:-1] < x1)
    top = np.nanmax(tops) / (1 - LEGEND_MARGIN)
    free = max(box.y0 - LEGEND_MARGIN, 0.1)
    if covered.any():
        top = max(top, np.nanmax(tops[covered]) / free)
    return float(top)


def _place_legend(
    ax: plt.Axes, handles: list, labels: list[str], title: str, edges: np.ndarray, tops: np.ndarray
) -> Legend:
    """The legend in the upper corner that needs less headroom, above every bin.

    ``tops``: the highest drawn value per bin (data with its error, model with
    its band).
    """
    style = {"fontsize": "small", "title": title, "title_fontsize": "small", "alignment": "left"}
    best: tuple[float, str] | None = None
    for loc in ("upper right", "upper left"):
        legend = ax.legend(handles, labels, loc=loc, **style)
        top = _headroom(ax, legend, edges, tops)
        legend.remove()
        if best is None or top < best[0]:
            best = (top, loc)
    ax.set_ylim(0, best[0] if best[0] > 0 else 1.0)  # an empty plot keeps a unit range
    return ax.legend(handles, labels, loc=best[1], **style)


def _ratio_range(ratio: np.ndarray) -> tuple[float, float]:
    """1 +- the first of RATIO_HALF_WIDTHS that holds every finite ratio."""
    deviation = np.abs(ratio[np.isfinite(ratio)] - 1)
    half = RATIO_HALF_WIDTHS[-1]
    for candidate in RATIO_HALF_WIDTHS:
        if np.all(deviation <= candidate):
            half = candidate
            break
    return 1 - half, 1 + half


def _ratio_panel(
    ax: plt.Axes, edges: np.ndarray, observed: np.ndarray, total: np.ndarray, band: np.ndarray
) -> None:
    """Data over model with the band's relative width; off-scale points as arrows."""
    centres = 0.5 * (edges[1:] + edges[:-1])
    expected = np.where(total > 0, total, np.nan)
    ratio = observed / expected
    errors = poisson_errors(observed) / expected
    ax.stairs(
        1 + band / expected,
        edges,
        baseline=1 - band / expected,
        fill=True,
        hatch="////",
        facecolor="none",
        edgecolor="grey",
        linewidth=0,
    )
    low, high = _ratio_range(ratio)
    inside = (ratio >= low) & (ratio <= high)
    ax.errorbar(centres[inside], ratio[inside], yerr=errors[:, inside], fmt="ko", markersize=4)
    span = high - low
    for x, value in zip(centres[~inside], ratio[~inside], strict=True):
        if not np.isfinite(value):
            continue  # no model in the bin: nothing to compare with
        up = value > high
        edge, inward = (high, -1) if up else (low, 1)
        ax.annotate(
            "",
            xy=(x, edge + inward * 0.03 * span),
            xytext=(x, edge + inward * 0.35 * span),
            arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.5},
        )
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_ylim(low, high)


BLINDED_LABEL = "Blinded"
"""The legend entry of the bins whose data a blinded run hides."""


def _hatch_blinded(axes: Sequence[plt.Axes], edges: np.ndarray, blinded: np.ndarray):
    """Grey cross-hatch over the blinded bins of every panel; returns one patch for the
    legend."""
    patch = None
    for ax in axes:
        for low, high in zip(edges[:-1][blinded], edges[1:][blinded], strict=True):
            patch = ax.axvspan(
                low, high, facecolor="none", edgecolor="grey", hatch="xx", linewidth=0, zorder=3
            )
    return patch


def data_mc(
    prediction: ModelPrediction,
    data_per_channel: Sequence[Sequence[float]],
    definition: AnalysisDefinition,
    folder: pathlib.Path,
    stage: str,
    lumi_fb: float | None = None,
    edges: Mapping[str, Sequence[float]] | None = None,
    *,
    pseudo_data: bool = False,
    hidden: Mapping[str, np.ndarray] | None = None,
    data_label: str | None = None,
) -> list[pathlib.Path]:
    """Stacked model against data per fit region, with a data/model ratio panel.

    The stack has the definition's process order, backgrounds below the
    signals, in every region and stage. The hatched band is the model's total
    uncertainty (pre-fit: every constrained parameter at its constraint width;
    post-fit: every parameter, mu included, with correlations). Data errors are
    Garwood 68% intervals.

    Args:
        prediction: cabinetry's model prediction, pre-fit or post-fit
        data_per_channel: observed bin contents per channel, in the model's order
        definition: the analysis, for labels, colours and binning
        folder: where the figures go
        stage: ``prefit`` or ``postfit``, used in the file names and the label
        lumi_fb: integrated luminosity for the label
        edges: bin edges per region, where the fit merged bins (default: the
            observable's binning)
        pseudo_data: the data are generated pseudo-data (labelled so, and the
            plot tagged "Simulation")
        hidden: per region, the blinded bins (bool over its bins): drawn without data
            points, grey cross-hatched, with a "Blinded" legend entry
        data_label: the data's legend entry [default: "Data", or "Pseudo-data"]
    """
    model = prediction.model
    samples = list(model.config.samples)
    order = [samples.index(s) for s in stack_order(samples, definition.processes)]
    processes = [definition.processes[samples[i]] for i in order]
    band_label = _band_label(model, stage)
    data_label = data_label or ("Pseudo-data" if pseudo_data else "Data")
    paths: list[pathlib.Path] = []
    for channel_index, channel in enumerate(model.config.channels):
        observable = definition.observables[definition.regions[channel].observable]
        if edges is not None and channel in edges:
            bin_edges = np.asarray(edges[channel], dtype=float)
        else:
            bin_edges = np.asarray(observable.bin_edges(), dtype=float)
        yields = np.asarray(prediction.model_yields[channel_index])
        total = yields.sum(axis=0)
        band = np.asarray(prediction.total_stdev_model_bins[channel_index][-1])
        observed = np.asarray(data_per_channel[channel_index], dtype=float)
        blinded = (hidden or {}).get(channel)
        if blinded is not None and blinded.any():
            observed = np.where(blinded, np.nan, observed)
        else:
            blinded = None
        errors = poisson_errors(observed)
        with plt.style.context(STYLE):
            figure, (top, bottom) = plt.subplots(
                2, 1, figsize=(9, 9), sharex=True, gridspec_kw={"height_ratios": (3, 1)}
            )
            bottom.set_xlim(bin_edges[0], bin_edges[-1])
            mplhep.histplot(
                [yields[i] for i in order],
                bin_edges,
                stack=True,
                histtype="fill",
                label=[p.label for p in processes],
                color=[p.color for p in processes],
                ax=top,
            )
            top.stairs(
                total + band,
                bin_edges,
                baseline=total - band,
                fill=True,
                hatch="////",
                facecolor="none",
                edgecolor="grey",
                linewidth=0,
                label=band_label,
            )
            centres = 0.5 * (bin_edges[1:] + bin_edges[:-1])
            top.errorbar(centres, observed, yerr=errors, fmt="ko", markersize=4, label=data_label)
            top.set_ylabel(events_label(bin_edges, observable_unit(observable.label)))
            # legend: data, then the stack from top to bottom, then the band
            entries = dict(zip(*top.get_legend_handles_labels()[::-1], strict=True))
            labels = [data_label, *[p.label for p in processes][::-1], band_label]
            if blinded is not None:
                entries[BLINDED_LABEL] = _hatch_blinded((top, bottom), bin_edges, blinded)
                labels.append(BLINDED_LABEL)
            _place_legend(
                top,
                [entries[label] for label in labels],
                labels,
                _region_title(definition, channel, stage),
                bin_edges,
                np.fmax(observed + errors[1], total + band),
            )
            _experiment_label(top, lumi_fb, pseudo_data)
            _ratio_panel(bottom, bin_edges, observed, total, band)
            bottom.set_ylabel("Data / Model")
            bottom.set_xlabel(observable.label)
            paths += save(figure, folder, f"{channel}_{stage}")
    return paths


def ranking(
    impacts: Sequence[Impact],
    fit_results: FitResults,
    prefit_widths: dict[str, float],
    folder: pathlib.Path,
    max_parameters: int = 20,
    *,
    lumi_fb: float | None = None,
    pseudo_data: bool = False,
    edges: Mapping[str, np.ndarray] | None = None,
    unit: str | Mapping[str, str] = "GeV",
) -> list[pathlib.Path]:
    """Impact of the leading nuisance parameters on mu, with their pulls.

    ``edges`` and ``unit`` name the MC-statistics parameters by their bins
    (:func:`liberica.fits.labels.parameter_label`).
    """
    top = list(impacts[:max_parameters])[::-1]
    positions = np.arange(len(top))
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(9, 2 + 0.45 * len(top)))
        prefit_up = [i.prefit_impact_up for i in top]
        prefit_down = [i.prefit_impact_down for i in top]
        ax.barh(
            positions,
            prefit_up,
            fill=False,
            edgecolor="C0",
            label=r"Pre-fit $\Delta\mu$, $\theta=\hat\theta+\Delta\theta$",
        )
        ax.barh(
            positions,
            prefit_down,
            fill=False,
            edgecolor="C1",
            label=r"Pre-fit $\Delta\mu$, $\theta=\hat\theta-\Delta\theta$",
        )
        ax.barh(
            positions,
            [i.impact_up for i in top],
            color="C0",
            alpha=0.7,
            label=r"Post-fit $\Delta\mu$, $\theta=\hat\theta+\Delta\hat\theta$",
        )
        ax.barh(
            positions,
            [i.impact_down for i in top],
            color="C1",
            alpha=0.7,
            label=r"Post-fit $\Delta\mu$, $\theta=\hat\theta-\Delta\hat\theta$",
        )
        names = [parameter_label(i.name, edges, unit) + ("" if i.fitted else " *") for i in top]
        ax.set_yticks(positions, names)
        ax.set_xlabel(r"$\Delta\mu$")
        limit = 1.3 * max(
            max(
                abs(i.prefit_impact_up),
                abs(i.prefit_impact_down),
                abs(i.impact_up),
                abs(i.impact_down),
            )
            for i in top
        )
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-0.7, len(top) + 2.5)
        pull_axis = ax.twiny()
        pull, constraint = _pulls(fit_results, prefit_widths, [i.name for i in top])
        pull_axis.errorbar(
            pull,
            positions,
            xerr=constraint,
            fmt="ko",
            markersize=4,
            label=r"Pull $(\hat\theta-\theta_0)/\Delta\theta$",
        )
        pull_axis.set_xlim(-2, 2)
        pull_axis.set_xlabel(r"$(\hat\theta-\theta_0)/\Delta\theta$")
        handles = ax.get_legend_handles_labels()
        extra = pull_axis.get_legend_handles_labels()
        ax.legend(
            handles[0] + extra[0],
            handles[1] + extra[1],
            loc="upper left",
            fontsize="x-small",
            ncols=2,
        )
        _label_above(figure, pull_axis, lumi_fb, pseudo_data)
        return save(figure, folder, "ranking")


def _pulls(
    fit_results: FitResults, prefit_widths: dict[str, float], names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(theta_hat - theta_0) / Delta theta and the post-fit error in the same units.

    theta_0 is 1 for MC-statistics gammas and 0 for the other nuisance parameters;
    Delta theta is the pre-fit width.
    """
    labels = list(fit_results.labels)
    index = [labels.index(n) for n in names]
    theta0 = np.array([1.0 if n.startswith("staterror_") else 0.0 for n in names])
    width = np.array([prefit_widths[n] for n in names])
    pull = (np.asarray(fit_results.bestfit)[index] - theta0) / width
    return pull, np.asarray(fit_results.uncertainty)[index] / width


def pulls(
    fit_results: FitResults,
    prefit_widths: dict[str, float],
    include: Sequence[str],
    folder: pathlib.Path,
    name: str,
    *,
    lumi_fb: float | None = None,
    pseudo_data: bool = False,
    edges: Mapping[str, np.ndarray] | None = None,
    unit: str | Mapping[str, str] = "GeV",
) -> list[pathlib.Path]:
    """Pulls and constraints of the parameters in ``include``, within +-1 and +-2 bands."""
    pull, constraint = _pulls(fit_results, prefit_widths, include)
    positions = np.arange(len(include))[::-1]
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(7, 1.5 + 0.3 * len(include)))
        ax.axvspan(-2, 2, color="yellow", alpha=0.6, linewidth=0)
        ax.axvspan(-1, 1, color="limegreen", alpha=0.6, linewidth=0)
        ax.axvline(0, color="black", linestyle=":", linewidth=1)
        ax.errorbar(pull, positions, xerr=constraint, fmt="ko", markersize=4)
        ax.set_yticks(positions, [parameter_label(n, edges, unit) for n in include])
        ax.set_xlim(-3, 3)
        ax.set_ylim(-0.7, len(include) - 0.3)
        ax.set_xlabel(r"$(\hat\theta-\theta_0)/\Delta\theta$")
        _experiment_label(ax, lumi_fb, pseudo_data)
        return save(figure, folder, name)


def correlation_matrix(
    fit_results: FitResults,
    folder: pathlib.Path,
    threshold: float = 0.1,
    *,
    lumi_fb: float | None = None,
    pseudo_data: bool = False,
    edges: Mapping[str, np.ndarray] | None = None,
    unit: str | Mapping[str, str] = "GeV",
) -> list[pathlib.Path]:
    """Correlations among parameters that have any |rho| > threshold with another."""
    corr = np.asarray(fit_results.corr_mat)
    off = np.abs(corr - np.diag(np.diag(corr)))
    keep = np.flatnonzero(off.max(axis=1) > threshold)
    names = [parameter_label(fit_results.labels[i], edges, unit) for i in keep]
    sub = corr[np.ix_(keep, keep)]
    size = max(6.0, 0.45 * len(keep) + 3)
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(size, size))
        image = ax.imshow(sub, cmap="RdBu_r", vmin=-1, vmax=1)
        figure.colorbar(
            image,
            ax=ax,
            fraction=0.046,
            pad=0.04,
            label=f"Correlation (parameters with some |correlation| > {threshold:g})",
        )
        ax.set_xticks(range(len(keep)), names, rotation=90)
        ax.set_yticks(range(len(keep)), names)
        ax.minorticks_off()
        if len(keep) <= 25:
            for (row, column), value in np.ndenumerate(sub):
                if abs(value) >= 0.005:
                    ax.text(
                        column,
                        row,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if abs(value) > 0.6 else "black",
                    )
        _experiment_label(ax, lumi_fb, pseudo_data)
        return save(figure, folder, "correlation_matrix")


def cls_scan(
    limit: UpperLimit,
    folder: pathlib.Path,
    *,
    lumi_fb: float | None = None,
    pseudo_data: bool = False,
) -> list[pathlib.Path]:
    """Observed and expected CLs against mu, with the limit's confidence level.

    The vertical lines are the limits the scan gives (``limit.observed`` and the
    median of ``limit.expected``), refined between scan points, so they need not
    fall on a drawn point.
    """
    mu = np.asarray(limit.scan_mu)
    expected = np.asarray(limit.scan_expected_cls)  # columns: +2, +1, 0, -1, -2 sigma points
    median = limit.expected[2]  # limits ordered -2, -1, 0, +1, +2 sigma
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(8, 6))
        ax.fill_between(
            mu, expected[:, 0], expected[:, 4], color="yellow", label=r"Expected $\pm 2\sigma$"
        )
        ax.fill_between(
            mu, expected[:, 1], expected[:, 3], color="limegreen", label=r"Expected $\pm 1\sigma$"
        )
        ax.plot(mu, expected[:, 2], "k--", label="Expected")
        ax.plot(mu, limit.scan_observed_cls, "ko-", markersize=3, label="Observed")
        ax.axhline(
            1 - limit.confidence_level,
            color="grey",
            linestyle=":",
            linewidth=1.5,
            label=f"{limit.confidence_level:.0%} CL",
        )
        ax.axvline(
            limit.observed,
            color="#d62728",
            linewidth=2,
            label=f"Observed limit: $\\mu$ < {limit.observed:.3g}",
        )
        ax.axvline(
            median,
            color="#1f77b4",
            linewidth=2,
            linestyle="--",
            label=f"Expected limit: $\\mu$ < {median:.3g}",
        )
        ax.set_yscale("log")
        ax.set_ylim(1e-4, 1.5)
        ax.set_xlim(0, max(mu[-1], limit.observed, median))
        ax.set_xlabel(r"$\mu$")
        ax.set_ylabel(r"CL$_s$")
        ax.legend(loc="best", fontsize="small")
        _experiment_label(ax, lumi_fb, pseudo_data)
        return save(figure, folder, "cls_scan")


def toy_pulls(
    toy_sets: Sequence, folder: pathlib.Path, *, lumi_fb: float | None = None
) -> list[pathlib.Path]:
    """The pull distribution of the toys at each true mu, with a Gaussian fit.

    The Gaussian is the maximum-likelihood one (mean and width of the pulls);
    the unit Gaussian is drawn for comparison. Toys are pseudo-experiments, so
    the plot is tagged "Simulation".
    """
    from scipy.stats import norm

    with plt.style.context(STYLE):
        figure, axes = plt.subplots(
            1, len(toy_sets), figsize=(6 * len(toy_sets), 5.5), squeeze=False
        )
        for ax, toys in zip(axes[0], toy_sets, strict=True):
            pulls = np.array([t.pull for t in toys.toys if t.valid])
            edges = np.linspace(-4, 4, 33)
            width = edges[1] - edges[0]
            counts, _, _ = ax.hist(pulls, bins=edges, histtype="step", color="black", label="Toys")
            x = np.linspace(-4, 4, 200)
            scale = len(pulls) * width
            mean, sigma = norm.fit(pulls) if len(pulls) > 1 else (np.nan, np.nan)
            ax.plot(
                x,
                scale * norm.pdf(x, mean, sigma),
                color="#d62728",
                label=f"Gaussian fit: {mean:.3f} $\\pm$ {sigma:.3f}",
            )
            ax.plot(x, scale * norm.pdf(x), color="grey", linestyle="--", label="N(0, 1)")
            ax.set_xlabel(r"$(\hat{\mu} - \mu_\mathrm{true}) / \sigma_{\hat{\mu}}$")
            ax.set_ylabel(f"Toys / {width:g}")
            ax.set_xlim(edges[0], edges[-1])
            title = (
                f"$\\mu_\\mathrm{{true}}$ = {toys.mu_true:g}: {toys.n} toys, "
                f"{toys.n_failed} failed\n68% coverage {toys.coverage_68:.3f}"
            )
            handles, labels = ax.get_legend_handles_labels()
            centres = edges[:-1] + width / 2
            curves = np.fmax(scale * norm.pdf(centres, mean, sigma), scale * norm.pdf(centres))
            _place_legend(ax, handles, labels, title, edges, np.fmax(curves, counts))
            _experiment_label(ax, lumi_fb, pseudo_data=True)
        return save(figure, folder, "pulls")
