"""Data/MC feature agreement (fits/agreement.py) and its plots (fits/agreement_plots.py)."""

from __future__ import annotations

import json

import hist
import numpy as np
import pytest
import yaml
from scipy import stats

from liberica.core import definition as definition_module
from liberica.fits import agreement
from liberica.fits.agreement import AgreementError, compare, compare_histograms, merged_bins
from liberica.processors.histograms import DATA_PROCESS, NOMINAL

MASS_EDGES = np.linspace(70.0, 110.0, 41)
PT_EDGES = np.linspace(20.0, 220.0, 41)
DATA_EVENTS = 100_000
MC_PER_DATA = 4  # MC events per expected data event: weights 1/4


def _mass(rng, n):
    return rng.normal(91.0, 4.0, n)


def _pt(rng, n):
    return 20.0 + rng.exponential(30.0, n)


def _mc(rng, draw, edges):
    """MC of DATA_EVENTS expected events: values, sum w and sum w^2 per bin."""
    values = draw(rng, MC_PER_DATA * DATA_EVENTS)
    weight = np.full(len(values), 1.0 / MC_PER_DATA)
    mc, _ = np.histogram(values, edges, weights=weight)
    variance, _ = np.histogram(values, edges, weights=weight**2)
    return mc, variance


def test_hand_computed_three_bins():
    data, mc, variance = np.array([12.0, 20.0, 7.0]), np.array([10.0, 22.0, 8.0]), [1.0, 2.0, 0.5]
    absolute = compare([0, 1, 2, 3], data, mc, variance, shape_only=False, min_expected=5)
    chi2 = 2**2 / (10 + 1) + 2**2 / (22 + 2) + 1**2 / (8 + 0.5)
    assert absolute.chi2 == pytest.approx(chi2, rel=1e-12)
    assert absolute.ndf == 3 and absolute.chi2_ndf == pytest.approx(chi2 / 3, rel=1e-12)
    assert absolute.p_value == pytest.approx(stats.chi2.sf(chi2, 3), rel=1e-12)
    assert absolute.max_pull == pytest.approx(2 / np.sqrt(11), rel=1e-12)
    assert absolute.max_pull_bin == (0.0, 1.0)
    assert absolute.normalization == pytest.approx(39 / 40, rel=1e-12)

    scale = 39 / 40
    expected = scale * mc
    shape = compare([0, 1, 2, 3], data, mc, variance, min_expected=5)  # shape_only: the default
    by_hand = np.sum((data - expected) ** 2 / (expected + scale**2 * np.array(variance)))
    assert shape.chi2 == pytest.approx(by_hand, rel=1e-12) and shape.ndf == 2


def test_bins_merge_from_the_left_and_a_short_last_group_joins_the_one_before():
    assert merged_bins(np.array([1, 2, 3, 0.5, 6, 1]), 5) == [(0, 3), (3, 6)]
    assert merged_bins(np.array([9, 9, 9]), 5) == [(0, 1), (1, 2), (2, 3)]
    assert merged_bins(np.array([1, 1]), 5) == [(0, 2)]
    result = compare(
        [0, 1, 2, 3, 4, 5, 6], [2, 1, 4, 1, 5, 2], [1, 2, 3, 0.5, 6, 1], [0.1] * 6, shape_only=False
    )
    assert result.edges == (0.0, 3.0, 6.0) and result.ndf == 2 and result.bins == 6


def test_data_drawn_from_mc_agrees():
    rng = np.random.default_rng(11)
    mc, variance = _mc(rng, _mass, MASS_EDGES)
    result = compare(MASS_EDGES, rng.poisson(mc), mc, variance, name="mass")
    # the MC's own statistical error is in the denominator too: expect a little below 1
    assert 0.5 < result.chi2_ndf < 1.5 and result.p_value > 1e-3
    assert not result.flagged and result.threshold == agreement.DEFAULT_THRESHOLDS["chi2_ndf"]


def test_data_smeared_30_percent_wider_is_flagged():
    rng = np.random.default_rng(12)
    mc, variance = _mc(rng, _mass, MASS_EDGES)
    values = _mass(rng, rng.poisson(DATA_EVENTS))
    values = values + rng.normal(0.0, 4.0 * np.sqrt(1.3**2 - 1.0), len(values))  # sigma x 1.3
    data, _ = np.histogram(values, MASS_EDGES)
    result = compare(MASS_EDGES, data, mc, variance, name="mass")
    assert result.flagged and result.chi2_ndf > 100  # measured: about 800
    by_pull = compare(MASS_EDGES, data, mc, variance, measure="max_pull")
    assert by_pull.flagged and by_pull.value == abs(by_pull.max_pull) > 20
    # wider: the largest pull is data above MC in a tail (merged bins there span several)
    low, high = result.max_pull_bin
    assert result.max_pull > 0 and (high <= 83.0 or low >= 99.0)


@pytest.mark.parametrize("shape_only", [True, False])
def test_a_two_percent_normalization_shift_is_not_flagged(shape_only):
    rng = np.random.default_rng(13)
    mc, variance = _mc(rng, _pt, PT_EDGES)
    data = rng.poisson(1.02 * mc)
    result = compare(PT_EDGES, data, mc, variance, shape_only=shape_only)
    assert result.normalization == pytest.approx(1.02, abs=0.01)
    assert not result.flagged
    # shape-only: the shift is divided out; absolute: it adds about N x 0.02^2 / ndf
    assert result.chi2_ndf < (1.5 if shape_only else 3.0)


def test_a_relative_mc_uncertainty_lowers_chi2():
    rng = np.random.default_rng(14)
    mc, variance = _mc(rng, _pt, PT_EDGES)
    data, _ = np.histogram(1.02 * _pt(rng, rng.poisson(DATA_EVENTS)), PT_EDGES)
    stat_only = compare(PT_EDGES, data, mc, variance)
    with_floor = compare(PT_EDGES, data, mc, variance, mc_relative_uncertainty=0.05)
    assert with_floor.chi2 < 0.5 * stat_only.chi2


def test_refusals_name_the_feature():
    with pytest.raises(AgreementError, match="unknown agreement measure 'ks'"):
        compare([0, 1, 2], [1, 1], [1, 1], [1, 1], measure="ks")
    with pytest.raises(AgreementError, match="'met'.*nothing to compare"):
        compare([0, 1, 2], [1, 1], [0, 0], [0, 0], name="met")
    with pytest.raises(AgreementError, match="'met'.*no degree of freedom"):
        compare([0, 1, 2], [3, 3], [3, 3], [1, 1], name="met", min_expected=10)
    with pytest.raises(AgreementError, match="'met': 2 bins"):
        compare([0, 1, 2], [3, 3, 3], [3, 3], [1, 1], name="met")


def _region_histogram(edges, per_process: dict[str, tuple[np.ndarray, np.ndarray]], data):
    """A region's Hist(observable, process, variation) with the given nominal contents."""
    h = hist.Hist(
        hist.axis.Variable(edges, name="x", label="$x$ [GeV]"),
        hist.axis.StrCategory([*per_process, DATA_PROCESS], name="process"),
        hist.axis.StrCategory([NOMINAL], name="variation"),
        storage=hist.storage.Weight(),
    )
    view = h.view()
    for p, (values, variances) in enumerate(per_process.values()):
        view["value"][:, p, 0] = values
        view["variance"][:, p, 0] = variances
    view["value"][:, len(per_process), 0] = data
    view["variance"][:, len(per_process), 0] = data
    return h


@pytest.fixture(scope="module")
def features():
    """Two features of one region's events: one modelled, one whose data are wider."""
    rng = np.random.default_rng(21)
    good_mc, good_variance = _mc(rng, _pt, PT_EDGES)
    wide_mc, wide_variance = _mc(rng, _mass, MASS_EDGES)
    good_data = rng.poisson(good_mc)
    wide_values = _mass(rng, DATA_EVENTS) * 1.0
    wide_values = 91.0 + 1.3 * (wide_values - 91.0)
    wide_data, _ = np.histogram(wide_values, MASS_EDGES)

    def split(values, variances):  # two processes: 70% and 30%
        return {
            "Zjets": (0.7 * values, 0.49 * variances),
            "ttbar": (0.3 * values, 0.09 * variances),
        }

    return {
        "pt_lead": _region_histogram(PT_EDGES, split(good_mc, good_variance), good_data),
        "mll_wide": _region_histogram(MASS_EDGES, split(wide_mc, wide_variance), wide_data),
    }


def test_many_features_give_one_result_each_and_the_flagged_list(features):
    summary = compare_histograms(features, ["pt_lead", "mll_wide"], ["Zjets", "ttbar"])
    assert list(summary.results) == ["pt_lead", "mll_wide"]
    assert summary.flagged == ["mll_wide"]
    assert summary.results["pt_lead"].chi2_ndf < 1.5
    document = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    assert document["flagged"] == ["mll_wide"] and document["measure"] == "chi2_ndf"
    assert set(document["features"]["mll_wide"]) >= {"chi2_ndf", "p_value", "max_pull_bin"}
    with pytest.raises(AgreementError, match="no process"):
        compare_histograms(features, ["pt_lead"], ["Wjets"])
    with pytest.raises(AgreementError, match="no histograms of region"):
        compare_histograms(features, ["eta_lead"], ["Zjets"])


def _definition_with_checks(tmp_path, checks: dict):
    """hzz4l with a checks block (and the regions a ``regions`` key in it adds)."""
    checks = dict(checks)
    regions = checks.pop("regions", {})
    path = tmp_path / "checked.yaml"
    path.write_text(yaml.safe_dump({"extends": "hzz4l", "checks": checks, "regions": regions}))
    return definition_module.load(path)


def test_the_definition_s_feature_check_runs_on_a_run_s_histograms(tmp_path, features):
    checked = _definition_with_checks(
        tmp_path,
        {
            "feature_agreement": {
                "regions": ["sr_4l", "sr_4e"],
                "threshold": 4,
                "processes": ["Zjets", "ttbar"],
                "drop_flagged": True,
            }
        },
    )
    config = checked.checks.feature_agreement
    assert config.threshold == 4.0 and config.measure == "chi2_ndf" and config.shape_only
    run = {"sr_4l": features["pt_lead"], "sr_4e": features["mll_wide"]}
    summary = agreement.feature_agreement(run, checked)
    assert summary.threshold == 4.0 and summary.flagged == ["sr_4e"]
    assert agreement.kept_features(summary, config) == ["sr_4l"]
    plain = definition_module.load("hzz4l")
    assert agreement.mc_processes(plain, config._replace(processes=())) == ("ZZ", "Zjets", "ttbar")
    with pytest.raises(AgreementError, match="no checks.feature_agreement"):
        agreement.feature_agreement(run, plain)


@pytest.mark.parametrize(
    ("checks", "key"),
    [
        ({"feature_agreement": {"regions": ["sr_9l"]}}, "checks.feature_agreement.regions[0]"),
        ({"feature_agreement": {"regions": ["sr_4l"], "measure": "ks"}}, "checks.feature_agreement.measure"),
        ({"feature_agreement": {"regions": ["sr_4l"], "threshold": -1}}, "checks.feature_agreement.threshold"),
        ({"feature_agreement": {"threshold": 5}}, "checks.feature_agreement.regions"),
        ({"feature_agreement": {"regions": ["sr_4l"], "processes": ["Wjets"]}}, "checks.feature_agreement.processes[0]"),
        ({"feature_agreement": {"regions": ["scan"]}, "regions": {"scan": {"selection": "hzz4l", "observable": "m4l", "versus": "m4l_window"}}}, "checks.feature_agreement.regions[0]"),
        ({"weights": {"siblings": {"higgs": ["ggH", "ttH"]}}}, "checks.weights.siblings.higgs[1]"),
        ({"weights": {"drop": "everything"}}, "checks.weights.drop"),
        ({"weights": {"sibling_factor": 1}}, "checks.weights.sibling_factor"),
        ({"weights": {"tolerance": 0.1, "toleranse": 0.2}}, "checks.weights.toleranse"),
    ],
)  # fmt: skip
def test_a_bad_checks_block_is_refused_naming_the_key(tmp_path, checks, key):
    with pytest.raises(definition_module.AnalysisDefinitionError) as caught:
        _definition_with_checks(tmp_path, checks)
    assert caught.value.key == key


def test_plots_one_png_per_feature_and_the_summary(tmp_path, features):
    from liberica.fits.agreement_plots import plot_agreement

    processes = definition_module.load("hzz4l").processes
    summary = compare_histograms(features, ["pt_lead", "mll_wide"], ["Zjets", "ttbar"])
    paths = plot_agreement(features, summary, processes, tmp_path, lumi_fb=10.0)
    assert [p.name for p in paths] == ["pt_lead.png", "mll_wide.png", "agreement_summary.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_a_feature_without_a_degree_of_freedom_is_not_assessed_not_fatal():
    """One populated bin (e.g. isOS in a sample of opposite-sign pairs only): listed in
    not_assessed, not flagged, and the other features are still compared."""
    import hist as hist_module

    from liberica.fits.agreement import compare_histograms

    def region(values_mc, values_data):
        h = hist_module.Hist(
            hist_module.axis.Regular(len(values_mc), 0, len(values_mc), name="x"),
            hist_module.axis.StrCategory(["bkg", "data"], name="process"),
            hist_module.axis.StrCategory(["nominal"], name="variation"),
            storage=hist_module.storage.Weight(),
        )
        centres = np.arange(len(values_mc)) + 0.5
        h.fill(centres, "bkg", "nominal", weight=values_mc)
        h.fill(centres, "data", "nominal", weight=values_data)
        return h

    histograms = {
        "one_bin": region([0.0, 1000.0], [0.0, 990.0]),
        "fine": region([500.0, 400.0, 300.0], [510.0, 390.0, 300.0]),
    }
    summary = compare_histograms(histograms, ["one_bin", "fine"], ["bkg"])
    assert list(summary.not_assessed) == ["one_bin"]
    assert "no degree of freedom" in summary.not_assessed["one_bin"]
    assert list(summary.results) == ["fine"] and summary.flagged == []
    assert summary.to_dict()["not_assessed"]["one_bin"] == summary.not_assessed["one_bin"]
