"""The CWoLa hunt's statistics on synthetic events: windows, selections, fits, significances.

Events: a smooth dijet-function mjj spectrum with uniform classifier scores (a
classifier that learned nothing), and the same with a W'-like bump at 3.5 TeV
whose events score high (a classifier that found it).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from liberica.fits import cwola
from liberica.fits.shapes import bin_integrals, dijet
from liberica.fits.sideband_toys import fit_sideband_toys
from liberica.fits.signal_region import significances
from liberica.fits.spectrum import Spectrum, fit_sidebands

WIDTH = cwola.DEFAULT_WIDTH_RATIO
FIRST = cwola.DEFAULT_FIRST
EDGES = cwola.mjj_bins()  # 28 bins, 2625-5847 GeV
WINDOWS = cwola.sliding_windows(FIRST, FIRST * WIDTH**4)  # 3 windows, the benchmark last
EFFICIENCIES = (0.1, 0.01)
BACKGROUND_EVENTS = 100_000
SIGNAL_EVENTS = 400  # at 3500 +- 100 GeV, scores in the top 1%


def _dijet_mjj(rng: np.random.Generator, size: int) -> np.ndarray:
    grid = np.linspace(EDGES[0], EDGES[-1], 20_001)
    cdf = np.cumsum(dijet(grid, 1.0, 10.0, 5.0, 0.0))
    return np.interp(rng.random(size), cdf / cdf[-1], grid)


def _events(seed: int, signal: int = 0):
    rng = np.random.default_rng(seed)
    mjj = np.concatenate([_dijet_mjj(rng, BACKGROUND_EVENTS), rng.normal(3500, 100, signal)])
    scores = np.concatenate([rng.random(BACKGROUND_EVENTS), rng.uniform(0.99, 1.0, signal)])
    return mjj, scores, rng.integers(0, 2, len(mjj))


@pytest.fixture(scope="module")
def background_hunts() -> list[cwola.WindowHunt]:
    mjj, scores, fold = _events(1)
    return [cwola.hunt_window(mjj, scores, fold, w, EFFICIENCIES, EDGES) for w in WINDOWS]


@pytest.fixture(scope="module")
def signal_hunts() -> list[cwola.WindowHunt]:
    mjj, scores, fold = _events(2, SIGNAL_EVENTS)
    return [cwola.hunt_window(mjj, scores, fold, w, EFFICIENCIES, EDGES) for w in WINDOWS]


def test_the_default_windows_hold_the_benchmark_and_lie_on_the_binning():
    windows = cwola.sliding_windows()
    assert len(windows) == 9
    regions = [w.signal_region for w in windows]
    assert any(np.allclose(r, cwola.BENCHMARK_SIGNAL_REGION, rtol=1e-12) for r in regions)
    edges = cwola.mjj_bins()
    for window in windows:
        (low, high), (below, above) = window.signal_region, window.sidebands
        assert high / low == pytest.approx(WIDTH)
        assert below[1] == low and above[0] == high  # adjacent sidebands
        assert below[1] / below[0] == pytest.approx(WIDTH) == above[1] / above[0]
        assert window.low >= FIRST * (1 - 1e-12) and window.high <= cwola.DEFAULT_LAST * (1 + 1e-9)
        for edge in (below[0], low, high, above[1]):
            assert np.min(np.abs(edges / edge - 1)) < 1e-12
    lows = np.array([w.signal_region[0] for w in windows])
    steps = lows[1:] / lows[:-1]
    assert np.allclose(steps, cwola.DEFAULT_STEP_RATIO)
    assert len(edges) == 29 and edges[1] / edges[0] == pytest.approx(WIDTH**0.25)
    with pytest.raises(cwola.CwolaError, match="no window"):
        cwola.sliding_windows(3000.0, 3500.0)


def test_thresholds_keep_the_asked_sideband_fraction_in_every_fold_and_nest():
    rng = np.random.default_rng(5)
    scores, fold = rng.random(30_000), rng.integers(0, 3, 30_000)
    in_sidebands = rng.random(30_000) < 0.6
    efficiencies = (1.0, 0.1, 0.01, 0.002)
    cuts = cwola.thresholds(scores, fold, in_sidebands, efficiencies)
    assert cuts.shape == (3, 4) and np.all(np.isneginf(cuts[:, 0]))
    selected = cwola.select(scores, fold, cuts)
    for k in range(3):
        sideband = (fold == k) & in_sidebands
        for j, eps in enumerate(efficiencies):
            assert selected[sideband, j].sum() == round(eps * sideband.sum())
    assert np.all(np.diff(cuts, axis=1) >= 0)
    assert np.all(selected[:, 1:] <= selected[:, :-1])  # nested: tighter within looser
    with pytest.raises(cwola.CwolaError, match="loosest first"):
        cwola.thresholds(scores, fold, in_sidebands, (0.01, 0.1))
    with pytest.raises(cwola.CwolaError, match="fold 2 has no sideband event"):
        cwola.thresholds(scores, np.where(fold == 2, 3, fold), in_sidebands, (0.1,))


def test_on_background_the_pass_fractions_agree_and_nothing_is_significant(background_hunts):
    for hunt in background_hunts:
        for result in hunt.efficiencies:
            assert result.sideband_pass.value == pytest.approx(result.efficiency, rel=0.01)
            assert abs(result.pass_fraction_pull) < 3.5
            assert result.fit.fit.valid and result.fit.fit.p_value > 1e-3
            assert math.isfinite(result.local_significance)
            assert abs(result.local_significance) < 3.5
            # the fit's SR count is the selected count there
            assert result.fit.observed_in_mask == result.signal_region
    result = cwola.global_significance(background_hunts, pseudo_experiments=100, seed=3)
    assert result.global_p >= result.local_p
    assert result.global_p > 0.01 and result.global_significance < 2.5
    assert len(result.null_maxima) == 100 and result.fits == 100 * 3 * len(EFFICIENCIES)


def test_a_bump_in_the_signal_region_is_found_there(signal_hunts):
    benchmark = next(i for i, h in enumerate(signal_hunts)
                     if np.allclose(h.window.signal_region, cwola.BENCHMARK_SIGNAL_REGION))  # fmt: skip
    best = signal_hunts[benchmark].efficiencies[1]  # 1%: the signal's scores
    assert best.local_significance > 5
    assert best.pass_fraction_pull > 5  # the SR passes more often than the sidebands
    assert best.signal_region - best.fit.expected_in_mask > 0.5 * SIGNAL_EVENTS
    result = cwola.global_significance(signal_hunts, pseudo_experiments=100, seed=3)
    assert result.best_window == benchmark and result.best_efficiency == 0.01
    assert result.global_p >= result.local_p and result.global_bound  # none of 100 reach it
    assert result.global_label.startswith("> ")
    document = json.loads(json.dumps([h.to_dict() for h in signal_hunts] + [result.to_dict()]))
    window = document[benchmark]
    assert window["signal_region"] == pytest.approx(list(cwola.BENCHMARK_SIGNAL_REGION))
    assert len(window["sidebands"]) == 2
    entry = window["efficiencies"][1]
    assert {"selected", "background_fit", "local_significance"} <= set(entry)
    assert entry["local_significance"] == pytest.approx(best.local_significance)
    assert document[-1]["global_p"] == {"upper_bound": pytest.approx(0.01)}


def test_background_only_local_significances_are_standard_normal():
    """Poisson toys of a smooth spectrum, the vectorized refits checked against MIGRAD's."""
    truth = bin_integrals(lambda m: dijet(m, 1.0, 10.0, 5.0, 0.0), EDGES)
    truth *= 3000 / truth.sum()
    mask = cwola.BENCHMARK_SIGNAL_REGION
    first, stop = (int(np.argmin(np.abs(EDGES - x))) for x in mask)
    asimov = fit_sidebands(Spectrum.of(EDGES, truth), mask)
    toys = np.random.default_rng(8).poisson(truth, size=(1000, len(truth)))
    fits = fit_sideband_toys(toys, EDGES, (first, stop), "dijet", asimov.fit)
    assert fits.converged.mean() > 0.99
    z = significances(fits.observed_in_mask, fits.expected_in_mask, fits.expected_in_mask_error)
    z = z[fits.converged]
    assert abs(z.mean()) < 3 / np.sqrt(len(z))
    assert 0.8 < z.std() < 1.2
    for k in range(15):  # the same minimum and error as MIGRAD + HESSE finds
        one = fit_sidebands(Spectrum.of(EDGES, toys[k]), mask, start=asimov.fit)
        assert fits.deviance[k] == pytest.approx(one.fit.cost, abs=1e-3)
        assert fits.expected_in_mask[k] == pytest.approx(one.expected_in_mask, rel=1e-3)
        assert fits.expected_in_mask_error[k] == pytest.approx(one.expected_in_mask_error, rel=0.02)


def test_windows_off_the_binning_and_mismatched_inputs_are_refused():
    mjj, scores, fold = _events(9)
    off = cwola.MassWindow((3310.0, 3700.0), ((2950.0, 3310.0), (3700.0, 4150.0)))
    with pytest.raises(cwola.CwolaError, match="is not a bin edge"):
        cwola.hunt_window(mjj, scores, fold, off, EFFICIENCIES, EDGES)
    with pytest.raises(cwola.CwolaError, match="entries but scores"):
        cwola.hunt_window(mjj[:-1], scores, fold, WINDOWS[0], EFFICIENCIES, EDGES)
    with pytest.raises(cwola.CwolaError, match="not finite"):
        cwola.hunt_window(mjj, np.where(fold == 0, np.nan, scores), fold, WINDOWS[0])


def test_the_figures_are_written(signal_hunts, tmp_path):
    from liberica.fits import cwola_plots

    window = cwola_plots.draw_window(signal_hunts[-1], tmp_path / "window.png")
    grid = cwola_plots.draw_significance_map(signal_hunts, tmp_path / "map.png")
    assert window.stat().st_size > 10_000 and grid.stat().st_size > 10_000
    figure = cwola_plots.significance_map_figure(signal_hunts)
    best = [p for p in figure.axes[0].patches if p.get_gid() == cwola_plots.BEST_GID]
    assert len(best) == 1 and best[0].get_xy() == (0.5, len(signal_hunts) - 1.5)
