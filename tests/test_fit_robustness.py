"""Fits on small samples and on nominal-only runs: they converge, or fail in one line."""

import json
import os
import subprocess
import sys
import time

import cabinetry
import numpy as np
import pytest

from liberica.analysis.hzz4l.generator import generate_hzz4l
from liberica.core.definition import load
from liberica.fits.config import build_config
from liberica.fits.likelihood import Likelihood
from liberica.fits.limit import upper_limit
from liberica.fits.measurement import build_workspace, discovery_significance, fit_signal_strength
from liberica.fits.minimize import EXACT_HESSIAN_CALLS, FitBudgetExceeded
from liberica.fits.ranking import rank
from liberica.fits.run import observable_edges
from liberica.fits.templates import TemplateRules
from liberica.orchestration.pipeline import run_processor

SEEDS = [
    pytest.param(seed, marks=[pytest.mark.slow] if seed > 3001 else [])
    for seed in range(3001, 3011)
]
"""Ten seeds: one in the default run, the other nine with ``-m slow``."""


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "300"}
    command = [sys.executable, "-m", "liberica.cli", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def small_runs(small_sample, tmp_path_factory):
    """The small sample processed with and without systematics."""
    folder = tmp_path_factory.mktemp("small_runs")
    runs = {}
    for name, systematics in (("full", True), ("nominal", False)):
        runs[name] = run_processor(
            "hzz4l",
            small_sample,
            executor="iterative",
            systematics=systematics,
            output_dir=folder / name,
            status=False,
        ).output_dir
    return runs


@pytest.mark.parametrize("seed", SEEDS)
def test_a_200k_sample_fits_at_the_first_attempt(seed, tmp_path):
    """Observed, Asimov and stat-only fits in the default regions: valid, no retries, mu right."""
    sample = generate_hzz4l(tmp_path / "sample", events=200_000, seed=seed)
    run = run_processor(
        "hzz4l",
        sample.fileset_path,
        executor="iterative",
        output_dir=tmp_path / "run",
        status=False,
    )
    definition = load("hzz4l")
    workspace, _ = build_workspace(
        build_config(definition, run.output_dir),
        tmp_path / "workspace.json",
        TemplateRules(**definition.fit_templates),
        observable_edges(definition),
    )
    assert [c["name"] for c in workspace["channels"]] == list(definition.fit_regions)
    model, data = cabinetry.model_utils.model_and_data(workspace)
    _, asimov = cabinetry.model_utils.model_and_data(workspace, asimov=True)

    def fallback(values):  # compiled only if pyhf's fit fails, which must not happen
        return lambda: Likelihood(workspace).objective(np.asarray(values))

    mu, _, status = fit_signal_strength(model, data, fallback(data))
    expected, _, asimov_status = fit_signal_strength(
        model, asimov, fallback(asimov), label="Asimov"
    )
    for fit in (*status.values(), *asimov_status.values()):
        assert fit.valid and fit.retries == 0 and fit.minos_valid, fit
    error = mu.up if mu.bestfit < 1.0 else -mu.down
    assert abs(mu.bestfit - 1.0) < 3 * error, mu
    assert expected.bestfit == pytest.approx(1.0, abs=1e-3)


def test_a_nominal_only_run_is_fitted_without_template_systematics(small_runs):
    done = _cli("fit", str(small_runs["nominal"]), "--no-ranking", "--no-figures")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "fitting a model without template systematics" in done.stdout
    results = json.loads((small_runs["nominal"] / "fit" / "results.json").read_text())
    assert results["model"] == "no_template_systematics"
    workspace = json.loads((small_runs["nominal"] / "fit" / "workspace.json").read_text())
    kinds = {m["type"] for c in workspace["channels"] for s in c["samples"] for m in s["modifiers"]}
    assert kinds == {"normfactor", "normsys", "staterror"}  # no histosys: no variation templates
    status = results["fit_status"]["mu_observed"]["total"]
    assert status["valid"] and status["retries"] == 0


def test_a_fit_that_cannot_converge_exits_2_with_one_line(small_runs):
    done = _cli("fit", str(small_runs["full"]), "--no-ranking", "--no-figures", "--maxiter", "2")
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: observed fit did not converge: EDM ")
    assert "parameters at or near a bound:" in errors[0]


def test_the_toys_command_writes_results_and_pull_plots(small_runs):
    run = small_runs["full"]
    done = _cli("toys", str(run), "--ntoys", "12", "--mu", "0,1", "--workers", "1", "--seed", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((run / "fit" / "toys" / "results.json").read_text())
    assert [t["mu_true"] for t in results["toys"]] == [0.0, 1.0]
    for toy_set in results["toys"]:
        assert toy_set["n"] == 12 and len(toy_set["per_toy"]["pull"]) == 12
        for key in ("n_failed", "pull_mean", "pull_width", "mu_hat_mean", "coverage_68"):
            assert key in toy_set
    assert {"pulls.png", "pulls.pdf"} <= {p.name for p in (run / "fit" / "toys").iterdir()}
    assert "pull width" in done.stdout


def _scaled_mc(workspace: dict, factor: float) -> dict:
    """The workspace with every MC template (nominal, variations, MC-statistics errors)
    scaled by ``factor`` and the data as they were: MC normalized to another luminosity."""
    scaled = json.loads(json.dumps(workspace))
    for channel in scaled["channels"]:
        for sample in channel["samples"]:
            sample["data"] = [x * factor for x in sample["data"]]
            for modifier in sample["modifiers"]:
                if modifier["type"] == "histosys":
                    modifier["data"] = {
                        k: [x * factor for x in v] for k, v in modifier["data"].items()
                    }
                elif modifier["type"] == "staterror":
                    modifier["data"] = [x * factor for x in modifier["data"]]
    return scaled


def test_a_model_far_from_its_data_ends_within_its_budget(small_runs, tmp_path):
    """MC at 0.14 of the data (20 against 140 fb^-1): nuisance parameters end on their
    bounds, where MIGRAD with the exact Hessian stalls. Every fit converges in at
    most two attempts, and a step past its budget stops in one line."""
    definition = load("hzz4l")
    workspace, _ = build_workspace(
        build_config(definition, small_runs["full"]),
        tmp_path / "workspace.json",
        TemplateRules(**definition.fit_templates),
        observable_edges(definition),
    )
    mismatched = _scaled_mc(workspace, 0.14)
    likelihood = Likelihood(mismatched)
    model, data = cabinetry.model_utils.model_and_data(mismatched)
    mu, fit_results, _ = fit_signal_strength(model, data, likelihood.objective, seconds=30)
    assert mu.bestfit > 3  # the data hold seven times the MC
    significance = discovery_significance(mismatched, likelihood, seconds=30)
    assert significance.observed > 0
    for status in likelihood.statuses:
        assert status.valid and status.retries <= 1, status
        assert status.calls < 2 * EXACT_HESSIAN_CALLS + 2_000, status
    free = likelihood.statuses[0]  # on data: parameters on their bound, the second attempt
    assert free.at_bound and free.attempts[1].startswith("migrad, Hessian from the gradient")
    for step, run_step, seconds in (
        ("upper limit (CLs scan)", lambda s: upper_limit(likelihood, seconds=s), 2.0),
        ("ranking", lambda s: rank(likelihood, fit_results, seconds=s), 1.0),
    ):
        start = time.perf_counter()
        with pytest.raises(FitBudgetExceeded) as spent:
            run_step(seconds)
        assert time.perf_counter() - start < seconds + 3.0  # one fit's time past the budget
        message = str(spent.value)
        assert "\n" not in message and message.startswith(
            f"{step} stopped: its budget of {seconds:g} s (liberica.fits."
        )


def test_a_step_past_its_budget_exits_2_in_one_line(small_runs, monkeypatch):
    """The CLI turns the budget's FitFailure into its one line, as any failed fit."""
    from click.testing import CliRunner

    from liberica.cli import main

    monkeypatch.setattr("liberica.fits.measurement.MU_FIT_SECONDS", 0.0)
    result = CliRunner().invoke(
        main, ["fit", str(small_runs["nominal"]), "--no-ranking", "--no-figures"]
    )
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: observed fit of mu stopped: its budget of 0 s "
        "(liberica.fits.measurement.MU_FIT_SECONDS) ran out in 'observed fit' after 0 calls; "
        "fits this slow mean a model far from the data (compare its pre-fit yields with the data)"
    ], result.output
