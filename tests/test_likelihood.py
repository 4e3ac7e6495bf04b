"""The compiled likelihood finds the minimum cabinetry finds, and leaves pyhf's backend alone."""

import cabinetry
import numpy as np
import pyhf
import pytest

from liberica.fits.likelihood import Likelihood


def test_minimum_and_errors_match_cabinetry(tiny_workspace):
    likelihood = Likelihood(tiny_workspace)
    model, data = cabinetry.model_utils.model_and_data(tiny_workspace)
    reference = cabinetry.fit.fit(model, data)
    point = likelihood.fit()
    assert point.valid
    assert likelihood.labels == list(reference.labels)
    np.testing.assert_allclose(point.bestfit, reference.bestfit, atol=2e-3)
    # the same minimum: ours converges as deep as cabinetry's (tighter EDM goal), or deeper
    assert point.twice_nll == pytest.approx(reference.best_twice_nll, abs=1e-4)
    assert point.twice_nll <= reference.best_twice_nll + 1e-7
    errors = np.sqrt(np.diag(likelihood.covariance(point.bestfit)))
    np.testing.assert_allclose(errors, reference.uncertainty, rtol=1e-2)


def test_fixed_parameter_is_held_and_costs_likelihood(tiny_workspace):
    likelihood = Likelihood(tiny_workspace)
    free = likelihood.fit()
    index = likelihood.labels.index("xsec_background")
    held = likelihood.fit(fixed={index: 1.5}, init=free.bestfit)
    assert held.bestfit[index] == 1.5
    assert held.twice_nll > free.twice_nll
    # the others float: mu moves to compensate a background pushed up
    assert held.bestfit[likelihood.poi_index] < free.bestfit[likelihood.poi_index]


def test_asimov_data_fit_back_to_their_parameters(tiny_workspace):
    likelihood = Likelihood(tiny_workspace, asimov=True)
    point = likelihood.fit()
    assert point.bestfit[likelihood.poi_index] == pytest.approx(1.0, abs=1e-3)


def test_backend_is_restored(tiny_workspace):
    pyhf.set_backend("numpy")
    Likelihood(tiny_workspace)
    assert pyhf.get_backend()[0].name == "numpy"
