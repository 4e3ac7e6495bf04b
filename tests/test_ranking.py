"""The ranking agrees with cabinetry.fit.ranking, and pruning is visible, not silent."""

import cabinetry
import numpy as np
import pytest

from liberica.fits.likelihood import Likelihood
from liberica.fits.ranking import rank, to_cabinetry


@pytest.fixture
def nominal(tiny_workspace):
    model, data = cabinetry.model_utils.model_and_data(tiny_workspace)
    return model, data, cabinetry.fit.fit(model, data)


def test_impacts_equal_cabinetry_ranking(tiny_workspace, nominal):
    model, data, fit_results = nominal
    reference = cabinetry.fit.ranking(model, data, fit_results=fit_results)
    impacts = {i.name: i for i in rank(Likelihood(tiny_workspace), fit_results, 0.0)}
    assert set(impacts) == set(reference.labels)
    for k, name in enumerate(reference.labels):
        ours = impacts[name]
        assert ours.fitted
        np.testing.assert_allclose(
            [ours.prefit_impact_up, ours.prefit_impact_down, ours.impact_up, ours.impact_down],
            [
                reference.prefit_up[k],
                reference.prefit_down[k],
                reference.postfit_up[k],
                reference.postfit_down[k],
            ],
            atol=2e-3,
        )


def test_pruned_gammas_are_marked_and_estimated(tiny_workspace, nominal):
    _, _, fit_results = nominal
    impacts = rank(Likelihood(tiny_workspace), fit_results, gamma_threshold=10.0)
    pruned = [i for i in impacts if not i.fitted]
    assert {i.name for i in pruned} == {f"staterror_sr[{k}]" for k in range(3)}
    assert all(i.impact_up == -i.impact_down and i.impact_up != 0 for i in pruned)
    assert all(i.fitted for i in impacts if not i.name.startswith("staterror_"))
    # ordered by post-fit impact, and convertible for cabinetry's tools
    sizes = [max(abs(i.impact_up), abs(i.impact_down)) for i in impacts]
    assert sizes == sorted(sizes, reverse=True)
    assert to_cabinetry(impacts, fit_results).labels == [i.name for i in impacts]
