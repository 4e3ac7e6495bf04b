"""Ranking of nuisance parameters by their impact on mu, pre-fit and post-fit.

The impacts follow ``cabinetry.fit.ranking``: hold one parameter at its best-fit
value shifted by its pre-fit (then post-fit) uncertainty, refit, and take the
change in mu. The fits run on the compiled likelihood of
:mod:`liberica.fits.likelihood`, starting from the best fit.

MC statistical terms (one gamma per bin) are most of the parameters. A gamma is
fitted when its linear estimate of impact, ``|rho(mu, gamma)| * sigma_mu``
(scaled by pre-fit over post-fit width for the pre-fit impact), reaches
``threshold`` times the total mu uncertainty; below that it keeps its estimate,
is marked ``fitted: false``, and the count is logged. Every other nuisance
parameter is always fitted.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import cabinetry
import numpy as np
from cabinetry.fit.results_containers import FitResults, RankingResults

from liberica.fits.likelihood import Likelihood

log = logging.getLogger(__name__)

#: gammas whose estimated impact is below this fraction of sigma_mu are not refitted
DEFAULT_GAMMA_THRESHOLD = 0.01

RANKING_SECONDS = 900.0
"""Budget of the ranking's refits (four per parameter fitted): about 0.3-8 s on hzz4l's
samples here, 100 s for 51 parameters through pyhf's own minimizer (PITFALLS)."""


class Impact(NamedTuple):
    """Impact of one nuisance parameter on mu.

    Attributes:
        name: parameter label, e.g. ``muon_sf`` or ``staterror_sr_4mu[9]``
        impact_up: change in mu with the parameter at best fit + post-fit sigma
        impact_down: likewise at best fit - post-fit sigma
        prefit_impact_up: change in mu at best fit + pre-fit sigma
        prefit_impact_down: likewise at best fit - pre-fit sigma
        fitted: False when the impact is the linear estimate of a pruned gamma
        valid: False when one of its refits did not converge (listed in
            ``fit_status.ranking.failed``)
    """

    name: str
    impact_up: float
    impact_down: float
    prefit_impact_up: float
    prefit_impact_down: float
    fitted: bool
    valid: bool = True


def _is_gamma(label: str) -> bool:
    return label.startswith("staterror_")


def rank(
    likelihood: Likelihood,
    fit_results: FitResults,
    gamma_threshold: float = DEFAULT_GAMMA_THRESHOLD,
    seconds: float | None = None,
) -> list[Impact]:
    """Impacts of every nuisance parameter on mu, largest post-fit impact first.

    Args:
        likelihood: the compiled likelihood of the workspace that was fitted
        fit_results: the nominal fit (cabinetry), giving best fit and post-fit widths
        gamma_threshold: fraction of sigma_mu below which a gamma keeps its estimate
        seconds: the budget of every refit [default: ``RANKING_SECONDS``]

    Raises:
        FitBudgetExceeded: if the refits take longer than their budget
    """
    with likelihood.budget(
        "ranking",
        RANKING_SECONDS if seconds is None else seconds,
        "liberica.fits.ranking.RANKING_SECONDS",
    ):
        return _rank(likelihood, fit_results, gamma_threshold)


def _rank(likelihood: Likelihood, fit_results: FitResults, gamma_threshold: float) -> list[Impact]:
    poi = likelihood.poi_index
    bestfit = np.asarray(fit_results.bestfit)
    postfit = np.asarray(fit_results.uncertainty)
    prefit = np.asarray(cabinetry.model_utils.prefit_uncertainties(likelihood.model))
    sigma_mu = postfit[poi]
    # -2 ln L at mu_hat is the reference; every impact is mu' - mu_hat
    nominal = likelihood.fit(init=bestfit, step="ranking: nominal fit")
    mu_hat = nominal.bestfit[poi]
    rho = np.asarray(fit_results.corr_mat)[poi]
    impacts: list[Impact] = []
    pruned = 0
    ranked = [i for i in range(len(likelihood.labels)) if i != poi and not likelihood.fixed[i]]
    for index in ranked:
        label = likelihood.labels[index]
        likelihood.report("ranking", len(impacts), len(ranked))
        estimate_post = rho[index] * sigma_mu
        estimate_pre = estimate_post * (prefit[index] / postfit[index] if postfit[index] else 0.0)
        largest = max(abs(estimate_post), abs(estimate_pre))
        if _is_gamma(label) and largest < gamma_threshold * sigma_mu:
            pruned += 1
            impacts.append(
                Impact(label, estimate_post, -estimate_post, estimate_pre, -estimate_pre, False)
            )
            continue
        shifts = []
        valid = True
        for width in (prefit[index], -prefit[index], postfit[index], -postfit[index]):
            if width == 0.0:  # unconstrained (pre-fit) or fixed: no impact
                shifts.append(0.0)
                continue
            point = likelihood.fit(
                fixed={index: bestfit[index] + width},
                init=nominal.bestfit,
                step=f"ranking: {label} at {width:+.3g}",
                must_converge=False,
            )
            valid = valid and point.valid
            shifts.append(float(point.bestfit[poi] - mu_hat))
        impacts.append(Impact(label, shifts[2], shifts[3], shifts[0], shifts[1], True, valid))
    likelihood.report("ranking", len(impacts), len(ranked))
    log.info(
        "ranking: %d parameters fitted, %d MC-statistics gammas below %.3g sigma_mu kept "
        "at their linear estimate",
        len(impacts) - pruned,
        pruned,
        gamma_threshold,
    )
    impacts.sort(key=lambda i: -max(abs(i.impact_up), abs(i.impact_down)))
    return impacts


def to_cabinetry(impacts: list[Impact], fit_results: FitResults) -> RankingResults:
    """The impacts as cabinetry's RankingResults, for ``cabinetry.visualize.ranking``."""
    labels = list(fit_results.labels)
    positions = [labels.index(i.name) for i in impacts]
    return RankingResults(
        bestfit=np.asarray(fit_results.bestfit)[positions],
        uncertainty=np.asarray(fit_results.uncertainty)[positions],
        labels=[i.name for i in impacts],
        prefit_up=np.array([i.prefit_impact_up for i in impacts]),
        prefit_down=np.array([i.prefit_impact_down for i in impacts]),
        postfit_up=np.array([i.impact_up for i in impacts]),
        postfit_down=np.array([i.impact_down for i in impacts]),
    )
