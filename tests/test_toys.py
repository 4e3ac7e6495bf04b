"""Pseudo-experiments: unbiased pulls of unit width and 68% coverage, and a check that fails."""

import numpy as np
import pytest
from conftest import make_tiny_workspace

from liberica.fits.toys import run_toys

MUS = (0.0, 1.0, 2.0)


@pytest.fixture(scope="module")
def toys(tiny_workspace_module):
    return run_toys(tiny_workspace_module, MUS, ntoys=1000, seed=17, workers=2)


@pytest.fixture(scope="module")
def tiny_workspace_module():
    return make_tiny_workspace()


def test_pulls_are_unbiased_of_unit_width_and_intervals_cover(toys):
    for toy_set, mu in zip(toys, MUS, strict=True):
        assert toy_set.mu_true == mu and toy_set.n == 1000
        assert toy_set.n_failed <= 10  # dropped fits would cut off a tail
        assert abs(toy_set.pull_mean) < 0.1, toy_set.pull_mean
        assert 0.92 < toy_set.pull_width < 1.08, toy_set.pull_width
        assert abs(toy_set.coverage_68 - 0.68) < 0.045, toy_set.coverage_68
        assert abs(toy_set.mu_hat_mean - mu) < 0.1
    # at mu = 0 about half the toys fit a negative mu: the bounds allow it
    negative = np.mean([t.mu_hat < 0 for t in toys[0].toys])
    assert 0.35 < negative < 0.65


def test_toys_without_fluctuated_auxiliary_data_fail_the_width_check(tiny_workspace_module):
    """The constraint measurements held at their expected values understate the systematics."""
    (fixed_auxiliary,) = run_toys(
        tiny_workspace_module, (1.0,), ntoys=1000, seed=17, workers=2, fluctuate_auxiliary=False
    )
    assert not 0.92 < fixed_auxiliary.pull_width < 1.08
    assert fixed_auxiliary.pull_width < 0.85


def test_toys_are_seeded_and_do_not_depend_on_the_workers(tiny_workspace_module):
    one = run_toys(tiny_workspace_module, (1.0,), ntoys=40, seed=5, workers=1)[0]
    two = run_toys(tiny_workspace_module, (1.0,), ntoys=40, seed=5, workers=2)[0]
    other = run_toys(tiny_workspace_module, (1.0,), ntoys=40, seed=6, workers=1)[0]
    assert [t.mu_hat for t in one.toys] == [t.mu_hat for t in two.toys]
    assert [t.mu_hat for t in one.toys] != [t.mu_hat for t in other.toys]


def test_failed_toy_fits_are_counted_not_dropped(tiny_workspace_module):
    (starved,) = run_toys(tiny_workspace_module, (1.0,), ntoys=30, seed=5, workers=1, call_limit=2)
    assert starved.n == 30 and starved.n_failed == 30
    assert len(starved.toys) == 30 and not any(t.valid for t in starved.toys)
    summary = starved.to_dict()
    assert summary["fit_status"]["n_fits"] == 30 and summary["fit_status"]["n_valid"] == 0
    assert len(summary["fit_status"]["failed"]) == 30
    assert np.isnan(starved.pull_mean) and len(summary["per_toy"]["valid"]) == 30
    # the call limit reaches the worker processes too (it did not: --maxiter was ignored)
    (pooled,) = run_toys(tiny_workspace_module, (1.0,), ntoys=4, seed=5, workers=2, call_limit=2)
    assert pooled.n == 4 and pooled.n_failed == 4


def test_a_toy_fit_past_its_budget_counts_as_failed(tiny_workspace_module):
    """A toy whose fit outlasts TOY_FIT_SECONDS is a failed toy, not a hang or an error."""
    from liberica.fits.likelihood import Likelihood
    from liberica.fits.toys import fit_toy

    likelihood = Likelihood(tiny_workspace_module)
    spent = fit_toy(likelihood, likelihood.data, 1.0, likelihood.init, "toy 0", seconds=0.0)
    assert not spent.valid and np.isnan(spent.pull) and not spent.covered
    assert spent.status.attempts[-1] == "stopped: the budget of toy 0 (0 s) ran out"
    fitted = fit_toy(likelihood, likelihood.data, 1.0, likelihood.init, "toy 1")
    assert fitted.valid
