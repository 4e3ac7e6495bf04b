"""Figures of a CWoLa hunt (:mod:`liberica.fits.cwola`), one PNG each.

- a window: the selected events' mjj at each efficiency (Garwood errors) with
  the fit of the sidebands interpolated into the shaded signal region, and below,
  each bin's pull (n - mu) / sqrt(mu);
- the local-significance map: windows x efficiencies, the largest cell outlined.

Each ``*_figure`` function returns the open figure; the function without it
writes the PNG.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from liberica.fits.cwola import WindowHunt  # noqa: E402
from liberica.fits.plots import STYLE, poisson_errors  # noqa: E402

logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

SIGNAL_REGION_GID = "signal_region"
"""The ``gid`` of the shaded signal region."""

BEST_GID = "best"
"""The ``gid`` of the outline of the map's largest local Z."""

_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")


def _write(figure: plt.Figure, path: pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return path


def window_figure(hunt: WindowHunt) -> plt.Figure:
    """Selected mjj per efficiency with the masked fits, the SR shaded; pulls below."""
    edges = hunt.edges
    centres = 0.5 * (edges[1:] + edges[:-1])
    low, high = hunt.window.signal_region
    with plt.style.context(STYLE):
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(8, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        for ax in (top, bottom):
            ax.axvspan(low, high, color="#e41a1c", alpha=0.12, lw=0, gid=SIGNAL_REGION_GID)
        for k, result in enumerate(hunt.efficiencies):
            colour = _COLOURS[k % len(_COLOURS)]
            counts, expected = result.counts, result.fit.expected
            z = result.local_significance
            label = f"eff. {result.efficiency:g}: local Z = " + (
                f"{z:.2f}" if np.isfinite(z) else "no fit"
            )
            shown = counts > 0
            top.errorbar(centres[shown], counts[shown], poisson_errors(counts)[:, shown],
                         fmt="o", ms=3.5, color=colour, label=label)  # fmt: skip
            top.stairs(expected, edges, color=colour, lw=1.3)
            with np.errstate(divide="ignore", invalid="ignore"):
                pull = np.where(expected > 0, (counts - expected) / np.sqrt(expected), 0.0)
            bottom.stairs(pull, edges, color=colour, lw=1.2)
        top.set_yscale("log")
        top.set_ylim(bottom=0.3)  # the fits' tails far below one event say nothing
        top.set_ylabel(f"Events / bin ({len(edges) - 1} log bins)")
        top.set_title(f"CWoLa window {hunt.window.label}: sideband fits ({hunt.background})")
        top.legend(fontsize="small", loc="upper right")
        bottom.axhline(0, color="k", lw=0.8)
        bottom.set_ylabel("(n - fit) / sqrt(fit)")
        bottom.set_xlabel("$m_{jj}$ [GeV]")
        bottom.set_xlim(edges[0], edges[-1])
    return figure


def draw_window(hunt: WindowHunt, path: pathlib.Path) -> pathlib.Path:
    """Write :func:`window_figure` to ``path`` (PNG)."""
    return _write(window_figure(hunt), path)


def significance_map_figure(hunts: Sequence[WindowHunt]) -> plt.Figure:
    """Local Z of every window (rows) and efficiency (columns); the largest outlined."""
    local = np.array([h.local_significances for h in hunts], dtype=float)
    efficiencies = [e.efficiency for e in hunts[0].efficiencies]
    reach = max(float(np.nanmax(np.abs(local))) if np.isfinite(local).any() else 1.0, 3.0)
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(2.0 + 1.4 * len(efficiencies), 1.5 + 0.45 * len(hunts)))
        image = ax.imshow(np.ma.masked_invalid(local), cmap="RdBu_r", vmin=-reach, vmax=reach,
                          aspect="auto", origin="lower")  # fmt: skip
        figure.colorbar(image, ax=ax, label="local significance Z")
        for (i, j), value in np.ndenumerate(local):
            ax.text(j, i, f"{value:.1f}" if np.isfinite(value) else "-", ha="center",
                    va="center", fontsize="small")  # fmt: skip
        if np.isfinite(local).any():
            i, j = np.unravel_index(np.nanargmax(local), local.shape)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5,
                                   edgecolor="k", gid=BEST_GID))  # fmt: skip
        ax.set_xticks(range(len(efficiencies)), [f"{e:g}" for e in efficiencies])
        ax.set_yticks(range(len(hunts)), [h.window.label for h in hunts])
        ax.set_xlabel("selection efficiency (sidebands)")
        ax.set_ylabel("signal region")
        ax.set_title("CWoLa hunt: local significance")
    return figure


def draw_significance_map(hunts: Sequence[WindowHunt], path: pathlib.Path) -> pathlib.Path:
    """Write :func:`significance_map_figure` to ``path`` (PNG)."""
    return _write(significance_map_figure(hunts), path)


__all__ = ["draw_significance_map", "draw_window", "significance_map_figure", "window_figure"]
