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
from liberica.fits.labels import region_units
from liberica.fits.likelihood import Likelihood
from liberica.fits.limit import upper_limit
from liberica.fits.measurement import (
    build_workspace,
    discovery_significance,
    fit_signal_strength,
)
from liberica.fits.minimize import FitStatus, summarize
from liberica.fits.ranking import DEFAULT_GAMMA_THRESHOLD, rank
from liberica.fits.templates import TemplateRules

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


def observable_edges(definition: AnalysisDefinition) -> dict[str, np.ndarray]:
    """Each region's bin edges, from its observable's regular binning."""
    edges = {}
    for name, region in definition.regions.items():
        observable = definition.observables[region.observable]
        edges[name] = np.linspace(observable.low, observable.high, observable.bins + 1)
    return edges


class _StatusLog:
    """The fit status of each step: single fits as they are, many fits summarized."""

    def __init__(self, likelihood: Likelihood) -> None:
        self._likelihood = likelihood
        self.steps: dict[str, Any] = {}

    @contextlib.contextmanager
    def many(self, step: str) -> Iterator[None]:
        """Summarize every fit made on the likelihood within the block."""
        before = len(self._likelihood.statuses)
        try:
            yield
        finally:
            self.steps[step] = summarize(self._likelihood.statuses[before:])

    def single(self, step: str, statuses: dict[str, FitStatus]) -> None:
        """Record the named single fits of a step."""
        self.steps[step] = {name: status.to_dict() for name, status in statuses.items()}

    def fits_with_retries(self) -> list[str]:
        """One line per fit that needed more than one attempt."""
        lines = []
        for step, content in self.steps.items():
            if "n_fits" in content:
                if content["fits_with_retries"]:
                    lines.append(f"{step}: {content['fits_with_retries']} of {content['n_fits']}")
            else:
                for status in content.values():
                    if status["retries"]:
                        lines.append(f"{status['step']}: {status['retries'] + 1} attempts")
        return lines


def fit_run(
    run_dir: pathlib.Path,
    config: dict[str, Any],
    definition: AnalysisDefinition,
    asimov: bool = False,
    ranking: bool = True,
    figures: bool = True,
    gamma_threshold: float = DEFAULT_GAMMA_THRESHOLD,
    model_kind: str = "full",
    call_limit: int | None = None,
) -> dict[str, Any]:
    """Build the workspace of a run, then measure, rank, limit and plot.

    Writes ``fit/workspace.json``, ``fit/results.json``, ``fit/correlation.json``
    and, with ``figures``, PNG and PDF plots in ``fit/figures/``.

    Args:
        run_dir: the run directory (holds histograms.root and metrics.json)
        config: the cabinetry config (generated or edited)
        definition: the analysis, for its template rules, plot labels and binning
        asimov, ranking, figures, gamma_threshold, model_kind, call_limit: see
            :func:`fit_workspace`

    Returns:
        dict: the content of results.json

    Raises:
        FitFailure: if a fit that must converge did not (one line, naming the step)
        FitInputError: if the templates cannot make a model
    """
    run_dir = pathlib.Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    start = time.perf_counter()
    workspace, template_report = build_workspace(
        config,
        run_dir / "fit" / "workspace.json",
        TemplateRules(**definition.fit_templates),
        observable_edges(definition),
    )
    workspace_s = round(time.perf_counter() - start, 2)
    results = fit_workspace(
        workspace,
        run_dir / "fit",
        definition,
        asimov=asimov,
        ranking=ranking,
        figures=figures,
        gamma_threshold=gamma_threshold,
        model_kind=model_kind,
        call_limit=call_limit,
        template_report=template_report,
        lumi_fb=metrics.get("lumi_fb"),
        injected_mu=metrics.get("injected_mu"),
        pseudo_data=metrics.get("injected_mu") is not None,
        timing={"workspace": workspace_s},
    )
    return results


def fit_workspace(
    workspace: dict[str, Any],
    fit_dir: pathlib.Path,
    definition: AnalysisDefinition | None = None,
    *,
    asimov: bool = False,
    ranking: bool = True,
    figures: bool = True,
    gamma_threshold: float = DEFAULT_GAMMA_THRESHOLD,
    model_kind: str = "full",
    call_limit: int | None = None,
    first_call_limit: int | None = None,
    template_report: dict[str, Any] | None = None,
    lumi_fb: float | None = None,
    injected_mu: float | None = None,
    pseudo_data: bool = False,
    timing: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Measure mu, its significance and limit, rank and plot, on a pyhf workspace.

    Args:
        workspace: the pyhf workspace
        fit_dir: where results.json, correlation.json and figures/ go
        definition: the analysis, for the data/MC plots' labels and binning
            (without one, those plots are left out)
        asimov: fit the pre-fit Asimov data set (mu = 1) instead of data
        ranking: compute the nuisance-parameter ranking
        figures: draw the plots
        gamma_threshold: see :func:`liberica.fits.ranking.rank`
        model_kind: ``full``, ``no_template_systematics`` (a nominal-only run) or
            ``user_config``; recorded as ``model`` in results.json
        call_limit: MIGRAD's call limit for every attempt of every fit (``maxiter``)
        first_call_limit: a call limit on the first attempt of the observed fit
            only, to see the retry ladder at work
        template_report: what the template rules did (``fits.templates.apply``)
        lumi_fb, injected_mu: the run's, for the plots and results.json
        pseudo_data: the data are generated (the run's injected_mu is set); the
            plots label them so, as they do the Asimov data
        timing: seconds of steps already done, kept in ``timing_s``

    Raises:
        FitFailure: if a fit that must converge did not (one line, naming the step)
    """
    fit_dir = pathlib.Path(fit_dir)
    fit_dir.mkdir(parents=True, exist_ok=True)
    timing = dict(timing or {})
    template_report = template_report or {"merged": {}, "floored": [], "emptied": [], "edges": {}}
    model, data = cabinetry.model_utils.model_and_data(workspace, asimov=asimov)
    with _timed(timing, "compile_likelihood"):
        likelihood = Likelihood(workspace, asimov=asimov)
        likelihood.call_limit = call_limit
    status = _StatusLog(likelihood)
    label = "Asimov" if asimov else "observed"
    with _timed(timing, "mu_observed"):
        observed, fit_results, statuses = fit_signal_strength(
            model,
            data,
            fallback=likelihood.objective,
            label=label,
            call_limit=call_limit,
            first_call_limit=first_call_limit,
        )
        status.single("mu_observed", statuses)
    with _timed(timing, "mu_expected"):
        if asimov:
            expected = observed
        else:
            _, asimov_data = cabinetry.model_utils.model_and_data(workspace, asimov=True)
            expected, _, statuses = fit_signal_strength(
                model,
                asimov_data,
                fallback=lambda: likelihood.objective(np.asarray(asimov_data)),
                label="Asimov",
                call_limit=call_limit,
            )
            status.single("mu_expected", statuses)
    with _timed(timing, "significance"), status.many("significance"):
        significance = discovery_significance(workspace, likelihood)
    with _timed(timing, "upper_limit"), status.many("upper_limit"):
        limit = upper_limit(likelihood)
    labels = list(fit_results.labels)
    prefit = cabinetry.model_utils.prefit_uncertainties(model)
    prefit_widths = dict(zip(labels, (float(w) for w in prefit), strict=True))
    impacts = []
    if ranking:
        with _timed(timing, "ranking"), status.many("ranking"):
            impacts = rank(likelihood, fit_results, gamma_threshold)
    pulls = _pulls(fit_results, prefit_widths)
    results: dict[str, Any] = {
        "mu": observed._asdict(),
        "expected": expected._asdict(),
        "asimov": asimov,
        "model": model_kind,
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
        "templates": {k: v for k, v in template_report.items() if k != "edges"},
        "systematics": model_systematics(workspace),
    }
    (fit_dir / "correlation.json").write_text(
        json.dumps({"labels": labels, "matrix": np.round(fit_results.corr_mat, 6).tolist()})
    )
    if figures:
        edges = None
        if definition is not None:
            edges = {**observable_edges(definition), **template_report["edges"]}
        with _timed(timing, "figures"):
            results["figures"] = [
                str(p.relative_to(fit_dir.parent))
                for p in _draw(
                    model,
                    data,
                    fit_results,
                    prefit_widths,
                    impacts,
                    limit,
                    definition,
                    fit_dir / "figures",
                    lumi_fb,
                    edges,
                    pseudo_data or asimov,
                )
            ]
    results["timing_s"] = timing
    results["fit_status"] = status.steps
    results["fits_with_retries"] = status.fits_with_retries()
    if injected_mu is not None:
        results["injected_mu"] = injected_mu
    (fit_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def model_systematics(workspace: dict[str, Any]) -> dict[str, Any]:
    """The systematics the fitted model holds, from its workspace's modifiers.

    ``normalization``: normsys modifiers (luminosity, cross-sections);
    ``template``: histosys and shapesys (weight, object and sample variations);
    ``mc_statistics``: whether staterror gammas are in the model.
    """
    kinds: dict[str, set[str]] = {"normsys": set(), "histosys": set(), "shapesys": set()}
    mc_statistics = False
    for channel in workspace["channels"]:
        for sample in channel["samples"]:
            for modifier in sample["modifiers"]:
                if modifier["type"] in kinds:
                    kinds[modifier["type"]].add(modifier["name"])
                mc_statistics |= modifier["type"] == "staterror"
    return {
        "normalization": sorted(kinds["normsys"]),
        "template": sorted(kinds["histosys"] | kinds["shapesys"]),
        "mc_statistics": mc_statistics,
    }


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


def _draw(
    model,
    data,
    fit_results,
    prefit_widths,
    impacts,
    limit,
    definition,
    folder,
    lumi_fb,
    edges,
    pseudo_data,
):
    channels = _data_per_channel(model, data)
    paths = []
    tag = {"lumi_fb": lumi_fb, "pseudo_data": pseudo_data}
    names = {"edges": edges, "unit": region_units(definition) if definition else "GeV"}
    if definition is not None:
        for stage, prediction in (
            ("prefit", cabinetry.model_utils.prediction(model)),
            ("postfit", cabinetry.model_utils.prediction(model, fit_results=fit_results)),
        ):
            paths += plots.data_mc(
                prediction, channels, definition, folder, stage, edges=edges, **tag
            )
    constrained = [n for n, w in prefit_widths.items() if w > 0]
    systematics = [n for n in constrained if not n.startswith("staterror_")]
    gammas = [n for n in constrained if n.startswith("staterror_")]
    paths += plots.pulls(fit_results, prefit_widths, systematics, folder, "pulls", **tag, **names)
    paths += plots.pulls(
        fit_results, prefit_widths, gammas, folder, "pulls_mc_statistics", **tag, **names
    )
    paths += plots.correlation_matrix(fit_results, folder, CORRELATION_THRESHOLD, **tag, **names)
    if impacts:
        paths += plots.ranking(impacts, fit_results, prefit_widths, folder, **tag, **names)
    paths += plots.cls_scan(limit, folder, **tag)
    return paths
