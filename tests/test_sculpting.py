"""fits/sculpting.py: a selection's shape change of a background spectrum, and hzz4l's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from liberica.api import search
from liberica.core.definition import load
from liberica.fits.sculpting import SculptingError, sculpting
from liberica.fits.spectrum import Spectrum

EDGES = np.linspace(0.0, 200.0, 401)
CENTRES = 0.5 * (EDGES[1:] + EDGES[:-1])


def _gaussian(mean: float, sigma: float, total: float = 1000.0) -> Spectrum:
    values = total * np.diff(stats.norm.cdf(EDGES, mean, sigma))
    return Spectrum.of(EDGES, values, values)


def test_a_shifted_narrower_peak_gives_its_shift_width_ratio_and_ks_distance():
    reference, selected = _gaussian(100.0, 15.0), _gaussian(106.0, 9.0, total=37.0)
    measured = sculpting(reference, selected)
    assert measured["mean_shift"] == pytest.approx(6.0, abs=1e-3)
    assert measured["width_ratio"] == pytest.approx(9.0 / 15.0, rel=1e-3)
    # the largest CDF difference of two Gaussians, on a fine grid
    x = np.linspace(0.0, 200.0, 200_001)
    expected = np.max(np.abs(stats.norm.cdf(x, 106.0, 9.0) - stats.norm.cdf(x, 100.0, 15.0)))
    assert measured["ks_distance"] == pytest.approx(expected, abs=2e-3)


def test_a_flat_efficiency_does_not_sculpt():
    """Keeping the same fraction of every bin changes the yield, not the shape."""
    reference = _gaussian(100.0, 15.0)
    kept = Spectrum.of(EDGES, 0.2 * reference.values, 0.2 * reference.variances)
    measured = sculpting(reference, kept)
    assert measured["mean_shift"] == pytest.approx(0.0, abs=1e-9)
    assert measured["width_ratio"] == pytest.approx(1.0, rel=1e-12)
    assert measured["ks_distance"] == pytest.approx(0.0, abs=1e-12)
    # a bin-dependent efficiency does: one rising with the mass moves the mean up
    rising = Spectrum.of(EDGES, reference.values * CENTRES / 200.0, reference.variances)
    assert sculpting(reference, rising)["mean_shift"] > 1.0


def test_spectra_of_different_bins_are_refused():
    coarse = Spectrum.of(EDGES[::2], np.ones(200), np.ones(200))
    with pytest.raises(SculptingError, match="different bins.*set a common range"):
        sculpting(_gaussian(100.0, 15.0), coarse)
    empty = Spectrum.of(EDGES, np.zeros(400), np.zeros(400))
    with pytest.raises(SculptingError, match="empty"):
        sculpting(_gaussian(100.0, 15.0), empty)


@pytest.fixture(scope="module")
def hzz4l_sculpting(default_run):
    return search(default_run.output_dir, load("hzz4l"), profile_likelihood=False).content


def test_hzz4l_score_split_sculpts_zz_towards_the_higgs_mass(hzz4l_sculpting, default_run):
    """The classifier leaves m4l out, yet its high-score ZZ* peaks near 125 GeV."""
    results = hzz4l_sculpting
    assert "selections" not in results  # hzz4l has no spectrum search: the sculpting alone
    assert results["sculpting_settings"] == {
        "processes": ["ZZ"], "reference": "sr_4l", "range": [100.0, 160.0]
    }  # fmt: skip
    high, low = results["sculpting"]["high_score"], results["sculpting"]["low_score"]
    assert high["region"] == "sr_4l_high" and high["classifier"] == "hzz4l_mlp"
    # the reference is sr_4l in 100-160 GeV: its ZZ* sum is the histogram's
    h = default_run.histograms["sr_4l"]
    inside = (h.axes[0].centers > 100) & (h.axes[0].centers < 160)
    zz = h[:, "ZZ", "nominal"].values()[inside]
    assert high["mean"][0] == pytest.approx(
        np.sum(zz * h.axes[0].centers[inside]) / zz.sum(), rel=1e-12
    )
    # the high-score ZZ* moves down towards 125 GeV and narrows; the low score the other way
    assert high["mean_shift"] < -5.0 and 120.0 < high["mean"][1] < 132.0
    assert high["width_ratio"] < 0.85 and high["ks_distance"] > 0.3
    assert low["mean_shift"] > 0.0
    # the two score regions split sr_4l: their pass fractions add up to 1 in every bin
    both = np.array(high["pass_fraction"]) + np.array(low["pass_fraction"])
    assert np.allclose(both, 1.0, rtol=1e-9)
    # most ZZ* at 120-125 GeV passes the high score, almost none at 155-160 GeV
    assert high["pass_fraction"][4] > 0.8 and high["pass_fraction"][-1] < 0.2
    table = (default_run.output_dir / "search" / "table.md").read_text()
    assert "Sculpting of the ZZ spectrum in 100-160 GeV against sr_4l" in table
    on_disk = json.loads((default_run.output_dir / "search" / "results.json").read_text())
    assert on_disk["sculpting"].keys() == {"high_score", "low_score"}
    assert (default_run.output_dir / "search" / "figures" / "sculpting_sr_4l.png").exists()


def test_bins_of_negative_weight_count_as_empty():
    reference = _gaussian(100.0, 15.0)
    values = reference.values.copy()
    values[250] = -5.0  # 125 GeV: negative generator weights won there
    dipped = Spectrum.of(EDGES, values, np.abs(values))
    measured = sculpting(reference, dipped)
    assert measured["negative_bins"] == [0, 1]
    cleared = values.copy()
    cleared[250] = 0.0
    assert measured == {**sculpting(reference, Spectrum.of(EDGES, cleared, cleared)),
                        "negative_bins": [0, 1]}  # fmt: skip
    assert np.isfinite(measured["width_ratio"])


def test_results_are_keyed_by_classifier_unless_keys_would_collide():
    from liberica.fits.search import _sculpting_keys

    one = {"cut_based": {"classifier": None}, "classifier": {"classifier": "mlp"}}
    assert _sculpting_keys(one) == {"cut_based": "cut_based", "classifier": "mlp"}
    shared = {"high": {"classifier": "mlp"}, "low": {"classifier": "mlp"}}
    assert _sculpting_keys(shared) == {"high": "high", "low": "low"}
    clash = {"mlp": {"classifier": None}, "other": {"classifier": "mlp"}}
    assert _sculpting_keys(clash) == {"mlp": "mlp", "other": "other"}
