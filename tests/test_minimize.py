"""Every fit reports its status, retries down the stated ladder, and fails in one line."""

import json
import pathlib
import time

import cabinetry
import numpy as np
import pytest

from liberica.fits.likelihood import Likelihood
from liberica.fits.measurement import fit_signal_strength
from liberica.fits.minimize import (
    EXACT_HESSIAN_CALLS,
    Deadline,
    FitBudgetExceeded,
    FitFailure,
    Objective,
    minimize,
)
from liberica.fits.run import fit_workspace

WORKSPACE = pathlib.Path(__file__).parent / "data" / "hzz4l_200k_seed2004_workspace.json"


@pytest.fixture(scope="module")
def workspace() -> dict:
    return json.loads(WORKSPACE.read_text())


def test_a_fit_whose_first_migrad_fails_is_retried_and_the_status_says_so(workspace, tmp_path):
    results = fit_workspace(
        workspace, tmp_path / "fit", ranking=False, figures=False, first_call_limit=50
    )
    total = results["fit_status"]["mu_observed"]["total"]
    assert total["valid"] and total["retries"] >= 1
    assert "invalid" in total["attempts"][0] and "(limit 50)" in total["attempts"][0]
    assert total["attempts"][-1].endswith("calls") and "valid" in total["attempts"][-1]
    assert results["fits_with_retries"] == [f"observed fit: {total['retries'] + 1} attempts"]
    # the retried fit finds the minimum of a fit without the call limit
    free = fit_workspace(workspace, tmp_path / "free", ranking=False, figures=False)
    assert free["fit_status"]["mu_observed"]["total"]["retries"] == 0
    assert results["mu"]["bestfit"] == pytest.approx(free["mu"]["bestfit"], abs=1e-3)
    written = json.loads((tmp_path / "fit" / "results.json").read_text())
    assert written["fit_status"]["mu_observed"]["total"]["retries"] == total["retries"]


def test_small_sample_fits_converge_at_the_first_attempt(workspace):
    """The committed 200k workspace: observed, Asimov and stat-only, no retries."""
    likelihood = Likelihood(workspace)
    model, data = cabinetry.model_utils.model_and_data(workspace)
    _, asimov = cabinetry.model_utils.model_and_data(workspace, asimov=True)
    for values, label in ((data, "observed"), (asimov, "Asimov")):
        mu, _, status = fit_signal_strength(model, values, likelihood.objective, label=label)
        for name in ("total", "stat_only"):
            assert status[name].valid and status[name].retries == 0, status[name]
            assert status[name].minos_valid
        assert 0 < mu.stat_up < mu.up and mu.down < mu.stat_down < 0
    assert mu.bestfit == pytest.approx(1.0, abs=1e-3)


def test_nothing_converging_raises_one_line_naming_the_step_and_bounds():
    """Two calls per attempt are too few for MIGRAD: every rung of the ladder stays invalid."""

    def twice_nll(p):
        return float((p[0] - 0.3) ** 2 + 10 * (p[1] - 0.5) ** 2 + p[0] * p[1])

    objective = Objective(twice_nll, None, "test")
    with pytest.raises(FitFailure) as failure:
        minimize(
            [objective, objective], [0.9, 0.9], ["x", "y"], [(0.0, 1.0), (0.0, 1.0)],
            [False, False], step="test fit", call_limit=2,
        )  # fmt: skip
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("test fit did not converge: EDM ")
    assert (
        "attempts (MIGRAD up to strategy 2, bound parameters held, SIMPLEX restart on test"
        in message
    )
    assert message.endswith("parameters at or near a bound: none")
    status = failure.value.status
    # two objectives, each: strategy 1, strategy 2, SIMPLEX restart
    assert not status.valid and status.retries == 5
    # the same with must_converge=False: the last point, flagged invalid
    last = minimize(
        [objective], [0.9, 0.9], ["x", "y"], [(0.0, 1.0), (0.0, 1.0)], [False, False],
        step="test fit", call_limit=2, must_converge=False,
    )  # fmt: skip
    assert not last.status.valid and last.status.retries == 2


def _bounded_quadratic() -> Objective:
    """-2 ln L whose minimum (x = 3) lies beyond the bound x <= 1: the fit ends on the bound."""
    return Objective(
        lambda p: float((p[0] - 3.0) ** 2 + (p[1] - 1.0) ** 2),
        lambda p: np.array([2.0 * (p[0] - 3.0), 2.0 * (p[1] - 1.0)]),
        "exact",
        lambda p: np.diag([2.0, 2.0]),
        lambda p: np.array([2.0, 2.0]),
    )


def test_a_minimum_on_a_bound_is_found_with_migrad_s_own_hessian():
    """Minuit2 carries an exact Hessian into bounded coordinates without the bound's
    curvature: MIGRAD stalls with it, and the next attempt builds its own."""
    minimum = minimize(
        [_bounded_quadratic()], [0.5, 0.0], ["x", "y"], [(-1.0, 1.0), (-10.0, 10.0)],
        [False, False], step="bounded fit",
    )  # fmt: skip
    status = minimum.status
    assert status.valid and status.retries == 1, status
    assert (
        "invalid" in status.attempts[0] and f"(limit {EXACT_HESSIAN_CALLS})" in (status.attempts[0])
    )
    assert status.attempts[1].startswith("migrad, Hessian from the gradient strategy 1")
    assert status.calls < EXACT_HESSIAN_CALLS
    assert minimum.bestfit == pytest.approx([1.0, 1.0], abs=1e-3)
    assert status.at_bound == ("x",)


def test_a_fit_past_its_step_s_deadline_stops_in_one_line():
    calls = []

    def slow(p):
        calls.append(1)
        time.sleep(0.02)
        return float((p[0] - 0.3) ** 2 + 10 * (p[1] - 0.5) ** 2)

    deadline = Deadline.start("test step", 0.2, "TEST_SECONDS")
    start = time.perf_counter()
    with pytest.raises(FitBudgetExceeded) as spent:
        minimize(
            [Objective(slow, None, "slow")], [0.9, 0.9], ["x", "y"],
            [(0.0, 1.0), (0.0, 1.0)], [False, False], step="slow fit", deadline=deadline,
        )  # fmt: skip
    assert time.perf_counter() - start < 0.2 + 0.5
    assert isinstance(spent.value, FitFailure)  # the CLI's one line and exit code 2
    message = str(spent.value)
    assert "\n" not in message
    assert message.startswith(
        "test step stopped: its budget of 0.2 s (TEST_SECONDS) ran out in 'slow fit' after "
    )
    status = spent.value.status
    assert not status.valid and len(calls) <= status.calls <= len(calls) + 1  # the one stopped
    assert status.attempts[-1] == "stopped: the budget of test step (0.2 s) ran out"
    # a spent deadline stops the next fit at once, before any call
    with pytest.raises(FitBudgetExceeded):
        minimize(
            [Objective(slow, None, "slow")], [0.9, 0.9], ["x", "y"],
            [(0.0, 1.0), (0.0, 1.0)], [False, False], step="next fit", deadline=deadline,
            must_converge=False,
        )  # fmt: skip
