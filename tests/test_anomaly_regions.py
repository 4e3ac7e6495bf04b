"""Anomaly regions from a 2-D (observable x score) histogram: thresholds at fixed background efficiency."""

import hist
import numpy as np
import pytest

from liberica.fits.anomaly_regions import AnomalyRegionError, anomaly_regions, region_name


def _histogram(rng):
    h = hist.Hist(
        hist.axis.Regular(20, 0.0, 200.0, name="mll"),
        hist.axis.Regular(60, 1e-4, 1e2, name="score", transform=hist.axis.transform.log),
        hist.axis.StrCategory(["bkgA", "bkgB", "sig", "data"], name="process"),
        hist.axis.StrCategory(["nominal"], name="variation"),
        storage=hist.storage.Weight(),
    )
    n = 200_000
    # background: log10(score) ~ N(-2, 0.6), independent of mass; weights 0.5 and 2
    for process, weight in (("bkgA", 0.5), ("bkgB", 2.0)):
        mass = rng.exponential(50.0, n)
        score = 10 ** rng.normal(-2.0, 0.6, n)
        h.fill(mll=mass, score=score, process=process, variation="nominal", weight=weight)
    mass = rng.normal(120.0, 5.0, 2000)
    h.fill(mll=mass, score=10 ** rng.normal(0.0, 0.3, 2000), process="sig", variation="nominal")
    h.fill(
        mll=rng.exponential(50.0, 1000),
        score=10 ** rng.normal(-2, 0.6, 1000),
        process="data",
        variation="nominal",
    )
    return h


def test_thresholds_give_the_target_background_efficiency():
    rng = np.random.default_rng(4)
    h = _histogram(rng)
    regions = anomaly_regions(h, ["bkgA", "bkgB"], ["sig"], [0.001, 0.1, 0.01])
    assert [r.name for r in regions] == ["eff_10pc", "eff_1pc", "eff_0p1pc"]  # loosest first
    values = h[..., "bkgA", "nominal"].values(flow=True) + h[..., "bkgB", "nominal"].values(
        flow=True
    )
    in_range = values[1:-1, :]
    total = in_range.sum()
    edges = h.axes["score"].edges
    for region in regions:
        # at most the target, and the next-lower edge would exceed it
        assert region.efficiency <= region.target_efficiency
        k = int(np.flatnonzero(np.isclose(edges, region.threshold))[0])
        above = (
            in_range[:, k + 1 :].sum() / total
        )  # flow index k + 1 is the bin starting at edges[k]
        assert region.efficiency == pytest.approx(above, rel=1e-12)
        looser = in_range[:, k:].sum() / total
        assert looser > region.target_efficiency
        # bins 0.1 wide in log10(score): within a factor 2 of the target even in the far tail
        assert region.efficiency > region.target_efficiency / 2
        np.testing.assert_allclose(region.background.sum(), above * total, rtol=1e-12)
    # nested: each tighter region's spectra are below the looser one's, bin by bin
    for loose, tight in zip(regions, regions[1:], strict=False):
        assert np.all(tight.background <= loose.background + 1e-9)
        assert np.all(tight.data <= loose.data)
        assert tight.threshold > loose.threshold
    # the signal sits at high score: most of it survives the 1% cut
    assert regions[1].signal_efficiency["sig"] > 0.9
    assert regions[0].to_dict()["data_events"] == int(regions[0].data.sum())


def test_bad_inputs_are_named():
    rng = np.random.default_rng(1)
    h = _histogram(rng)
    with pytest.raises(AnomalyRegionError, match="'nope'"):
        anomaly_regions(h, ["nope"], [], [0.1])
    with pytest.raises(AnomalyRegionError, match=r"\(0, 1\).*1.5"):
        anomaly_regions(h, ["bkgA"], [], [1.5])
    with pytest.raises(AnomalyRegionError, match="2-D"):
        anomaly_regions(h[:, sum, :, :], ["bkgA"], [], [0.1])


def test_region_names():
    assert region_name(0.1) == "eff_10pc"
    assert region_name(0.001) == "eff_0p1pc"
