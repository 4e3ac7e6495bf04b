"""The mu measurement on the default sample's histograms (cabinetry + pyhf)."""

import json

import pytest
from click.testing import CliRunner

from liberica.analysis.definition import load
from liberica.cli import main
from liberica.fits.config import build_config
from liberica.fits.measurement import build_workspace, measure_mu


@pytest.fixture(scope="module")
def workspace(default_run):
    config = build_config(load("hzz4l"), default_run.output_dir)
    assert [r["Name"] for r in config["Regions"]] == ["sr_4e", "sr_4mu", "sr_2e2mu"]
    assert {s["Name"] for s in config["Samples"] if s.get("Data")} == {"data"}
    return build_workspace(config, default_run.output_dir / "fit" / "workspace.json")


def test_asimov_fit_returns_one(workspace):
    expected = measure_mu(workspace, asimov=True)
    assert expected.bestfit == pytest.approx(1.0, abs=1e-3)


def test_fit_recovers_injected_mu_and_stat_error_is_smaller(workspace):
    mu = measure_mu(workspace)
    assert abs(mu.bestfit - 1.0) < (mu.up if mu.bestfit < 1 else mu.down)
    # fixing every nuisance parameter leaves the statistical error, which is smaller
    assert 0 < mu.stat_up < mu.up and 0 < mu.stat_down < mu.down


def test_fit_command_writes_results(default_run):
    result = CliRunner().invoke(main, ["fit", str(default_run.output_dir), "--asimov"])
    assert result.exit_code == 0, result.output
    results = json.loads((default_run.output_dir / "fit" / "results.json").read_text())
    assert results["mu"]["bestfit"] == pytest.approx(1.0, abs=1e-3)
    assert results["injected_mu"] == 1.0
    # about 230 signal events over a small background: strong, and finite
    z = results["significance"]
    assert 5 < z["expected"] < 40 and 5 < z["observed"] < 40
    assert "discovery significance" in result.output
    assert (default_run.output_dir / "fit" / "cabinetry.yaml").exists()
