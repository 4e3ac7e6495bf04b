"""The signal-strength measurement: mu with MINOS errors (total and stat-only), and Z."""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import cabinetry
import numpy as np
from cabinetry.fit.results_containers import FitResults
from scipy.stats import norm

from liberica.core.errors import LibericaError
from liberica.fits import templates
from liberica.fits.config import POI
from liberica.fits.likelihood import Likelihood, twice_nll_function
from liberica.fits.minimize import Deadline, FitStatus, Minimum, Objective, minimize
from liberica.fits.templates import TemplateRules

log = logging.getLogger(__name__)

MU_FIT_SECONDS = 300.0
"""Budget of the fit of mu (total and stat-only, with HESSE and MINOS) on data or on the
Asimov data set: about 1-6 s each on hzz4l's samples here."""

SIGNIFICANCE_SECONDS = 300.0
"""Budget of the discovery significance (four fits): under 1 s on hzz4l's samples here."""


class SignalStrength(NamedTuple):
    """mu with its MINOS errors, signed as the impacts are: ``up`` >= 0, ``down`` <= 0.

    Attributes:
        bestfit: fitted mu
        up: total upper error (positive)
        down: total lower error (negative: mu's interval is [bestfit + down, bestfit + up])
        stat_up: upper error with every nuisance parameter fixed at its best fit
        stat_down: lower error, likewise (negative)
    """

    bestfit: float
    up: float
    down: float
    stat_up: float
    stat_down: float


class Significance(NamedTuple):
    """Discovery significance from q0 (finite even where the p-value underflows).

    Attributes:
        observed: Z = sqrt(q0) on data
        expected: Z = sqrt(q0) on the pre-fit Asimov data set at mu = 1
        observed_p0: the one-sided background-only p-value of ``observed``, 1 - Phi(Z)
        expected_p0: likewise of ``expected``
    """

    observed: float
    expected: float
    observed_p0: float
    expected_p0: float

    @classmethod
    def from_z(cls, observed: float, expected: float) -> Significance:
        """Both Z with their p0 (asymptotic: p0 = 1 - Phi(sqrt(q0)))."""
        return cls(observed, expected, float(norm.sf(observed)), float(norm.sf(expected)))


class FitInputError(LibericaError, ValueError):
    """The histograms cannot make a fit model (e.g. data where the model predicts nothing)."""


def check_model_covers_data(workspace: dict[str, Any]) -> None:
    """Refuse bins with observed events but no nominal MC at all: their likelihood is zero.

    Raises:
        FitInputError: naming each such region and bin
    """
    observed = {o["name"]: np.asarray(o["data"]) for o in workspace["observations"]}
    problems = []
    for channel in workspace["channels"]:
        total = np.sum([s["data"] for s in channel["samples"]], axis=0)
        data = observed[channel["name"]]
        for index in np.flatnonzero((total <= 0) & (data > 0)):
            problems.append(f"{channel['name']} bin {index}: {data[index]:g} events, no MC")
    if problems:
        raise FitInputError(
            "the model predicts nothing where data were observed ("
            + "; ".join(problems)
            + "): generate more MC or merge bins in the analysis definition"
        )


def build_workspace(
    config: dict[str, Any],
    workspace_path: pathlib.Path | None = None,
    rules: TemplateRules | None = None,
    edges: dict[str, np.ndarray] | None = None,
    final_regions: Collection[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Collect the templates from histograms.root, make them usable, check, write the workspace.

    Args:
        config: the cabinetry config
        workspace_path: where the pyhf workspace is written (None: not written)
        rules: the template rules (``fits/templates.py``), default ones if None
        edges: bin edges per region, for the report of merged bins
        final_regions: regions whose edges are final (an equal-population binning):
            the rules merge none of their bins

    Returns:
        tuple: the workspace, and what the template rules changed

    Raises:
        FitInputError: if a bin has data but no MC prediction
    """
    pathlib.Path(config["General"]["HistogramFolder"]).mkdir(parents=True, exist_ok=True)
    cabinetry.templates.collect(config, method="uproot")
    with np.errstate(invalid="ignore", divide="ignore"):  # emptied samples: templates.apply
        built = cabinetry.workspace.build(config)
    workspace, report = templates.apply(built, rules or TemplateRules(), edges, final_regions)
    check_model_covers_data(workspace)
    if workspace_path is not None:
        workspace_path.parent.mkdir(parents=True, exist_ok=True)
        workspace_path.write_text(json.dumps(workspace, indent=2, sort_keys=True))
    return workspace, report


def pyhf_objective(model, data) -> Objective:
    """-2 ln L of pyhf's model (numpy; yields floored as in ``fits/likelihood.py``), with
    MIGRAD's numerical gradient."""
    observed = np.asarray(data, dtype=np.float64)
    twice_nll = twice_nll_function(model)
    return Objective(
        lambda p: float(twice_nll(np.asarray(p, dtype=np.float64), observed)),
        None,
        "pyhf (numerical gradient)",
    )


def _fit_results(minimum: Minimum, labels: list[str]) -> FitResults:
    """cabinetry's container of a fit, for its plots and predictions."""
    error = minimum.uncertainty
    outer = np.outer(error, error)
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = np.where(outer > 0, minimum.covariance / outer, 0.0)
    np.fill_diagonal(correlation, 1.0)
    return FitResults(
        bestfit=minimum.bestfit,
        uncertainty=error,
        labels=labels,
        corr_mat=correlation,
        best_twice_nll=minimum.twice_nll,
        minos_uncertainty=dict(minimum.minos),
    )


def fit_signal_strength(
    model,
    data,
    fallback: Callable[[], Objective] | None = None,
    label: str = "observed",
    call_limit: int | None = None,
    first_call_limit: int | None = None,
    seconds: float | None = None,
) -> tuple[SignalStrength, FitResults, dict[str, FitStatus]]:
    """Total fit with MINOS on mu, then the stat-only fit (every NP fixed at its best fit).

    Both run pyhf's model with MIGRAD down the retry ladder of ``fits/minimize.py``,
    then the ``fallback`` objective (the compiled likelihood).

    Args:
        model, data: the pyhf model and its data (main and auxiliary)
        fallback: makes the objective tried when pyhf's does not converge
        label: names the fits in their status and errors, e.g. ``Asimov``
        call_limit: MIGRAD's call limit for every attempt (``maxiter``)
        first_call_limit: a call limit for the first attempt (to test the ladder)
        seconds: the budget of both fits [default: ``MU_FIT_SECONDS``]

    Returns:
        the measured mu, the total fit as cabinetry's FitResults, and the
        status of each fit (``total``, ``stat_only``)

    Raises:
        FitFailure: if either fit does not converge
        FitBudgetExceeded: if they take longer than their budget
    """
    deadline = Deadline.start(
        f"{label} fit of mu",
        MU_FIT_SECONDS if seconds is None else seconds,
        "liberica.fits.measurement.MU_FIT_SECONDS",
    )
    index = model.config.poi_index
    labels = list(model.config.par_names)
    bounds = [tuple(b) for b in model.config.suggested_bounds()]
    fixed = list(model.config.suggested_fixed())
    objectives = [pyhf_objective(model, data)]
    if fallback is not None:
        objectives.append(fallback)
    total = minimize(
        objectives,
        model.config.suggested_init(),
        labels,
        bounds,
        fixed,
        step=f"{label} fit",
        errors=True,
        minos=[POI],
        call_limit=call_limit,
        first_call_limit=first_call_limit,
        deadline=deadline,
    )
    hold = [True] * len(labels)
    hold[index] = False
    stat = minimize(
        objectives,
        total.bestfit,
        labels,
        bounds,
        hold,
        step=f"{label} stat-only fit",
        errors=True,
        minos=[POI],
        call_limit=call_limit,
        deadline=deadline,
    )
    down, up = total.minos[POI]
    stat_down, stat_up = stat.minos[POI]
    if not np.isclose(stat.bestfit[index], total.bestfit[index], rtol=1e-3, atol=1e-3):
        log.warning(
            "stat-only fit moved mu from %.4f to %.4f", total.bestfit[index], stat.bestfit[index]
        )
    strength = SignalStrength(float(total.bestfit[index]), up, down, stat_up, stat_down)
    statuses = {"total": total.status, "stat_only": stat.status}
    return strength, _fit_results(total, labels), statuses


def measure_mu(workspace: dict[str, Any], asimov: bool = False) -> SignalStrength:
    """Fit mu to data (or to the pre-fit Asimov data set at mu = 1), total and stat-only."""
    model, data = cabinetry.model_utils.model_and_data(workspace, asimov=asimov)
    return fit_signal_strength(model, data, label="Asimov" if asimov else "observed")[0]


def _z_from_q0(likelihood: Likelihood, data: np.ndarray, label: str) -> float:
    """Z = sqrt(q0), q0 = -2 ln [L(mu=0) / L(mu_hat)] for mu_hat >= 0, else 0.

    Taken from the likelihood ratio rather than through a p-value, so it stays
    finite for a strong signal.
    """
    index = likelihood.poi_index
    free = likelihood.fit(data, step=f"{label} significance, free fit")
    if free.bestfit[index] <= 0:
        return 0.0
    background_only = likelihood.fit(
        data, fixed={index: 0.0}, init=free.bestfit, step=f"{label} significance, mu = 0 fit"
    )
    return float(np.sqrt(max(background_only.twice_nll - free.twice_nll, 0.0)))


def discovery_significance(
    workspace: dict[str, Any], likelihood: Likelihood | None = None, seconds: float | None = None
) -> Significance:
    """Observed and expected (pre-fit Asimov, mu = 1) discovery significance.

    Raises:
        FitBudgetExceeded: if its fits take longer than ``seconds`` [default:
            ``SIGNIFICANCE_SECONDS``]
    """
    likelihood = likelihood or Likelihood(workspace)
    _, asimov = cabinetry.model_utils.model_and_data(workspace, asimov=True)
    with likelihood.budget(
        "significance",
        SIGNIFICANCE_SECONDS if seconds is None else seconds,
        "liberica.fits.measurement.SIGNIFICANCE_SECONDS",
    ):
        return Significance.from_z(
            _z_from_q0(likelihood, likelihood.data, "observed"),
            _z_from_q0(likelihood, np.asarray(asimov), "expected"),
        )
