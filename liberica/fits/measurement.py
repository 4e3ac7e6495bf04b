"""The signal-strength measurement: mu with MINOS errors, total and stat-only."""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any, NamedTuple

import cabinetry
import numpy as np

from liberica.fits.config import POI

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


def build_workspace(config: dict[str, Any], workspace_path: pathlib.Path) -> dict[str, Any]:
    """Collect the templates from histograms.root and write the pyhf workspace."""
    pathlib.Path(config["General"]["HistogramFolder"]).mkdir(parents=True, exist_ok=True)
    cabinetry.templates.collect(config, method="uproot")
    workspace = cabinetry.workspace.build(config)
    workspace_path.parent.mkdir(parents=True, exist_ok=True)
    workspace_path.write_text(json.dumps(workspace, indent=2, sort_keys=True))
    return workspace


def _minos(fit_results) -> tuple[float, float]:
    down, up = fit_results.minos_uncertainty[POI]
    return float(up), float(-down)


def measure_mu(workspace: dict[str, Any], asimov: bool = False) -> SignalStrength:
    """Fit mu to data (or to the Asimov data set at mu = 1), total and stat-only."""
    model, data = cabinetry.model_utils.model_and_data(workspace, asimov=asimov)
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
    return SignalStrength(float(total.bestfit[index]), up, down, stat_up, stat_down)


def fit_run(run_dir: pathlib.Path, config: dict[str, Any], asimov: bool = False) -> dict[str, Any]:
    """Build the workspace of a run, measure mu (observed and expected) and write results.

    Writes ``fit/workspace.json`` and ``fit/results.json`` in ``run_dir``.

    Returns:
        dict: the content of results.json
    """
    run_dir = pathlib.Path(run_dir)
    workspace = build_workspace(config, run_dir / "fit" / "workspace.json")
    expected = measure_mu(workspace, asimov=True)
    observed = expected if asimov else measure_mu(workspace)
    results: dict[str, Any] = {
        "mu": observed._asdict(),
        "expected": expected._asdict(),
        "asimov": asimov,
        "significance": discovery_significance(workspace)._asdict(),
    }
    metrics_path = run_dir / "metrics.json"
    if metrics_path.exists():
        injected = json.loads(metrics_path.read_text()).get("injected_mu")
        if injected is not None:
            results["injected_mu"] = injected
    (run_dir / "fit" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


class Significance(NamedTuple):
    """Discovery significance from q0 (finite even where the p-value underflows).

    Attributes:
        observed: Z = sqrt(q0) on data
        expected: Z = sqrt(q0) on the Asimov data set at mu = 1
    """

    observed: float
    expected: float


def _z_from_q0(model, data) -> float:
    """Z = sqrt(q0), q0 = -2 ln L(mu=0) / L(mu_hat) for mu_hat >= 0, else 0."""
    index = model.config.poi_index
    free = cabinetry.fit.fit(model, data)
    if free.bestfit[index] <= 0:
        return 0.0
    init = list(model.config.suggested_init())
    init[index] = 0.0
    fix = list(model.config.suggested_fixed())
    fix[index] = True
    background_only = cabinetry.fit.fit(model, data, init_pars=init, fix_pars=fix)
    q0 = max(background_only.best_twice_nll - free.best_twice_nll, 0.0)
    return float(np.sqrt(q0))


def discovery_significance(workspace: dict[str, Any]) -> Significance:
    """Observed and expected (Asimov, mu = 1) discovery significance."""
    model, data = cabinetry.model_utils.model_and_data(workspace)
    _, asimov = cabinetry.model_utils.model_and_data(workspace, asimov=True)
    return Significance(_z_from_q0(model, data), _z_from_q0(model, asimov))
