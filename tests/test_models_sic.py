"""SIC curves: known peaks, the background floor, interpolation at fixed signal efficiency."""

import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from liberica.models.sic import MAX_POINTS, SicError, sic_at, sic_curve
from liberica.models.sic_plots import draw_sic


def _steps():
    """10000 background, 1000 signal: 10 background and 300 signal at score 0.95,
    100 background and 400 signal at 0.9, the rest alike below 0.5."""
    rng = np.random.default_rng(0)
    background = np.concatenate([[0.95] * 10, [0.9] * 100, rng.uniform(0, 0.5, 9890)])
    signal = np.concatenate([[0.95] * 300, [0.9] * 400, rng.uniform(0, 0.5, 300)])
    scores = np.concatenate([signal, background])
    labels = np.concatenate([np.ones(1000, int), np.zeros(10_000, int)])
    return scores, labels


def _gaussians(shift: float, n_signal: int, n_background: int):
    """Exact-quantile samples of N(shift, 1) (signal) and N(0, 1) (background)."""
    signal = norm.ppf((np.arange(n_signal) + 0.5) / n_signal) + shift
    background = norm.ppf((np.arange(n_background) + 0.5) / n_background)
    labels = np.concatenate([np.ones(n_signal, int), np.zeros(n_background, int)])
    return np.concatenate([signal, background]), labels


def test_known_peak_and_the_floor_of_background_events():
    scores, labels = _steps()
    # at 0.95: eps_S 0.3, eps_B 0.001 -> 9.49, but only 10 background events pass
    # at 0.9: eps_S 0.7, eps_B 0.011 -> 6.67, with 110
    curve = sic_curve(scores, labels, min_background=25)
    assert curve.peak_sic == pytest.approx(0.7 / math.sqrt(0.011), rel=1e-12)
    assert (curve.peak_eps_s, curve.peak_eps_b) == pytest.approx((0.7, 0.011), rel=1e-12)
    assert curve.eps_b_floor == pytest.approx(25 / 10_000)
    loose = sic_curve(scores, labels, min_background=5)
    assert loose.peak_sic == pytest.approx(0.3 / math.sqrt(0.001), rel=1e-12)
    assert loose.eps_b_floor == pytest.approx(5 / 10_000)
    # the point below the floor is still on the curve, for the plot
    assert np.any(np.isclose(curve.eps_b, 0.001))
    # weights: scaling all of them changes nothing; the floor still counts events
    doubled = sic_curve(scores, labels, np.full(len(scores), 2.0), min_background=25)
    assert doubled.peak_sic == pytest.approx(curve.peak_sic, rel=1e-12)
    assert doubled.eps_b_floor == curve.eps_b_floor


def test_gaussian_toy_matches_the_analytic_curve_after_thinning():
    scores, labels = _gaussians(2.0, 50_000, 200_000)
    curve = sic_curve(scores, labels)
    assert len(curve.eps_s) <= MAX_POINTS + 4
    assert np.all(np.diff(curve.eps_s) >= 0) and np.all(np.diff(curve.eps_b) >= 0)
    for eps_s in (0.2, 0.5, 0.8):
        cut = 2.0 + norm.ppf(1 - eps_s)  # keeps eps_s of the signal
        expected = eps_s / math.sqrt(norm.sf(cut))
        assert sic_at(curve, eps_s) == pytest.approx(expected, rel=5e-3)
    # the analytic peak: maximise eps_S / sqrt(eps_B) over cuts with eps_B >= 25 / 200k
    cuts = np.linspace(0.0, norm.isf(curve.eps_b_floor), 20_001)
    analytic = norm.sf(cuts - 2.0) / np.sqrt(norm.sf(cuts))
    assert curve.peak_sic == pytest.approx(analytic.max(), rel=0.01)
    assert curve.peak_eps_b >= curve.eps_b_floor
    # below the floor sic_at says nothing; outside the curve neither
    assert math.isnan(sic_at(curve, 0.005))
    assert math.isnan(sic_at(curve, 1.5))


def test_random_scores_never_improve_significance():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 100_000)
    curve = sic_curve(rng.random(100_000), labels, min_background=100)
    np.testing.assert_allclose(curve.sic[curve.eps_b > 0.05], np.sqrt(curve.eps_s[curve.eps_b > 0.05]), rtol=0.05)  # fmt: skip
    assert curve.peak_sic < 1.05


def test_to_dict_is_json_and_errors_are_one_line(tmp_path):
    scores, labels = _steps()
    curve = sic_curve(scores, labels)
    text = json.dumps(curve.to_dict())
    assert json.loads(text)["peak_eps_b"] == pytest.approx(0.011)
    with pytest.raises(SicError, match="got 0 signal"):
        sic_curve(scores[labels == 0], labels[labels == 0])
    with pytest.raises(SicError, match="min_background=25 .* 20 background"):
        sic_curve(scores[:1020], labels[:1020])
    with pytest.raises(SicError, match="not finite"):
        sic_curve(np.append(scores, np.nan), np.append(labels, 0))
    path = draw_sic(
        {"steps": curve, "gaussian": sic_curve(*_gaussians(2.0, 2000, 20_000))},
        tmp_path / "sic.png",
        "toy",
    )
    assert path.stat().st_size > 10_000
