"""The look-elsewhere machinery: BumpHunter's scan against a brute force, global p-values
uniform under the background, nested regions, refitted backgrounds, Gross-Vitells against
brute-force pseudo-experiments, seeding, bad input and the figures."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import matplotlib
import numpy as np
import pytest
from scipy import stats

from liberica.core.errors import LibericaError
from liberica.fits import lee, lee_plots
from liberica.fits.spectrum import Spectrum, fit_background

matplotlib.use("Agg")

EDGES = np.linspace(100.0, 700.0, 61)
"""A 60-bin mll spectrum in GeV, 10 GeV bins."""
CENTRES = 0.5 * (EDGES[1:] + EDGES[:-1])


def _falling(scale: float = 1000.0) -> np.ndarray:
    """A falling background: ``scale`` events in the first bin to ~3 in the last."""
    return scale * np.exp(-(CENTRES - CENTRES[0]) / 100.0) + 0.5


def _spectrum_with_bump(events: int, seed: int = 5, mass: float = 400.0, sigma: float = 12.0):
    """Poisson background counts plus the first ``events`` of one seeded signal sample, so
    that a smaller signal is a subset of a larger one."""
    background = _falling()
    counts = np.random.default_rng(seed).poisson(background).astype(float)
    signal = np.random.default_rng(seed + 1).normal(mass, sigma, 1000)[:events]
    return counts + np.histogram(signal, EDGES)[0], background


def _scale_to(counts: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """A one-parameter fit: ``shape`` scaled to the spectrum's total."""
    return shape * counts.sum() / shape.sum()


# -- the scan --------------------------------------------------------------------------


def _brute_force(data, background, widths):
    """Every contiguous window: BumpHunter's local p, P(N >= n | b) for n > b, else 1."""
    best = (2.0, None)
    per_bin = np.ones(len(data))
    for width in widths:
        for first in range(len(data) - width + 1):
            n, b = data[first : first + width].sum(), background[first : first + width].sum()
            p = stats.poisson.sf(n - 1, b) if n > b else 1.0
            per_bin[first : first + width] = np.minimum(per_bin[first : first + width], p)
            if p < best[0]:
                best = (p, (first, first + width))
    return best, per_bin


def test_the_hunt_finds_the_window_of_a_brute_force_scan():
    background = np.array([20.0, 18, 15, 13, 11, 9, 8, 6, 5, 4])
    data = np.array([22.0, 15, 17, 21, 19, 10, 6, 8, 3, 4])
    edges = np.linspace(0.0, 100.0, 11)
    widths = lee.Widths(1, 5)
    result = lee.hunt(data, background, edges, widths=widths, pseudo_experiments=50)
    (p, window), per_bin = _brute_force(data, background, range(1, 6))
    assert (result.window.first, result.window.stop) == window == (3, 5)
    assert (result.window.low, result.window.high) == (30.0, 50.0)
    assert (result.window.data, result.window.background) == (40.0, 24.0)
    assert result.local_p == pytest.approx(p, rel=1e-10)
    assert result.statistic == pytest.approx(-np.log(p), rel=1e-10)
    assert result.local_significance == pytest.approx(stats.norm.isf(p), rel=1e-10)
    np.testing.assert_allclose(result.bin_p_values, per_bin, rtol=1e-10)
    # the scan of the chosen width: every window of 2 bins, by its first bin
    assert result.scan.width == 2
    np.testing.assert_array_equal(result.scan.low, edges[:9])
    expected = [stats.poisson.sf(data[i : i + 2].sum() - 1, background[i : i + 2].sum())
                if data[i : i + 2].sum() > background[i : i + 2].sum() else 1.0
                for i in range(9)]  # fmt: skip
    np.testing.assert_allclose(result.scan.values, expected, rtol=1e-10)
    # the global p-value counts the pseudo-experiments at or above the data's t
    assert result.global_p == np.mean(result.null_statistics >= result.statistic)
    assert result.trial_factor == pytest.approx(result.global_p / result.local_p)


def test_the_vectorized_scan_is_pybumphunters_to_the_last_bit():
    from pyBumpHunter import BumpHunter1D

    background = _falling()
    background[[0, 1, 30, 58, 59]] = 0.0  # empty ends (left out of the scan) and an empty bin
    data = np.random.default_rng(1).poisson(background)
    hunter = BumpHunter1D(width_min=2, width_max=30, npe=300, nworker=1, seed=9)
    with contextlib.redirect_stdout(io.StringIO()):
        hunter.bump_scan(data, background, is_hist=True)
    # pyBumpHunter's pseudo-experiments: Poisson draws of the legacy generator it seeds
    pseudo = np.random.RandomState(9).poisson(background[:, None], (60, 300)).T
    ours = lee.scan_statistics(np.vstack([data, pseudo]), background, np.arange(2, 31))
    np.testing.assert_array_equal(ours, hunter.t_ar)


# -- the global p-value under the background alone -----------------------------------------


@pytest.fixture(scope="module")
def weighted_events():
    """A weighted MC sample: exponential mll over 100-500 GeV, weights 0.8-1.2."""
    rng = np.random.default_rng(21)
    mll = 100.0 + rng.exponential(120.0, 40_000)
    mll = mll[mll < 500.0]
    return mll, rng.uniform(0.8, 1.2, len(mll)), np.linspace(100.0, 500.0, 41)


def test_global_p_values_of_background_only_data_are_uniform(weighted_events):
    mll, weights, edges = weighted_events
    background = np.histogram(mll, edges, weights=weights)[0]
    widths = lee.Widths(2, 10)
    # one shared background-only distribution of t, from pyBumpHunter's pseudo-experiments
    null = lee.hunt(background, background, edges, widths=widths, pseudo_experiments=2000,
                    seed=3).null_statistics  # fmt: skip
    # data drawn at event level: a Poisson bootstrap of the weighted events
    rng = np.random.default_rng(4)

    def bootstrap(scale: float = 1.0) -> np.ndarray:
        return np.histogram(mll, edges, weights=weights * rng.poisson(scale, len(mll)))[0]

    tested = widths.resolve(len(background))
    data = np.stack([bootstrap() for _ in range(100)])
    p = [lee.global_p_value(t, null)[0] for t in lee.scan_statistics(data, background, tested)]
    assert stats.kstest(p, "uniform").pvalue > 0.01
    # the same ranking tells data with 10% more events from the background
    richer = np.stack([bootstrap(1.1) for _ in range(100)])
    p = [lee.global_p_value(t, null)[0] for t in lee.scan_statistics(richer, background, tested)]
    assert stats.kstest(p, "uniform").pvalue < 1e-6


# -- a signal ---------------------------------------------------------------------------


def test_an_injected_bump_is_found_at_its_mass_and_grows_with_its_rate():
    significances = []
    for events in (80, 160, 320):
        data, background = _spectrum_with_bump(events)
        result = lee.hunt(data, background, EDGES, pseudo_experiments=50, seed=2)
        assert result.window.low <= 400.0 <= result.window.high
        assert result.window.high - result.window.low <= 80.0  # about +- 3 sigma of 12 GeV
        significances.append(result.local_significance)
    assert significances[0] > 3.0
    assert significances[0] < significances[1] < significances[2]


def test_a_large_excess_has_a_global_significance_that_is_only_a_bound():
    data, background = _spectrum_with_bump(400)
    result = lee.hunt(data, background, EDGES, pseudo_experiments=200, seed=1)
    assert result.global_bound and not np.any(result.null_statistics >= result.statistic)
    assert result.global_p == 1 / 200
    assert result.global_significance == pytest.approx(stats.norm.isf(1 / 200))
    assert result.global_label == f"> {stats.norm.isf(1 / 200):.2f}"
    content = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert content["global_significance"] == {"lower_bound": pytest.approx(2.5758, abs=1e-4)}
    assert content["global_p"] == {"upper_bound": 0.005}
    assert content["trial_factor"] == {"upper_bound": pytest.approx(0.005 / result.local_p)}
    assert content["window"]["low"] <= 400.0 <= content["window"]["high"]
    # a small fluctuation's values are plain numbers
    small = lee.hunt(*_spectrum_with_bump(0), EDGES, pseudo_experiments=200, seed=1)
    assert not small.global_bound
    assert small.to_dict()["global_significance"] == small.global_significance


def test_significance_and_p_value_keep_their_precision_in_the_tails():
    assert lee.significance(1e-30) == pytest.approx(11.4640, abs=1e-4)
    assert lee.p_value(11.4640) == pytest.approx(1e-30, rel=1e-3)
    assert lee.significance(stats.norm.sf(0.3)) == pytest.approx(0.3)
    assert lee.significance(0.7) == 0.0 and lee.significance(1.0) == 0.0  # no excess
    # a spectrum below its background anywhere: no excess, every value plain
    quiet = lee.hunt(np.full(10, 10.0), np.full(10, 20.0), np.arange(11.0), pseudo_experiments=20)
    assert (quiet.local_p, quiet.statistic, quiet.global_p, quiet.trial_factor) == (1, 0, 1, 1)
    assert quiet.global_significance == 0.0 and not quiet.global_bound
    assert "-0.0" not in json.dumps(quiet.to_dict(), allow_nan=False)


# -- several regions --------------------------------------------------------------------


def test_nested_pseudo_experiments_are_nested_and_poisson():
    means = np.stack([_falling(), 0.1 * _falling(), 0.01 * _falling()])
    pseudo = lee.draw_pseudo_experiments(means, 4000, np.random.default_rng(8), nested=True)
    assert pseudo.shape == (4000, 3, 60)
    assert np.all(pseudo[:, 1] <= pseudo[:, 0]) and np.all(pseudo[:, 2] <= pseudo[:, 1])
    for k in range(3):  # each region alone is Poisson with its mean
        mean, variance = pseudo[:, k].mean(axis=0), pseudo[:, k].var(axis=0)
        pulls = (mean - means[k]) / np.sqrt(means[k] / 4000)
        assert np.abs(pulls).max() < 4.5
        assert np.mean(variance / means[k]) == pytest.approx(1.0, abs=0.02)
    # the tighter region's events are the looser one's: cov = the tighter mean
    first = pseudo[:, :, :10].astype(float)
    covariance = np.mean(
        (first[:, 0] - first[:, 0].mean(0)) * (first[:, 1] - first[:, 1].mean(0)), 0
    )
    assert np.mean(covariance / means[1, :10]) == pytest.approx(1.0, abs=0.05)
    disjoint = lee.draw_pseudo_experiments(means, 4000, np.random.default_rng(8), nested=False)
    assert np.any(disjoint[:, 1] > disjoint[:, 0])


def test_a_tighter_mean_above_a_looser_one_is_drawn_nested_with_a_warning(caplog):
    means = np.array([[10.0, 10.0, 10.0], [5.0, 12.0, 5.0]])  # bin 1: 12 > 10
    with caplog.at_level(logging.WARNING, logger="liberica.fits.lee"):
        pseudo = lee.draw_pseudo_experiments(means, 4000, np.random.default_rng(2), nested=True)
    assert (
        "region 0's mean is below a tighter one's in 1 bin(s), most in bin 1 (10 < 12)"
        in caplog.text
    )
    assert np.all(pseudo[:, 1] <= pseudo[:, 0])
    assert pseudo[:, 0, 1].mean() == pytest.approx(12.0, abs=0.25)  # drawn at the tighter mean
    assert pseudo[:, 0, 0].mean() == pytest.approx(10.0, abs=0.25)


def test_the_hunt_over_nested_regions_finds_the_signal_in_the_tight_region():
    rng = np.random.default_rng(12)
    background = _falling()
    efficiencies = {"loose": 0.1, "medium": 0.01, "tight": 0.001}
    # events nested: a background event of a tighter region is in the looser ones
    counts = rng.poisson(background * 0.1)
    data, predicted, previous = {}, {}, 0.1
    for name, efficiency in efficiencies.items():
        counts = rng.binomial(counts, efficiency / previous)
        previous = efficiency
        data[name], predicted[name] = counts.astype(float), background * efficiency
    signal = np.histogram(rng.normal(400.0, 12.0, 12), EDGES)[0]
    data = {name: values + signal for name, values in data.items()}  # signal passes every cut
    result = lee.hunt_regions(data, predicted, EDGES, pseudo_experiments=300, seed=4)
    assert result.best == "tight" and list(result.regions) == list(efficiencies)
    tight = result.regions["tight"]
    assert tight.window.low <= 400.0 <= tight.window.high
    assert result.statistic == tight.statistic == max(h.statistic for h in result.regions.values())
    # the overall hunt pays for the regions: more trials than the tight region's alone
    assert result.global_p >= tight.global_p
    assert result.global_p <= sum(h.global_p for h in result.regions.values())
    assert result.trial_factor >= tight.trial_factor
    json.dumps(result.to_dict(), allow_nan=False)
    # nested data must be nested, loosest first
    with pytest.raises(
        lee.LeeError, match="region 'medium' data exceeds the looser region 'tight'"
    ):
        lee.hunt_regions({"tight": data["tight"], "medium": data["medium"]},
                         {"tight": predicted["tight"], "medium": predicted["medium"]}, EDGES)  # fmt: skip


# -- a fitted background ----------------------------------------------------------------


class _CountingRefit:
    """A refit that counts its calls: the spectrum's total in a fixed shape."""

    def __init__(self, shape: np.ndarray) -> None:
        self.shape, self.calls = shape, 0

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        self.calls += 1
        return _scale_to(counts, self.shape)


def test_every_pseudo_experiment_is_refitted():
    data, background = _spectrum_with_bump(0)
    refit = _CountingRefit(background)
    result = lee.hunt(1.5 * data, background, EDGES, pseudo_experiments=30, refit=refit)
    assert refit.calls == 31 and result.refitted
    # the data's background is the fit: 50% more data is no excess once the total is fitted
    np.testing.assert_allclose(result.background, _scale_to(1.5 * data, background))
    assert result.global_p > 0.05
    assert lee.hunt(1.5 * data, background, EDGES, pseudo_experiments=30).global_bound
    regions = {"loose": data, "tight": np.floor(0.5 * data)}
    refit = _CountingRefit(background)
    lee.hunt_regions(regions, regions, EDGES, pseudo_experiments=20, refit=refit)
    assert refit.calls == 2 * 21
    refit = _CountingRefit(background)
    lee.gross_vitells(data, background, EDGES, width=4, pseudo_experiments=25, refit=refit)
    assert refit.calls == 26


def test_a_spectrum_fit_as_refit_finds_the_bump_over_it():
    """liberica's own smooth fit (fits/spectrum.py) as the refit."""

    def refit(counts: np.ndarray) -> np.ndarray:
        return fit_background(Spectrum.of(EDGES, counts), "exponential", "poisson").expected

    data, background = _spectrum_with_bump(120)
    result = lee.hunt(data, background, EDGES, pseudo_experiments=30, seed=3, refit=refit)
    np.testing.assert_allclose(result.background, refit(data))
    assert result.window.low <= 400.0 <= result.window.high
    assert result.local_significance > 4.0 and result.global_bound


def _log_cubic(counts: np.ndarray) -> np.ndarray:
    """A smooth fit: a cubic in mll to the log of the counts, weighted by sqrt(counts)."""
    x = (CENTRES - CENTRES[0]) / (CENTRES[-1] - CENTRES[0])
    coefficients = np.polyfit(
        x, np.log(np.maximum(counts, 0.5)), 3, w=np.sqrt(np.maximum(counts, 1))
    )
    return np.exp(np.polyval(coefficients, x))


def test_refitted_global_p_values_of_background_only_data_are_uniform():
    """A fitted background is calibrated by refitted pseudo-experiments, not by fixed ones."""
    background = _falling()
    rng = np.random.default_rng(17)
    refitted = lee.hunt(rng.poisson(background).astype(float), background, EDGES,
                        pseudo_experiments=1000, seed=5, refit=_log_cubic)  # fmt: skip
    fixed = lee.hunt(background, background, EDGES, pseudo_experiments=1000, seed=5)
    data = rng.poisson(background, (150, 60)).astype(float)
    t = lee.scan_statistics(data, np.stack([_log_cubic(row) for row in data]), refitted.widths)
    p = [lee.global_p_value(x, refitted.null_statistics)[0] for x in t]
    assert stats.kstest(p, "uniform").pvalue > 0.01
    # against a fixed background's null, the refitted data look too quiet: the fit
    # absorbs part of every fluctuation
    p = [lee.global_p_value(x, fixed.null_statistics)[0] for x in t]
    assert np.mean(p) > 0.65 and stats.kstest(p, "uniform").pvalue < 1e-6


# -- Gross-Vitells ----------------------------------------------------------------------


def test_upcrossings_and_the_likelihood_ratio_scan():
    q = np.array([[0.0, 2.0, 0.5, 1.5, 1.0, 3.0], [2.0, 2.0, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(lee.upcrossings(q, 1.0), [3, 0])  # a start above is no crossing
    counts = np.array([10.0, 20.0, 5.0, 0.0])
    background = np.array([10.0, 10.0, 10.0, 10.0])
    n, b = 30.0, 20.0
    np.testing.assert_allclose(
        lee.likelihood_ratio_scan(counts, background, 2)[0],
        [2 * (n * np.log(n / b) - (n - b)), 2 * (25 * np.log(25 / 20) - 5), 0.0],
    )


def _data_at(background: np.ndarray, width: int, z: float, first: int = 30) -> np.ndarray:
    """The background with an excess in one window that makes its q = z^2."""
    b = background[first : first + width].sum()
    excess = _solve_q(b, z * z)
    data = background.copy()
    data[first : first + width] += excess * background[first : first + width] / b
    return data


def _solve_q(b: float, u: float) -> float:
    from scipy.optimize import brentq

    return brentq(lambda x: 2 * ((b + x) * np.log((b + x) / b) - x) - u, 1e-9, 100 * b + 100)


@pytest.mark.parametrize("width", [4, 8])
def test_gross_vitells_agrees_with_brute_force_pseudo_experiments(width):
    """Within 0.25 in Z at local Z 2.5-3.5 (measured: GV lower by 0.08-0.2, conservative)."""
    background = 2000 * np.exp(-(CENTRES - CENTRES[0]) / 300.0) + 50
    rng = np.random.default_rng(6)
    brute = lee.likelihood_ratio_scan(rng.poisson(background, (10_000, 60)), background, width)
    largest = brute.max(axis=1)
    for z in (2.5, 3.0, 3.5):
        result = lee.gross_vitells(_data_at(background, width, z), background, EDGES,
                                   width=width, seed=11)  # fmt: skip
        assert result.statistic == pytest.approx(
            z * z
        ) and result.local_significance == pytest.approx(z)
        assert (result.window.first, result.window.stop) == (30, 30 + width)
        z_brute = stats.norm.isf(np.mean(largest >= result.statistic))
        assert result.global_significance == pytest.approx(z_brute, abs=0.25)
        assert result.global_significance <= z_brute + 0.05  # conservative
    assert result.pseudo_experiments == 200 and result.level == lee.DEFAULT_LEVEL
    assert result.upcrossings_error < 0.1 * result.upcrossings
    json.dumps(result.to_dict(), allow_nan=False)


# -- seeding ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_hunt_and_numpys_global_state_is_untouched(capsys, caplog):
    data, background = _spectrum_with_bump(60)
    np.random.seed(123)
    before = np.random.get_state()
    with caplog.at_level(logging.DEBUG, logger="liberica.fits.lee"):
        first = lee.hunt(data, background, EDGES, pseudo_experiments=100, seed=7)
        again = lee.hunt(data, background, EDGES, pseudo_experiments=100, seed=7)
        other = lee.hunt(data, background, EDGES, pseudo_experiments=100, seed=8)
        regions = {"a": data, "b": np.floor(data / 2)}
        joint = [lee.hunt_regions(regions, regions, EDGES, pseudo_experiments=50, seed=7,
                                  refit=_CountingRefit(background)) for _ in range(2)]  # fmt: skip
        gv = [lee.gross_vitells(data, background, EDGES, width=4, seed=7) for _ in range(2)]
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    assert np.random.random() == np.random.RandomState(123).random()
    np.testing.assert_array_equal(first.null_statistics, again.null_statistics)
    assert first.to_dict() == again.to_dict()
    assert not np.array_equal(first.null_statistics, other.null_statistics)
    np.testing.assert_array_equal(joint[0].null_statistics, joint[1].null_statistics)
    assert joint[0].to_dict() == joint[1].to_dict() and gv[0].to_dict() == gv[1].to_dict()
    # pyBumpHunter's printing went to the log, not to the terminal
    assert capsys.readouterr().out == ""
    assert any("pyBumpHunter: Global p-value" in r.getMessage() for r in caplog.records)


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"background": [5.0, -1.0, 5.0, 5.0]}, "background is negative in bin 1"),
        ({"background": [5.0, 5.0, np.nan, 5.0]}, "background is not finite in bin 2"),
        ({"data": [5.0, np.inf, 5.0, 5.0]}, "data is not finite in bin 1"),
        ({"data": [5.0, 5.0, 5.0]}, "data has 3 bins but the background 4"),
        ({"background": [5.0, 0.0, 5.0, 5.0]}, "background is 0 in bin 1 where the data has 6"),
        ({"edges": [0.0, 1.0, 2.0, 3.0]}, "edges must hold 5 values for 4 bins"),
        ({"edges": [0.0, 1.0, 1.0, 3.0, 4.0]}, "edges must be finite and increasing"),
        ({"widths": lee.Widths(2, 5)}, "window widths 2-5 bins do not fit a spectrum of 4 bins"),
        ({"widths": lee.Widths(0, 2)}, "window width minimum must be a positive integer"),
        ({"pseudo_experiments": 0}, "pseudo_experiments must be an integer >= 1"),
        ({"refit": lambda counts: counts[:-1] + 1}, "fitted to the data: data has 4 bins"),
        ({"refit": lambda counts: counts - 10}, "fitted to the data is negative in bin 0"),
    ],
)
def test_bad_input_is_one_line_naming_what_is_wrong(change, message):
    arguments = {"data": [5.0, 6.0, 9.0, 5.0], "background": [5.0, 5.0, 5.0, 5.0],
                 "edges": [0.0, 1.0, 2.0, 3.0, 4.0], "widths": lee.Widths(1, 2),
                 "pseudo_experiments": 10} | change  # fmt: skip
    data, background, edges = (arguments.pop(k) for k in ("data", "background", "edges"))
    with pytest.raises(LibericaError, match="^[^\n]*$") as error:
        lee.hunt(data, background, edges, **arguments)
    assert isinstance(error.value, lee.LeeError) and message in str(error.value)


def test_bad_regions_and_pseudo_experiment_fits_are_named():
    data, background = _spectrum_with_bump(0)
    with pytest.raises(lee.LeeError, match="region 'b' background is negative in bin 0"):
        lee.hunt_regions({"a": data, "b": data}, {"a": background, "b": -background}, EDGES)
    with pytest.raises(lee.LeeError, match="data and background name different regions"):
        lee.hunt_regions({"a": data}, {"b": background}, EDGES)
    with pytest.raises(lee.LeeError, match="refit has no entry for region"):
        lee.hunt_regions({"a": data}, {"a": background}, EDGES, refit={"b": lambda c: c})

    calls = []

    def failing(counts: np.ndarray) -> np.ndarray:  # fits the data, not a pseudo-experiment
        calls.append(1)
        fitted = _scale_to(counts, background)
        fitted[0] = fitted[0] if len(calls) == 1 else 0.0
        return fitted

    with pytest.raises(lee.LeeError, match="pseudo-experiment 0: the background is 0 in bin 0"):
        lee.hunt(data, background, EDGES, pseudo_experiments=5, refit=failing)


# -- figures ----------------------------------------------------------------------------


def test_the_figures_show_the_hunts_window_and_statistic(tmp_path):
    data, background = _spectrum_with_bump(80)
    result = lee.hunt(data, background, EDGES, pseudo_experiments=100, seed=1)
    figure = lee_plots.spectrum_figure(result, "test", "$m_{\\ell\\ell}$ [GeV]")
    (shaded,) = [p for p in figure.axes[0].patches if p.get_gid() == lee_plots.WINDOW_GID]
    extent = (shaded.get_x(), shaded.get_x() + shaded.get_width())  # x in data units
    assert extent == pytest.approx((result.window.low, result.window.high))
    figure = lee_plots.statistic_figure(result)
    (line,) = [a for a in figure.axes[0].lines if a.get_gid() == lee_plots.STATISTIC_GID]
    assert line.get_xdata()[0] == pytest.approx(result.statistic)
    figure = lee_plots.local_p_scan_figure(result)
    assert figure.axes[0].get_yscale() == "log"
    marked = [t.get_text().strip() for t in figure.axes[0].texts]
    assert marked == [f"{k}$\\sigma$" for k in range(1, 6)]
    matplotlib.pyplot.close("all")
    regions = {"loose": data, "tight": np.floor(data / 2)}
    joint = lee.hunt_regions(regions, regions, EDGES, pseudo_experiments=50)
    paths = lee_plots.draw(joint, tmp_path / "lee")
    assert sorted(p.name for p in paths) == sorted(
        [f"{kind}_{name}.png" for kind in ("spectrum", "local_p", "statistic")
         for name in ("loose", "tight")] + ["statistic_all_regions.png"]
    )  # fmt: skip
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
