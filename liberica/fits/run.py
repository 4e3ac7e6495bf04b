"""Every fit step of a run, timed, into ``fit/results.json`` and ``fit/figures/``."""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import time
from collections.abc import Iterator
from typing import Any

import cabinetry
import numpy as np

from liberica.analysis.definition import AnalysisDefinition
from liberica.fits import plots
from liberica.fits.likelihood import Likelihood
from liberica.fits.limit import upper_limit
from liberica.fits.measurement import (
    build_workspace,
    discovery_significance,
    fit_signal_strength,
)
from liberica.fits.ranking import DEFAULT_GAMMA_THRESHOLD, rank

log = logging.getLogger(__name__)

#: parameters shown in the correlation matrix have some |rho| above this
CORRELATION_THRESHOLD = 0.1


@contextlib.contextmanager
def _timed(timing: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timing[step] = round(time.perf_counter() - start, 2)
    log.debug("fit step %s: %.1f s", step, timing[step])


def _data_per_channel(model, data) -> list[np.ndarray]:
    main = np.asarray(data)[: model.config.nmaindata]
    return [main[model.config.channel_slices[c]] for c in model.config.channels]


def fit_run(
    run_dir: pathlib.Path,
    config: dict[str, Any],
    definition: AnalysisDefinition,
    asimov: bool = False,
    ranking: bool = True,
    figures: bool = True,
    gamma_threshold: float = DEFAULT_GAMMA_THRESHOLD,
) -> dict[str, Any]:
    """Build the workspace of a run, then measure, rank, limit and plot.

    Writes ``fit/workspace.json``, ``fit/results.json``, ``fit/correlation.json``
    and, with ``figures``, PNG and PDF plots in ``fit/figures/``.

    Args:
        run_dir: the run directory (holds histograms.root and metrics.json)
        config: the cabinetry config (generated or edited)
        definition: the analysis, for plot labels, colours and binning
        asimov: fit the pre-fit Asimov data set (mu = 1) instead of data
        ranking: compute the nuisance-parameter ranking
        figures: draw the plots
        gamma_threshold: see :func:`liberica.fits.ranking.rank`

    Returns:
        dict: the content of results.json
    """
    run_dir = pathlib.Path(run_dir)
    fit_dir = run_dir / "fit"
    timing: dict[str, float] = {}
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    with _timed(timing, "workspace"):
        workspace = build_workspace(config, fit_dir / "workspace.json")
        model, data = cabinetry.model_utils.model_and_data(workspace, asimov=asimov)
    with _timed(timing, "mu_observed"):
        observed, fit_results = fit_signal_strength(model, data)
    with _timed(timing, "mu_expected"):
        if asimov:
            expected = observed
        else:
            _, asimov_data = cabinetry.model_utils.model_and_data(workspace, asimov=True)
            expected, _ = fit_signal_strength(model, asimov_data)
    with _timed(timing, "compile_likelihood"):
        likelihood = Likelihood(workspace, asimov=asimov)
    with _timed(timing, "significance"):
        significance = discovery_significance(workspace, likelihood)
    with _timed(timing, "upper_limit"):
        limit = upper_limit(likelihood)
    labels = list(fit_results.labels)
    prefit = cabinetry.model_utils.prefit_uncertainties(model)
    prefit_widths = dict(zip(labels, (float(w) for w in prefit), strict=True))
    impacts = []
    if ranking:
        with _timed(timing, "ranking"):
            impacts = rank(likelihood, fit_results, gamma_threshold)
    pulls = _pulls(fit_results, prefit_widths)
    results: dict[str, Any] = {
        "mu": observed._asdict(),
        "expected": expected._asdict(),
        "asimov": asimov,
        "significance": significance._asdict(),
        "upper_limit": {
            "observed": limit.observed,
            "expected": limit.expected,
            "expected_band": ["-2sigma", "-1sigma", "median", "+1sigma", "+2sigma"],
            "confidence_level": limit.confidence_level,
            "method": "asymptotic CLs, q~mu",
        },
        "ranking": [i._asdict() for i in impacts],
        "ranking_gamma_threshold": gamma_threshold if ranking else None,
        "pulls": pulls,
    }
    (fit_dir / "correlation.json").write_text(
        json.dumps({"labels": labels, "matrix": np.round(fit_results.corr_mat, 6).tolist()})
    )
    if figures:
        with _timed(timing, "figures"):
            results["figures"] = [
                str(p.relative_to(run_dir))
                for p in _draw(
                    model,
                    data,
                    fit_results,
                    prefit_widths,
                    impacts,
                    limit,
                    definition,
                    fit_dir / "figures",
                    metrics.get("lumi_fb"),
                )
            ]
    results["timing_s"] = timing
    if metrics.get("injected_mu") is not None:
        results["injected_mu"] = metrics["injected_mu"]
    (fit_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _pulls(fit_results, prefit_widths: dict[str, float]) -> list[dict[str, Any]]:
    """Pull and constraint of every constrained parameter, in pre-fit widths."""
    rows = []
    for label, value, error in zip(
        fit_results.labels, fit_results.bestfit, fit_results.uncertainty, strict=True
    ):
        width = prefit_widths[label]
        if width == 0.0:  # unconstrained (mu) or fixed
            continue
        nominal = 1.0 if label.startswith("staterror_") else 0.0
        rows.append(
            {
                "name": label,
                "bestfit": float(value),
                "uncertainty": float(error),
                "pull": float((value - nominal) / width),
                "constraint": float(error / width),
            }
        )
    return rows


def _draw(model, data, fit_results, prefit_widths, impacts, limit, definition, folder, lumi_fb):
    channels = _data_per_channel(model, data)
    paths = []
    paths += plots.data_mc(
        cabinetry.model_utils.prediction(model), channels, definition, folder, "prefit", lumi_fb
    )
    paths += plots.data_mc(
        cabinetry.model_utils.prediction(model, fit_results=fit_results),
        channels,
        definition,
        folder,
        "postfit",
        lumi_fb,
    )
    constrained = [n for n, w in prefit_widths.items() if w > 0]
    systematics = [n for n in constrained if not n.startswith("staterror_")]
    gammas = [n for n in constrained if n.startswith("staterror_")]
    paths += plots.pulls(fit_results, prefit_widths, systematics, folder, "pulls")
    paths += plots.pulls(fit_results, prefit_widths, gammas, folder, "pulls_mc_statistics")
    paths += plots.correlation_matrix(fit_results, folder, CORRELATION_THRESHOLD)
    if impacts:
        paths += plots.ranking(impacts, fit_results, prefit_widths, folder)
    paths += plots.cls_scan(limit, folder)
    return paths
