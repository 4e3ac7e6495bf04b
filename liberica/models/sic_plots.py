"""The figure of SIC curves: SIC against signal efficiency, with the random line and the floor.

Each curve is solid where at least its ``min_background`` background events
pass and dotted below its floor (eps_B < eps_b_floor), where the SIC is a
fluctuation of a handful of events; its peak above the floor is marked. A
random classifier (eps_B = eps_S) has SIC = sqrt(eps_S).
"""

from __future__ import annotations

import pathlib

import numpy as np

from liberica.models.sic import SicCurve


def draw_sic(curves: dict[str, SicCurve], path: pathlib.Path, title: str = "") -> pathlib.Path:
    """Draw SIC vs eps_S of each named curve into ``path`` (format from its suffix).

    Args:
        curves: the curves by legend label
        path: the figure's file (``.png``, ``.pdf``, ...)
        title: the figure's title

    Returns:
        ``path``
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.style.context(mplhep.style.ATLAS):
        figure, ax = plt.subplots(figsize=(8, 6))
        grid = np.linspace(0.0, 1.0, 101)
        ax.plot(grid, np.sqrt(grid), color="grey", linestyle="--", label="random")
        top = 1.0
        for k, (name, curve) in enumerate(curves.items()):
            color = f"C{k % 10}"
            above = curve.eps_b >= curve.eps_b_floor
            # the first point above the floor joins the dotted and solid parts
            below = ~above | (np.arange(len(above)) == np.argmax(above))
            ax.plot(curve.eps_s[below], curve.sic[below], color=color, linestyle=":")
            ax.plot(
                curve.eps_s[above],
                curve.sic[above],
                color=color,
                label=f"{name} (peak {curve.peak_sic:.2f} at $\\epsilon_S$ = "
                f"{curve.peak_eps_s:.2f})",
            )
            ax.plot(curve.peak_eps_s, curve.peak_sic, marker="o", color=color)
            top = max(top, curve.peak_sic)
        floors = sorted({c.min_background for c in curves.values()})
        ax.plot(
            [],
            [],
            color="black",
            linestyle=":",
            label=f"below the floor (< {', '.join(map(str, floors))} background)",
        )
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.3 * top)
        ax.set_xlabel("Signal efficiency $\\epsilon_S$")
        ax.set_ylabel("SIC = $\\epsilon_S / \\epsilon_B^{1/2}$")
        ax.legend(fontsize="small", loc="best")
        if title:
            ax.set_title(title, fontsize="medium")
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
    return path
