"""Every fit step on a workspace, timed, into a :class:`FitResult`; and its files."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import pathlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import cabinetry
import numpy as np
import scipy.special
import scipy.stats

from liberica.core.definition import AnalysisDefinition
from liberica.fits.labels import region_units
from liberica.fits.likelihood import Likelihood
from liberica.fits.limit import upper_limit
from liberica.fits.measurement import discovery_significance, fit_signal_strength
from liberica.fits.minimize import FitStatus, summarize
from liberica.fits.ranking import DEFAULT_GAMMA_THRESHOLD, rank
from liberica.fits.results import FitResult, GoodnessOfFit

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


def observable_edges(
    definition: AnalysisDefinition, final: Mapping[str, Sequence[float]] | None = None
) -> dict[str, np.ndarray]:
    """Each region's bin edges: its final edges where a run rebinned it (``final``,
    ``fits.binning.final_edges`` of the run's binning report), else its observable's
    binning (explicit or regular)."""
    final = final or {}
    return {
        name: np.asarray(
            final[name] if name in final else definition.observables[region.observable].bin_edges(),
            dtype=float,
        )
        for name, region in definition.regions.items()
    }


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


def fit_workspace(
    workspace: dict[str, Any],
    fit_dir: pathlib.Path,
    definition: AnalysisDefinition | None = None,
    *,
    figures: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """:func:`measure`, then :func:`write` into ``fit_dir``: the content of results.json.

    Args:
        workspace: the pyhf workspace
        fit_dir: where results.json, correlation.json and figures/ go
        definition: the analysis, for the data/MC plots' labels and binning
        figures: draw the plots
        options: the keyword arguments of :func:`measure`
    """
    result = write(measure(workspace, definition, **options), fit_dir, figures=figures)
    return result.to_dict()


def measure(
    workspace: dict[str, Any],
    definition: AnalysisDefinition | None = None,
    *,
    asimov: bool = False,
    ranking: bool = True,
    gamma_threshold: float = DEFAULT_GAMMA_THRESHOLD,
    model_kind: str = "full",
    call_limit: int | None = None,
    first_call_limit: int | None = None,
    template_report: dict[str, Any] | None = None,
    lumi_fb: float | None = None,
    injected_mu: float | None = None,
    pseudo_data: bool = False,
    timing: dict[str, float] | None = None,
    provenance: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> FitResult:
    """Measure mu, its significance and limit, the goodness of fit and the ranking, in memory.

    Args:
        workspace: the pyhf workspace
        definition: the analysis, for the data/MC plots' labels and binning
            (without one, :func:`write` leaves those plots out)
        asimov: fit the pre-fit Asimov data set (mu = 1) instead of data
        ranking: compute the nuisance-parameter ranking
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
        provenance: where the inputs came from (``results.json``'s ``provenance``)
        config: the cabinetry config the workspace was built from (kept in the result)
        progress: told ``(step, done, total or None)`` as the ranking and the CLs scan
            advance (``Likelihood.progress``)

    Raises:
        FitFailure: if a fit that must converge did not (one line, naming the step)
    """
    timing = dict(timing or {})
    template_report = template_report or {"merged": {}, "floored": [], "emptied": [], "edges": {}}
    model, data = cabinetry.model_utils.model_and_data(workspace, asimov=asimov)
    with _timed(timing, "compile_likelihood"):
        likelihood = Likelihood(workspace, asimov=asimov)
        likelihood.call_limit = call_limit
        likelihood.progress = progress
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
    edges = None
    if definition is not None:
        edges = {**observable_edges(definition), **template_report["edges"]}
    return FitResult(
        mu=observed,
        expected=expected,
        significance=significance,
        upper_limit=limit,
        ranking=impacts,
        ranking_gamma_threshold=gamma_threshold if ranking else None,
        pulls=_pulls(fit_results, prefit_widths),
        postfit_yields=postfit_yields(model, fit_results),
        goodness_of_fit=goodness_of_fit(model, data, fit_results.best_twice_nll),
        asimov=asimov,
        model_kind=model_kind,
        templates={k: v for k, v in template_report.items() if k != "edges"},
        systematics=model_systematics(workspace),
        fit_status=status.steps,
        fits_with_retries=status.fits_with_retries(),
        timing_s=timing,
        injected_mu=injected_mu,
        lumi_fb=lumi_fb,
        pseudo_data=pseudo_data,
        provenance=provenance or {},
        workspace=workspace,
        fit_results=fit_results,
        prefit_widths=prefit_widths,
        definition=definition,
        edges=edges,
        config=config,
    )


def write(result: FitResult, fit_dir: pathlib.Path, *, figures: bool = True) -> FitResult:
    """Write a fit's workspace.json, results.json, correlation.json and (with ``figures``)
    its PNG and PDF plots in ``fit_dir/figures``.

    Returns:
        FitResult: the result with the figures' paths and their drawing time
    """
    fit_dir = pathlib.Path(fit_dir)
    fit_dir.mkdir(parents=True, exist_ok=True)
    (fit_dir / "workspace.json").write_text(json.dumps(result.workspace, indent=2, sort_keys=True))
    correlation = {
        "labels": list(result.fit_results.labels),
        "matrix": np.round(result.fit_results.corr_mat, 6).tolist(),
    }
    (fit_dir / "correlation.json").write_text(json.dumps(correlation))
    if figures:
        timing = dict(result.timing_s)
        with _timed(timing, "figures"):
            paths = _draw(result, fit_dir / "figures")
        result = dataclasses.replace(
            result,
            figures=[str(p.relative_to(fit_dir.parent)) for p in paths],
            timing_s=timing,
        )
    (fit_dir / "results.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def postfit_yields(model, fit_results) -> dict[str, dict[str, dict[str, float]]]:
    """Post-fit yield and its uncertainty (with correlations) per region and sample, and
    the total (``total``) per region."""
    prediction = cabinetry.model_utils.prediction(model, fit_results=fit_results)
    samples = [*model.config.samples, "total"]
    table = {}
    for c, channel in enumerate(model.config.channels):
        per_sample = np.sum(prediction.model_yields[c], axis=1)
        values = [*per_sample, per_sample.sum()]
        table[channel] = {
            name: {
                "yield": float(value),
                "uncertainty": float(prediction.total_stdev_model_channels[c][s]),
            }
            for s, (name, value) in enumerate(zip(samples, values, strict=True))
        }
    return table


def goodness_of_fit(model, data, best_twice_nll: float) -> GoodnessOfFit:
    """The saturated-model test, as cabinetry's: -2 ln of the best fit's likelihood over the
    saturated model's (every bin's expectation at its data, the constraints at their
    maximum), against a chi2 of (bins - free parameters) degrees of freedom."""
    data = np.asarray(data, dtype=np.float64)
    main = data[: model.config.nmaindata]
    # the continuous Poisson pyhf's likelihood uses: finite for the Asimov data's
    # non-integer counts, where scipy's logpmf is -inf
    saturated_ll = float(
        np.sum(scipy.special.xlogy(main, main) - main - scipy.special.gammaln(main + 1))
    )
    if model.config.nauxdata > 0:
        aux = data[model.config.nmaindata :]
        best = cabinetry.model_utils._parameters_maximizing_constraint_term(model, aux.tolist())
        saturated_ll += float(model.constraint_logpdf(aux, np.asarray(best)))
    delta = float(best_twice_nll) + 2.0 * saturated_ll
    ndof = sum(model.config.channel_nbins.values()) - (
        cabinetry.model_utils.unconstrained_parameter_count(model)
    )
    p_value = float(scipy.stats.chi2.sf(delta, ndof)) if ndof > 0 else float("nan")
    return GoodnessOfFit(p_value=p_value, twice_delta_nll=delta, ndof=int(ndof))


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


def _draw(result: FitResult, folder: pathlib.Path) -> list[pathlib.Path]:
    from liberica.fits import plots  # matplotlib only where figures are drawn

    model, data = cabinetry.model_utils.model_and_data(result.workspace, asimov=result.asimov)
    fit_results, prefit_widths = result.fit_results, result.prefit_widths
    definition, edges = result.definition, result.edges
    paths = []
    tag = {"lumi_fb": result.lumi_fb, "pseudo_data": result.pseudo_data or result.asimov}
    names = {"edges": edges, "unit": region_units(definition) if definition else "GeV"}
    if definition is not None:
        channels = _data_per_channel(model, data)
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
    if result.ranking:
        paths += plots.ranking(result.ranking, fit_results, prefit_widths, folder, **tag, **names)
    paths += plots.cls_scan(result.upper_limit, folder, **tag)
    return paths
