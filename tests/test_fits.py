"""The mu measurement (cabinetry + pyhf): default sample, closure, and the fit command."""

import cabinetry
import numpy as np
import pytest

from liberica.analysis.hzz4l.generator import generate_hzz4l
from liberica.core.definition import load
from liberica.fits.config import build_config
from liberica.fits.measurement import (
    FitInputError,
    build_workspace,
    check_model_covers_data,
    fit_signal_strength,
    measure_mu,
)
from liberica.orchestration.pipeline import run_processor


@pytest.fixture(scope="module")
def workspace(default_run):
    config = build_config(load("hzz4l"), default_run.output_dir)
    assert [r["Name"] for r in config["Regions"]] == ["sr_4l_low", "sr_4l_high"]
    assert {s["Name"] for s in config["Samples"] if s.get("Data")} == {"data"}
    return build_workspace(config, default_run.output_dir / "fit" / "workspace.json")[0]


def test_asimov_fit_returns_one(workspace):
    expected = measure_mu(workspace, asimov=True)
    assert expected.bestfit == pytest.approx(1.0, abs=1e-3)


def test_fit_recovers_injected_mu_and_stat_error_is_smaller(workspace):
    mu = measure_mu(workspace)
    assert abs(mu.bestfit - 1.0) < (mu.up if mu.bestfit < 1 else -mu.down)
    # fixing every nuisance parameter leaves the statistical error, which is smaller
    assert 0 < mu.stat_up < mu.up and mu.down < mu.stat_down < 0


@pytest.mark.parametrize("injected", [0.0, 2.0])
def test_closure_recovers_injected_mu(tmp_path, injected):
    """Small seeded pseudo-data with mu = 0 and mu = 2: each fit finds its mu within 2 sigma."""
    sample = generate_hzz4l(
        tmp_path / "sample", events=500_000, lumi_fb=30.0, mu_inject=injected, seed=11
    )
    run = run_processor(
        "hzz4l",
        sample.fileset_path,
        executor="iterative",
        output_dir=tmp_path / "run",
        status=False,
    )
    workspace, _ = build_workspace(
        build_config(load("hzz4l"), run.output_dir), run.output_dir / "fit" / "workspace.json"
    )
    model, data = cabinetry.model_utils.model_and_data(workspace)
    mu, _, status = fit_signal_strength(model, data)
    assert status["total"].valid and status["total"].retries == 0
    error = mu.up if mu.bestfit < injected else -mu.down
    assert abs(mu.bestfit - injected) < 2 * error, mu
    assert 0.05 < error < 1.0  # a measurement, not a free-floating parameter


def test_data_without_prediction_is_refused(tiny_workspace):
    tiny_workspace["channels"][0]["samples"][1]["data"][2] = 0.0
    tiny_workspace["channels"][0]["samples"][0]["data"][2] = 0.0
    with pytest.raises(FitInputError, match="sr bin 2: 50 events, no MC"):
        check_model_covers_data(tiny_workspace)


def test_fit_command_writes_results_ranking_and_plots(default_run, default_fit):
    run_dir = default_run.output_dir
    output, results = default_fit
    mu, expected = results["mu"], results["expected"]
    for block in (mu, expected):
        assert set(block) == {
            "bestfit",
            "up",
            "down",
            "stat_up",
            "stat_down",
            "uncertainty_breakdown",
        }
    assert expected["bestfit"] == pytest.approx(1.0, abs=1e-3)
    assert results["injected_mu"] == 1.0
    # about 230 signal events over a small background: strong, and finite
    z = results["significance"]
    assert 5 < z["expected"] < 40 and 5 < z["observed"] < 40
    limit = results["upper_limit"]
    assert mu["bestfit"] < limit["observed"] < mu["bestfit"] + 3 * mu["up"]
    assert limit["expected"] == sorted(limit["expected"]) and limit["expected"][2] < 0.5
    ranking = results["ranking"]
    keys = {
        "name",
        "label",
        "impact_up",
        "impact_down",
        "prefit_impact_up",
        "prefit_impact_down",
        "fitted",
        "valid",
    }
    assert all(set(r) == keys for r in ranking)
    assert len(ranking) == len(results["pulls"])  # every nuisance parameter, pruned or not
    # the lepton scale factors and the ZZ* normalization lead; they pull mu opposite ways
    assert {r["name"] for r in ranking[:3]} == {"muon_sf", "electron_sf", "xsec_ZZ"}
    assert all(r["fitted"] for r in ranking[:20])
    assert ranking[0]["impact_up"] * ranking[0]["impact_down"] < 0
    assert results["timing_s"]["ranking"] < 60
    # every fit converged: mu's at its first attempt; of the many fits of the CLs scan, the
    # significance and the ranking, at most one went down the retry ladder (fits/minimize.py:
    # each attempt is one MIGRAD, so a fit MIGRAD would have re-run itself counts as retried)
    status = results["fit_status"]
    assert (
        status["mu_observed"]["total"]["valid"] and status["mu_observed"]["total"]["retries"] == 0
    )
    for step in ("significance", "upper_limit", "ranking"):
        assert status[step]["n_valid"] == status[step]["n_fits"] > 0
        assert status[step]["fits_with_retries"] <= 1 and status[step]["failed"] == []
    assert len(results["fits_with_retries"]) <= 1 and all(r["valid"] for r in ranking)
    assert results["status"] == "ok" and results["warnings"] == []
    assert results["model"] == "full"
    figures = {p.rsplit("/", 1)[-1] for p in results["figures"]}
    for name in (
        "sr_4l_low_prefit",
        "sr_4l_high_postfit",
        "ranking",
        "pulls",
        "correlation_matrix",
        "cls_scan",
    ):
        assert {f"{name}.png", f"{name}.pdf"} <= figures
    assert (run_dir / "fit" / "cabinetry.yaml").exists()
    assert "mu = " in output and "sigma" in output


def test_results_state_the_systematics_of_the_model(tiny_workspace):
    from liberica.fits.run import model_systematics

    assert model_systematics(tiny_workspace) == {
        "normalization": ["luminosity", "xsec_background"],
        "template": ["shape"],
        "mc_statistics": True,
    }


@pytest.mark.parametrize("asimov", [False, True])
def test_goodness_of_fit_is_cabinetrys_saturated_model_test(tiny_workspace, asimov):
    """The same p-value as cabinetry's for the same minimum, finite on Asimov data too
    (non-integer counts, where a discrete Poisson would give -inf)."""
    from liberica.fits.run import goodness_of_fit

    model, data = cabinetry.model_utils.model_and_data(tiny_workspace, asimov=asimov)
    fit = cabinetry.fit.fit(model, data)
    gof = goodness_of_fit(model, data, fit.best_twice_nll)
    assert np.isfinite(gof.twice_delta_nll)
    assert gof.p_value == pytest.approx(
        cabinetry.fit._goodness_of_fit(model, data, fit.best_twice_nll), abs=1e-9
    )
    assert gof.ndof == sum(model.config.channel_nbins.values()) - 1


def test_a_broken_cabinetry_config_is_refused_in_one_line(tmp_path):
    from liberica.fits.config import read_config

    path = tmp_path / "cabinetry.yaml"
    path.write_text("General: {Measurement: m}\nRegions: []\n")
    with pytest.raises(FitInputError, match=r"cabinetry config .*cabinetry.yaml"):
        read_config(path)
    path.write_text("General: [unclosed\n")
    with pytest.raises(FitInputError, match="not valid YAML"):
        read_config(path)
