"""The fit figures: what a reader sees, read back from the drawn artists.

Each plot function is called on a small model or small arrays, with ``save``
replaced so that the figure stays open to be inspected.
"""

from __future__ import annotations

import pathlib
from types import SimpleNamespace

import cabinetry
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from cabinetry.fit.results_containers import FitResults  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.text import Annotation, Text  # noqa: E402

from liberica.core.definition import load  # noqa: E402
from liberica.fits import plots  # noqa: E402
from liberica.fits.limit import UpperLimit  # noqa: E402
from liberica.fits.ranking import Impact  # noqa: E402

#: hzz4l's high-score region: m4l_window, 12 bins of 5 GeV in 100-160 GeV
REGION = "sr_4l_high"
#: per process, a shape over the 12 bins; ZZ* rises to the right, under the legend
SHAPES = {
    "ggH": [0, 0, 0, 1, 6, 6, 1, 0, 0, 0, 0, 0],
    "VBFH": [0, 0, 0, 0.2, 1, 1, 0.2, 0, 0, 0, 0, 0],
    "ZZ": [4, 5, 6, 7, 8, 9, 10, 14, 20, 40, 70, 100],
    "Zjets": [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
    "ttbar": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
}


@pytest.fixture(scope="module")
def definition():
    return load("hzz4l")


def _workspace(channel: str = REGION, bins: int = 12) -> dict:
    samples = []
    for name, shape in SHAPES.items():
        data = [float(v) + 0.5 for v in np.resize(shape, bins)]
        modifiers = [{"name": "staterror_" + channel, "type": "staterror", "data": data}]
        if name in ("ggH", "VBFH"):
            modifiers.append({"name": "mu", "type": "normfactor", "data": None})
        else:
            modifiers.append(
                {"name": f"xsec_{name}", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}
            )
        samples.append({"name": name, "data": data, "modifiers": modifiers})
    total = np.sum([s["data"] for s in samples], axis=0)
    return {
        "channels": [{"name": channel, "samples": samples}],
        "observations": [{"name": channel, "data": total.tolist()}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


@pytest.fixture(scope="module")
def model():
    model, _ = cabinetry.model_utils.model_and_data(_workspace())
    return model


def _fit_results(model, mu: float) -> FitResults:
    """A post-fit state without a fit: mu moved, the rest at its pre-fit values."""
    bestfit = np.asarray(model.config.suggested_init(), dtype=float)
    bestfit[model.config.poi_index] = mu
    uncertainty = np.asarray(cabinetry.model_utils.prefit_uncertainties(model)) + 0.1
    n = len(bestfit)
    return FitResults(bestfit, uncertainty, model.config.par_names, np.eye(n), 0.0)


def _keep(figures: dict[str, plt.Figure]):
    def keep(figure, folder, name):
        figures[name] = figure
        return []

    return keep


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions would save, by name, left open."""
    figures: dict[str, plt.Figure] = {}
    monkeypatch.setattr(plots, "save", _keep(figures))
    yield figures
    for figure in figures.values():
        plt.close(figure)


def _draw_region(model, definition, drawn, observed, stage="prefit", **options) -> plt.Figure:
    fit = None if stage == "prefit" else _fit_results(model, 3.0)
    prediction = cabinetry.model_utils.prediction(model, fit_results=fit)
    plots.data_mc(prediction, [observed], definition, pathlib.Path("."), stage, 140.0, **options)
    return drawn[f"{REGION}_{stage}"]


@pytest.fixture(scope="module")
def pseudo_data_figures(model, definition):
    """Pre- and post-fit figures (the fit triples mu) of pseudo-data equal to the pre-fit
    model, which rises to the right edge."""
    figures: dict[str, plt.Figure] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "save", _keep(figures))
        for stage in ("prefit", "postfit"):
            _draw_region(model, definition, figures, _prefit_total(model), stage, pseudo_data=True)
    yield figures
    for figure in figures.values():
        plt.close(figure)


def _prefit_total(model) -> np.ndarray:
    return np.asarray(cabinetry.model_utils.prediction(model).model_yields[0]).sum(axis=0)


def _data_errorbar(ax) -> ErrorbarContainer:
    return next(c for c in ax.containers if isinstance(c, ErrorbarContainer))


def _texts(figure: plt.Figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(Text)]


def test_off_scale_ratio_points_are_arrows_at_the_panel_edge(model, definition, drawn):
    total = _prefit_total(model)
    ratio = np.ones(12)
    ratio[2], ratio[9] = 0.19, 3.0
    figure = _draw_region(model, definition, drawn, total * ratio)
    panel = figure.axes[1]
    low, high = panel.get_ylim()
    arrows = sorted((a for a in panel.texts if isinstance(a, Annotation)), key=lambda a: a.xy[0])
    assert [a.xy[0] for a in arrows] == pytest.approx([112.5, 147.5])
    down, up = arrows
    span = high - low
    # the tips lie at the edges, inside the panel, pointing the way of the points
    assert low < down.xy[1] < low + 0.1 * span and down.xyann[1] > down.xy[1]
    assert high - 0.1 * span < up.xy[1] < high and up.xyann[1] < up.xy[1]
    assert low > 0.19 and high < 3.0


def _legend(figure: plt.Figure) -> list[str]:
    return [t.get_text() for t in figure.axes[0].get_legend().get_texts()]


def test_the_stack_order_is_the_same_before_and_after_the_fit(definition, pseudo_data_figures):
    prefit, postfit = (pseudo_data_figures[f"{REGION}_{s}"] for s in ("prefit", "postfit"))
    # tripling the signal changes the order of the yields, not that of the stack
    labels = {name: p.label for name, p in definition.processes.items()}
    stack_top_down = [labels[n] for n in ("VBFH", "ggH", "ttbar", "Zjets", "ZZ")]
    assert _legend(prefit)[1:-1] == _legend(postfit)[1:-1] == stack_top_down


def test_the_band_says_what_it_holds(pseudo_data_figures):
    prefit, postfit = (pseudo_data_figures[f"{REGION}_{s}"] for s in ("prefit", "postfit"))
    assert _legend(prefit)[-1] == "Pre-fit unc. (MC stat. + syst.)"
    assert _legend(postfit)[-1] == r"Post-fit unc. (MC stat. + syst. + $\mu$)"


def test_pseudo_data_are_labelled_and_the_plot_tagged(
    model, definition, drawn, pseudo_data_figures
):
    figure = pseudo_data_figures[f"{REGION}_prefit"]
    assert _legend(figure)[0] == "Pseudo-data"
    assert "Simulation" in _texts(figure)
    figure = _draw_region(model, definition, drawn, _prefit_total(model), pseudo_data=False)
    assert _legend(figure)[0] == "Data"
    assert "Simulation" not in _texts(figure)


def test_data_errors_are_garwood_intervals(model, definition, drawn):
    observed = np.round(_prefit_total(model))
    observed[0], observed[1] = 0.0, 4.0
    figure = _draw_region(model, definition, drawn, observed)
    bars = _data_errorbar(figure.axes[0]).lines[2][0].get_segments()
    (_, zero_low), (_, zero_high) = bars[0]
    (_, four_low), (_, four_high) = bars[1]
    assert (zero_low, zero_high) == pytest.approx((0.0, 1.8410), abs=1e-3)
    assert (four_low, four_high) == pytest.approx((2.0857, 7.1628), abs=1e-3)


def test_the_legend_covers_no_data_point_and_no_bin(model, pseudo_data_figures):
    figure = pseudo_data_figures[f"{REGION}_prefit"]
    total = _prefit_total(model)  # rising to the right edge, where the legend was
    top = figure.axes[0]
    figure.canvas.draw()
    box = top.get_legend().get_window_extent()
    data = _data_errorbar(top)
    x, y = data.lines[0].get_data()
    error_tops = np.array([segment[1][1] for segment in data.lines[2][0].get_segments()])
    edges = np.linspace(100, 160, 13)
    model_tops = (
        total + np.asarray(cabinetry.model_utils.prediction(model).total_stdev_model_bins)[0, -1]
    )
    for low, high, value in zip(
        edges[:-1], edges[1:], np.fmax(error_tops, model_tops), strict=True
    ):
        (x0, y_top), (x1, _) = top.transData.transform([(low, value), (high, value)])
        if x1 > box.x0 and x0 < box.x1:  # the bin lies under the legend's columns
            assert y_top < box.y0
    for point in top.transData.transform(np.column_stack([x, y])):
        assert not box.contains(*point)


def test_events_per_bin_width_with_the_observable_unit(
    model, definition, drawn, pseudo_data_figures
):
    total = _prefit_total(model)
    assert pseudo_data_figures[f"{REGION}_prefit"].axes[0].get_ylabel() == "Events / 5 GeV"
    merged = np.array([100, 110, *range(115, 145, 5), 160], dtype=float)
    model_merged, _ = cabinetry.model_utils.model_and_data(_workspace(bins=8))
    figure = _draw_region(model_merged, definition, drawn, total[:8], edges={REGION: merged})
    assert figure.axes[0].get_ylabel() == "Events / bin"
    score_model, _ = cabinetry.model_utils.model_and_data(_workspace("sr_4l_score", bins=20))
    prediction = cabinetry.model_utils.prediction(score_model)
    plots.data_mc(prediction, [np.ones(20)], definition, pathlib.Path("."), "prefit")
    # edges of 0.05 from the 20-bin score observable, which has no unit
    assert drawn["sr_4l_score_prefit"].axes[0].get_ylabel() == "Events / 0.05"


def test_the_cls_plot_marks_the_limits_at_their_values(drawn):
    mu = np.linspace(0.0, 3.0, 13)
    observed = np.exp(-2.5 * mu)
    expected = np.column_stack([np.exp(-k * mu) for k in (4.5, 3.8, 3.3, 2.8, 2.2)])
    limit = UpperLimit(1.1983, [0.6, 0.75, 0.9077, 1.1, 1.4], 0.95, mu, observed, expected)
    plots.cls_scan(limit, pathlib.Path("."))
    ax = drawn["cls_scan"].axes[0]
    vertical = {
        float(line.get_xdata()[0]) for line in ax.get_lines() if len(set(line.get_xdata())) == 1
    }
    assert vertical == {1.1983, 0.9077}
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "1.2" in legend and "0.908" in legend


def test_every_summary_plot_carries_the_experiment_label(model, drawn):
    fit = _fit_results(model, 1.2)
    widths = dict(zip(fit.labels, cabinetry.model_utils.prefit_uncertainties(model), strict=True))
    gammas = [n for n in fit.labels if n.startswith("staterror_")]
    impacts = [Impact(n, 0.1, -0.1, 0.2, -0.2, True) for n in gammas[:3]]
    plots.ranking(impacts, fit, widths, pathlib.Path("."), lumi_fb=140.0, pseudo_data=True)
    plots.pulls(fit, widths, gammas, pathlib.Path("."), "pulls_mc_statistics", lumi_fb=140.0)
    plots.correlation_matrix(fit, pathlib.Path("."), -1.0, lumi_fb=140.0)
    mu = np.linspace(0.0, 2.0, 5)
    limit = UpperLimit(1.0, [0.6, 0.7, 0.8, 0.9, 1.0], 0.95, mu, np.exp(-mu), np.ones((5, 5)))
    plots.cls_scan(limit, pathlib.Path("."), lumi_fb=140.0)
    toys = [SimpleNamespace(pull=p, valid=True) for p in np.linspace(-2, 2, 40)]
    toy_set = SimpleNamespace(mu_true=1.0, n=40, n_failed=0, coverage_68=0.7, toys=toys)
    plots.toy_pulls([toy_set], pathlib.Path("."))
    # toy_pulls saves "pulls", the fit's pulls plot here "pulls_mc_statistics"
    assert set(drawn) == {
        "ranking",
        "pulls_mc_statistics",
        "correlation_matrix",
        "cls_scan",
        "pulls",
    }
    for name, figure in drawn.items():
        assert "liberica" in _texts(figure), name
    assert "Simulation" in _texts(drawn["ranking"]) and "Simulation" in _texts(drawn["pulls"])


def test_parameter_labels_name_a_gamma_by_its_bin():
    from liberica.fits.labels import observable_unit, parameter_label

    merged = {"sr_4l_high": np.array([100, 110, 115, 120, 125, 130, 135, 140, 160.0])}
    assert parameter_label("staterror_sr_4l_high[5]", merged) == "MC stat. sr_4l_high 130-135 GeV"
    assert parameter_label("staterror_sr_4l_high[7]", merged) == "MC stat. sr_4l_high 140-160 GeV"
    assert parameter_label("staterror_sr_4l_high[8]", merged) == "staterror_sr_4l_high[8]"
    assert parameter_label("staterror_other[0]", merged) == "staterror_other[0]"
    assert parameter_label("xsec_ZZ", merged) == "xsec_ZZ"
    assert parameter_label("staterror_sr_4l_high[0]", None) == "staterror_sr_4l_high[0]"
    score = {"sr_score": np.linspace(0.0, 1.0, 21)}
    assert parameter_label("staterror_sr_score[3]", score, {}) == "MC stat. sr_score 0.15-0.2"
    assert observable_unit("$m_{4\\ell}$ [GeV]") == "GeV"
    assert observable_unit("Classifier score") == ""


def test_the_figures_name_parameters_by_parameter_label(model, drawn):
    fit = _fit_results(model, 1.2)
    widths = dict(zip(fit.labels, cabinetry.model_utils.prefit_uncertainties(model), strict=True))
    gammas = [n for n in fit.labels if n.startswith("staterror_")]
    edges = {REGION: np.linspace(100.0, 160.0, 13)}
    plots.pulls(fit, widths, gammas, pathlib.Path("."), "pulls", edges=edges)
    names = [t.get_text() for t in drawn["pulls"].axes[0].get_yticklabels()]
    assert names[0] == f"MC stat. {REGION} 100-105 GeV"
    assert names[-1] == f"MC stat. {REGION} 155-160 GeV"


def test_process_labels_are_typeset():
    for analysis in ("hzz4l", "hllj"):
        labels = [p.label for p in load(analysis).processes.values()]
        assert "ttbar" not in labels
        assert r"$t\bar{t}$" in labels
