"""Fit plots with mplhep styling, each saved as PNG and PDF.

cabinetry's own plot functions switch matplotlib to cabinetry's style globally,
so the plots are drawn here from cabinetry's result containers instead:
data/MC stacks per region (pre-fit and post-fit, ratio panel, uncertainty
band), the impact ranking, the pulls, the correlation matrix and the CLs scan.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from cabinetry.fit.results_containers import FitResults  # noqa: E402
from cabinetry.model_utils import ModelPrediction  # noqa: E402

from liberica.core.definition import AnalysisDefinition  # noqa: E402
from liberica.fits.limit import UpperLimit  # noqa: E402
from liberica.fits.ranking import Impact  # noqa: E402

STYLE = mplhep.style.ATLAS
FORMATS = ("png", "pdf")


def save(figure: plt.Figure, folder: pathlib.Path, name: str) -> list[pathlib.Path]:
    """Save ``figure`` as ``folder/name.png`` and ``.pdf`` and close it."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{fmt}" for fmt in FORMATS]
    for path in paths:
        figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return paths


def _experiment_label(ax: plt.Axes, lumi_fb: float | None, text: str) -> None:
    mplhep.label.exp_label(
        exp="liberica", llabel=text, data=True, lumi=lumi_fb, com=13, ax=ax, loc=0
    )


def _display_name(name: str) -> str:
    if name == "mu":
        return r"$\mu$"
    return name.replace("staterror_", "MC stat. ").replace("xsec_", "xsec ")


def _category_label(value: str) -> str:
    """A category value with ``mu`` as the Greek letter, e.g. ``4mu`` -> ``4$\\mu$``."""
    return value.replace("mu", r"$\mu$")


def data_mc(
    prediction: ModelPrediction,
    data_per_channel: Sequence[Sequence[float]],
    definition: AnalysisDefinition,
    folder: pathlib.Path,
    stage: str,
    lumi_fb: float | None = None,
    edges: dict[str, Sequence[float]] | None = None,
) -> list[pathlib.Path]:
    """Stacked model against data per fit region, with a data/model ratio panel.

    The hatched band is the model's total uncertainty (pre-fit: every nuisance
    parameter at its constraint width; post-fit: with correlations).

    Args:
        prediction: cabinetry's model prediction, pre-fit or post-fit
        data_per_channel: observed bin contents per channel, in the model's order
        definition: the analysis, for labels, colours and binning
        folder: where the figures go
        stage: ``prefit`` or ``postfit``, used in the file names and the label
        lumi_fb: integrated luminosity for the label
        edges: bin edges per region, where the fit merged bins (default: the
            observable's regular binning)
    """
    model = prediction.model
    samples = list(model.config.samples)
    paths: list[pathlib.Path] = []
    for channel_index, channel in enumerate(model.config.channels):
        region = definition.regions[channel]
        observable = definition.observables[region.observable]
        if edges is not None and channel in edges:
            bin_edges = np.asarray(edges[channel], dtype=float)
        else:
            bin_edges = np.linspace(observable.low, observable.high, observable.bins + 1)
        yields = np.asarray(prediction.model_yields[channel_index])
        total = yields.sum(axis=0)
        band = np.asarray(prediction.total_stdev_model_bins[channel_index][-1])
        observed = np.asarray(data_per_channel[channel_index], dtype=float)
        # smallest contributions at the bottom of the stack
        order = np.argsort(yields.sum(axis=1))
        processes = [definition.processes[samples[i]] for i in order]
        with plt.style.context(STYLE):
            figure, (top, bottom) = plt.subplots(
                2, 1, figsize=(9, 9), sharex=True, gridspec_kw={"height_ratios": (3, 1)}
            )
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
                label="Uncertainty",
            )
            centres = 0.5 * (bin_edges[1:] + bin_edges[:-1])
            top.errorbar(
                centres, observed, yerr=np.sqrt(observed), fmt="ko", markersize=4, label="Data"
            )
            widths = np.diff(bin_edges)
            uniform = np.allclose(widths, widths[0])
            top.set_ylabel(f"Events / {widths[0]:g} GeV" if uniform else "Events / bin")
            top.set_ylim(0, 1.45 * max(observed.max() + np.sqrt(observed.max()), total.max()))
            # legend: data, then the stack from top to bottom, then the band
            entries = dict(zip(*top.get_legend_handles_labels()[::-1], strict=True))
            order = ["Data"] + [p.label for p in processes[::-1]] + ["Uncertainty"]
            top.legend([entries[k] for k in order], order, loc="upper right", fontsize="small")
            values = [v for kept in region.categories.values() for v in kept]
            channels = ", ".join(_category_label(v) for v in values) or channel
            if region.score is not None:
                channels += f", score {region.score[0]:g}-{region.score[1]:g}"
            _experiment_label(top, lumi_fb, f"{channels}, {stage.replace('fit', '-fit')}")
            safe = np.where(total > 0, total, np.nan)
            bottom.stairs(
                1 + band / safe,
                bin_edges,
                baseline=1 - band / safe,
                fill=True,
                hatch="////",
                facecolor="none",
                edgecolor="grey",
                linewidth=0,
            )
            bottom.errorbar(
                centres, observed / safe, yerr=np.sqrt(observed) / safe, fmt="ko", markersize=4
            )
            bottom.axhline(1.0, color="black", linestyle="--", linewidth=1)
            bottom.set_ylim(0.5, 1.5)
            bottom.set_ylabel("Data / Model")
            bottom.set_xlabel(observable.label)
            bottom.set_xlim(bin_edges[0], bin_edges[-1])
            paths += save(figure, folder, f"{channel}_{stage}")
    return paths


def ranking(
    impacts: Sequence[Impact],
    fit_results: FitResults,
    prefit_widths: dict[str, float],
    folder: pathlib.Path,
    max_parameters: int = 20,
) -> list[pathlib.Path]:
    """Impact of the leading nuisance parameters on mu, with their pulls."""
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
        ax.set_yticks(positions, [_display_name(i.name) + ("" if i.fitted else " *") for i in top])
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
        ax.set_yticks(positions, [_display_name(n) for n in include])
        ax.set_xlim(-3, 3)
        ax.set_ylim(-0.7, len(include) - 0.3)
        ax.set_xlabel(r"$(\hat\theta-\theta_0)/\Delta\theta$")
        return save(figure, folder, name)


def correlation_matrix(
    fit_results: FitResults, folder: pathlib.Path, threshold: float = 0.1
) -> list[pathlib.Path]:
    """Correlations among parameters that have any |rho| > threshold with another."""
    corr = np.asarray(fit_results.corr_mat)
    off = np.abs(corr - np.diag(np.diag(corr)))
    keep = np.flatnonzero(off.max(axis=1) > threshold)
    names = [_display_name(fit_results.labels[i]) for i in keep]
    sub = corr[np.ix_(keep, keep)]
    size = max(6.0, 0.45 * len(keep) + 3)
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(size, size))
        image = ax.imshow(sub, cmap="RdBu_r", vmin=-1, vmax=1)
        figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Correlation")
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
        ax.set_title(f"parameters with |correlation| > {threshold:g}", fontsize="small")
        return save(figure, folder, "correlation_matrix")


def cls_scan(limit: UpperLimit, folder: pathlib.Path) -> list[pathlib.Path]:
    """Observed and expected CLs against mu, with the limit's confidence level."""
    mu = np.asarray(limit.scan_mu)
    expected = np.asarray(limit.scan_expected_cls)  # columns: +2, +1, 0, -1, -2 sigma points
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
            color="red",
            linewidth=1,
            label=f"{limit.confidence_level:.0%} CL",
        )
        ax.set_yscale("log")
        ax.set_ylim(1e-4, 1.5)
        ax.set_xlim(0, mu[-1])
        ax.set_xlabel(r"$\mu$")
        ax.set_ylabel(r"CL$_s$")
        ax.legend(loc="upper right", fontsize="small")
        return save(figure, folder, "cls_scan")


def toy_pulls(toy_sets: Sequence, folder: pathlib.Path) -> list[pathlib.Path]:
    """The pull distribution of the toys at each true mu, with a Gaussian fit.

    The Gaussian is the maximum-likelihood one (mean and width of the pulls);
    the unit Gaussian is drawn for comparison.
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
            ax.hist(pulls, bins=edges, histtype="step", color="black", label="Toys")
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
            ax.set_title(
                f"$\\mu_\\mathrm{{true}}$ = {toys.mu_true:g}: {toys.n} toys, "
                f"{toys.n_failed} failed, 68% coverage {toys.coverage_68:.3f}",
                fontsize="small",
            )
            ax.legend(fontsize="small", loc="upper right")
            ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
        return save(figure, folder, "pulls")
