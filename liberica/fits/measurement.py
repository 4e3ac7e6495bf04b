"""The signal-strength measurement: mu with MINOS errors (total and stat-only), and Z."""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any, NamedTuple

import cabinetry
import numpy as np
from cabinetry.fit.results_containers import FitResults

from liberica.fits.config import POI
from liberica.fits.likelihood import Likelihood

log = logging.getLogger(__name__)


class SignalStrength(NamedTuple):
    """mu with its MINOS errors.

    Attributes:
        bestfit: fitted mu
        up: total upper error (positive)
        down: total lower error (positive)
        stat_up: upper error with every nuisance parameter fixed at its best fit
        stat_down: lower error, likewise
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
    """

    observed: float
    expected: float


class FitInputError(ValueError):
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


def build_workspace(config: dict[str, Any], workspace_path: pathlib.Path) -> dict[str, Any]:
    """Collect the templates from histograms.root, check them, and write the pyhf workspace.

    Raises:
        FitInputError: if a bin has data but no MC prediction
    """
    pathlib.Path(config["General"]["HistogramFolder"]).mkdir(parents=True, exist_ok=True)
    cabinetry.templates.collect(config, method="uproot")
    workspace = cabinetry.workspace.build(config)
    check_model_covers_data(workspace)
    workspace_path.parent.mkdir(parents=True, exist_ok=True)
    workspace_path.write_text(json.dumps(workspace, indent=2, sort_keys=True))
    return workspace


def _minos(fit_results: FitResults) -> tuple[float, float]:
    down, up = fit_results.minos_uncertainty[POI]
    return float(up), float(-down)


def fit_signal_strength(model, data) -> tuple[SignalStrength, FitResults]:
    """Total fit with MINOS on mu, then the stat-only fit (every NP fixed at its best fit).

    Returns:
        the measured mu, and cabinetry's results of the total fit
    """
    index = model.config.poi_index
    total = cabinetry.fit.fit(model, data, minos=POI)
    fix = [True] * len(total.bestfit)
    fix[index] = False
    stat = cabinetry.fit.fit(model, data, minos=POI, init_pars=list(total.bestfit), fix_pars=fix)
    up, down = _minos(total)
    stat_up, stat_down = _minos(stat)
    if not np.isclose(stat.bestfit[index], total.bestfit[index], rtol=1e-3, atol=1e-3):
        log.warning(
            "stat-only fit moved mu from %.4f to %.4f", total.bestfit[index], stat.bestfit[index]
        )
    return SignalStrength(float(total.bestfit[index]), up, down, stat_up, stat_down), total


def measure_mu(workspace: dict[str, Any], asimov: bool = False) -> SignalStrength:
    """Fit mu to data (or to the pre-fit Asimov data set at mu = 1), total and stat-only."""
    model, data = cabinetry.model_utils.model_and_data(workspace, asimov=asimov)
    return fit_signal_strength(model, data)[0]


def _z_from_q0(likelihood: Likelihood, data: np.ndarray) -> float:
    """Z = sqrt(q0), q0 = -2 ln [L(mu=0) / L(mu_hat)] for mu_hat >= 0, else 0.

    Taken from the likelihood ratio rather than through a p-value, so it stays
    finite for a strong signal.
    """
    index = likelihood.poi_index
    free = likelihood.fit(data)
    if free.bestfit[index] <= 0:
        return 0.0
    background_only = likelihood.fit(data, fixed={index: 0.0}, init=free.bestfit)
    return float(np.sqrt(max(background_only.twice_nll - free.twice_nll, 0.0)))


def discovery_significance(
    workspace: dict[str, Any], likelihood: Likelihood | None = None
) -> Significance:
    """Observed and expected (pre-fit Asimov, mu = 1) discovery significance."""
    likelihood = likelihood or Likelihood(workspace)
    _, asimov = cabinetry.model_utils.model_and_data(workspace, asimov=True)
    return Significance(
        _z_from_q0(likelihood, likelihood.data), _z_from_q0(likelihood, np.asarray(asimov))
    )
