"""Figures of a bump hunt (:mod:`liberica.fits.lee`), one PNG each, per region.

- the spectrum: data (Garwood errors) over the background, the hunt's window
  shaded, and below, each bin's significance (data - background) / sqrt(background);
- the local p-value scan: every window of the chosen width, and per bin the
  smallest local p-value of any window holding it, on a log scale with the
  1-5 sigma levels;
- the background-only distribution of the test statistic t, the data's t marked,
  and the global p-value (a bound written as one).

Each ``*_figure`` function returns the open figure (for a notebook, or a test
that reads it back); the function of the same name without it writes the PNG.
"""

from __future__ import annotations

import logging
import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from liberica.fits.lee import BumpHunt, RegionsHunt  # noqa: E402
from liberica.fits.plots import STYLE, poisson_errors  # noqa: E402

# the ATLAS style's mathtext asks for a 'cursive' family that Debian's fonts lack; the
# fallback (DejaVu) is what is drawn anyway, so the lookup's warning is noise
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

SIGMA_LEVELS = (1, 2, 3, 4, 5)
"""The significances marked on the local p-value scan."""

WINDOW_GID = "window"
"""The ``gid`` of the shaded window, so a reader of the figure can find it."""

STATISTIC_GID = "statistic"
"""The ``gid`` of the line at the data's test statistic."""


def _write(figure: plt.Figure, path: pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return path


def _global_text(result: BumpHunt | RegionsHunt) -> str:
    if result.global_bound:
        return f"global p < {result.global_p:.2g}, Z > {result.global_significance:.2f}"
    return f"global p = {result.global_p:.3g}, Z = {result.global_significance:.2f}"


def spectrum_figure(
    hunt: BumpHunt,
    title: str = "",
    observable: str = "observable",
    background_label: str | None = None,
) -> plt.Figure:
    """Data over the background with the window shaded; per-bin significance below."""
    edges, data, background = hunt.edges, hunt.data, hunt.background
    centres = 0.5 * (edges[1:] + edges[:-1])
    window = hunt.window
    with plt.style.context(STYLE):
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(8, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        label = background_label or ("background (fitted)" if hunt.refitted else "background")
        mplhep.histplot(background, edges, ax=top, label=label, histtype="fill",
                        color="#6b59d3", alpha=0.35)  # fmt: skip
        top.errorbar(centres, data, poisson_errors(data), fmt="ko", ms=4, label="data")
        top.axvspan(window.low, window.high, color="#e41a1c", alpha=0.15, lw=0, gid=WINDOW_GID,
                    label=f"window: {window.low:.4g}-{window.high:.4g}")  # fmt: skip
        bottom.axvspan(window.low, window.high, color="#e41a1c", alpha=0.15, lw=0)
        top.set_yscale("log")
        positive = data[data > 0]
        floor = min(np.min(background[background > 0]), np.min(positive) if positive.size else 1)
        top.set_ylim(bottom=max(0.1, 0.3 * float(floor)))
        top.set_ylabel("Events / bin")
        summary = f"local Z = {hunt.local_significance:.2f}, " + _global_text(hunt)
        top.legend(fontsize=11, title=f"{title}\n{summary}".strip(), title_fontsize=11)
        with np.errstate(divide="ignore", invalid="ignore"):
            pull = np.where(background > 0, (data - background) / np.sqrt(background), 0.0)
        bottom.bar(centres, pull, width=np.diff(edges), color="grey", edgecolor="black", lw=0.5)
        bottom.axhline(0, color="black", lw=1)
        bottom.set_ylabel("(data - bkg) / sqrt(bkg)", fontsize=12)
        bottom.set_xlabel(observable)
        bottom.set_xlim(edges[0], edges[-1])
    return figure


def local_p_scan_figure(
    hunt: BumpHunt, title: str = "", observable: str = "observable"
) -> plt.Figure:
    """The local p-values of the chosen width's windows and the per-bin smallest, log y."""
    scan = hunt.scan
    edges = hunt.edges
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(8, 6))
        ax.stairs(hunt.bin_p_values, edges, color="grey", lw=1.5,
                  label="per bin: smallest p of any window")  # fmt: skip
        ax.plot(0.5 * (scan.low + scan.high), scan.values, "o-", color="#6b59d3", ms=4,
                label=f"windows of {scan.width} bins, by centre")  # fmt: skip
        ax.set_yscale("log")
        lowest = min(float(np.min(hunt.bin_p_values)), stats.norm.sf(SIGMA_LEVELS[-1]))
        ax.set_ylim(0.3 * lowest, 2.0)
        for level in SIGMA_LEVELS:
            ax.axhline(stats.norm.sf(level), color="#e41a1c", ls="--", lw=0.8)
            ax.text(edges[-1], stats.norm.sf(level), f" {level}$\\sigma$", va="center",
                    fontsize=10, color="#e41a1c")  # fmt: skip
        ax.axvspan(hunt.window.low, hunt.window.high, color="#e41a1c", alpha=0.1, lw=0)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(observable)
        ax.set_ylabel("local p-value")
        ax.legend(fontsize=11, loc="lower left", title=title or None, title_fontsize=11)
    return figure


def statistic_figure(result: BumpHunt | RegionsHunt, title: str = "") -> plt.Figure:
    """The background-only distribution of t = -ln(min local p), the data's t marked."""
    null = result.null_statistics
    high = max(float(np.max(null)), result.statistic) * 1.05
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(8, 6))
        counts, bins = np.histogram(null, bins=40, range=(0.0, high))
        mplhep.histplot(counts, bins, ax=ax, histtype="fill", color="#6b59d3", alpha=0.4,
                        label=f"background only ({result.pseudo_experiments} pseudo-exp.)")  # fmt: skip
        ax.axvline(result.statistic, color="#e41a1c", lw=2, gid=STATISTIC_GID,
                   label=f"data: t = {result.statistic:.2f}")  # fmt: skip
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
        ax.set_xlabel("t = -ln(smallest local p)")
        ax.set_ylabel("pseudo-experiments")
        ax.legend(fontsize=11, title=f"{title}\n{_global_text(result)}".strip(),
                  title_fontsize=11)  # fmt: skip
    return figure


def spectrum(hunt: BumpHunt, path: pathlib.Path, title: str = "",
             observable: str = "observable", background_label: str | None = None,
             ) -> pathlib.Path:  # fmt: skip
    """Write :func:`spectrum_figure` to ``path`` (PNG)."""
    return _write(spectrum_figure(hunt, title, observable, background_label), path)


def local_p_scan(hunt: BumpHunt, path: pathlib.Path, title: str = "",
                 observable: str = "observable") -> pathlib.Path:  # fmt: skip
    """Write :func:`local_p_scan_figure` to ``path`` (PNG)."""
    return _write(local_p_scan_figure(hunt, title, observable), path)


def statistic(result: BumpHunt | RegionsHunt, path: pathlib.Path, title: str = "") -> pathlib.Path:
    """Write :func:`statistic_figure` to ``path`` (PNG)."""
    return _write(statistic_figure(result, title), path)


def draw(
    result: BumpHunt | RegionsHunt,
    folder: pathlib.Path,
    observable: str = "observable",
    background_label: str | None = None,
) -> list[pathlib.Path]:
    """Every figure of a hunt into ``folder``: per region ``{spectrum,local_p,statistic}_{name}.png``
    (``hunt`` as the name of a single hunt), and ``statistic_all_regions.png`` for the
    overall statistic of a hunt over regions. Returns the files written."""
    folder = pathlib.Path(folder)
    hunts = result.regions if isinstance(result, RegionsHunt) else {"hunt": result}
    paths = []
    for name, hunt in hunts.items():
        paths.append(spectrum(hunt, folder / f"spectrum_{name}.png", name, observable,
                              background_label))  # fmt: skip
        paths.append(local_p_scan(hunt, folder / f"local_p_{name}.png", name, observable))
        paths.append(statistic(hunt, folder / f"statistic_{name}.png", name))
    if isinstance(result, RegionsHunt):
        title = f"all regions (largest t: {result.best})"
        paths.append(statistic(result, folder / "statistic_all_regions.png", title))
    return paths
