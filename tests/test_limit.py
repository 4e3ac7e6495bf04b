"""Asymptotic CLs equals pyhf's hypotest, and the limit sits where CLs = 0.05."""

import cabinetry
import numpy as np
import pyhf
import pytest

from liberica.fits.likelihood import Likelihood
from liberica.fits.limit import CLsCalculator, upper_limit


@pytest.mark.parametrize("mu", [0.3, 1.0, 2.5])
def test_cls_equals_pyhf_hypotest(tiny_workspace, mu):
    pyhf.set_backend("numpy")
    model, data = cabinetry.model_utils.model_and_data(tiny_workspace)
    bounds = model.config.suggested_bounds()
    bounds[model.config.poi_index] = (0.0, 10.0)
    observed, expected = pyhf.infer.hypotest(
        mu, data, model, par_bounds=bounds, test_stat="qtilde", return_expected_set=True
    )
    ours, ours_expected = CLsCalculator(Likelihood(tiny_workspace)).cls(mu)
    assert ours == pytest.approx(float(observed), rel=2e-3, abs=1e-6)
    np.testing.assert_allclose(ours_expected, np.asarray(expected, float), rtol=2e-3, atol=1e-6)


def test_limit_is_where_cls_crosses(tiny_workspace):
    likelihood = Likelihood(tiny_workspace)
    limit = upper_limit(likelihood)
    calculator = CLsCalculator(likelihood)
    assert calculator.cls(limit.observed)[0] == pytest.approx(0.05, abs=1e-3)
    assert limit.observed > calculator.mu_hat
    # the band is ordered -2 sigma ... +2 sigma and the median sits where expected CLs = 0.05
    assert limit.expected == sorted(limit.expected)
    assert calculator.cls(limit.expected[2])[1][2] == pytest.approx(0.05, abs=1e-3)
    assert limit.scan_mu == sorted(limit.scan_mu)
