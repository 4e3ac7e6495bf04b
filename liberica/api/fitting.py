"""The fit stages of the API: template fit, toys and the resonance search, on a run.

A run is a processed run's folder or a :class:`ProcessingResult` in memory. A
fit of a run in memory passes its histograms to cabinetry through a scratch
folder of the system's temporary directory (cabinetry's template collection
reads files), deleted before the fit returns: nothing is written where the
caller works.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from liberica.api.processing import Analysis, load_definition, load_run

if TYPE_CHECKING:
    from liberica.core.definition import AnalysisDefinition
    from liberica.fits.results import FitResult
    from liberica.fits.toys import ToySet
    from liberica.orchestration.pipeline import ProcessingResult

    RunInput = str | pathlib.Path | ProcessingResult
    """A processed run's folder, or a processing result in memory."""

log = logging.getLogger(__name__)


class FitInputs(NamedTuple):
    """What a fit of a run starts from.

    Attributes:
        definition: the definition, with the fit regions asked for
        config: the cabinetry config (HistogramFolder: a scratch folder)
        model_kind: ``full``, ``no_template_systematics`` or ``user_config``
        metrics: the run's metrics (luminosity, injected mu, provenance)
    """

    definition: AnalysisDefinition
    config: dict[str, Any]
    model_kind: str
    metrics: dict[str, Any]


def _metrics(run: RunInput) -> dict[str, Any]:
    if isinstance(run, str | pathlib.Path):
        path = pathlib.Path(run) / "metrics.json"
        if not pathlib.Path(run).is_dir():
            raise FileNotFoundError(f"no run folder {run}")
        return json.loads(path.read_text()) if path.exists() else {}
    return run.metrics


def _blinding(
    definition: AnalysisDefinition, metrics: dict[str, Any], unblind: bool
) -> dict[str, Any] | None:
    """The run's blinding summary when a fit of it must be blinded (Asimov only), else None.

    A fit sees data only when the definition does not blind, or when both the run and
    the fit were made with ``--unblind``.

    Raises:
        BlindingError: ``unblind`` on a run processed blinded (its hidden data are zero)
    """
    from liberica.orchestration.blinding import BlindingError, is_blinded

    summary = metrics.get("blinding")
    if unblind and is_blinded(metrics):
        raise BlindingError(
            "--unblind: the run was processed blinded (its blinding.json says unblinded: "
            "false; the hidden bins' data are zero); process it again with --unblind"
        )
    if unblind or (definition.blinding is None and not is_blinded(metrics)):
        return None
    return summary if summary is not None else {"unblinded": False, "regions": {}}


def _with_regions(definition: AnalysisDefinition, regions: str | Sequence[str] | None):
    """The definition fitting ``regions``: a set named in ``fit.region_sets``, a list, or a
    comma-separated string of regions."""
    from liberica.core.definition import AnalysisDefinitionError

    if regions is None:
        return definition
    if isinstance(regions, str):
        chosen = definition.fit_region_sets.get(regions) or tuple(regions.split(","))
    else:
        chosen = tuple(regions)
    unknown = [r for r in chosen if r not in definition.regions]
    if unknown:
        sets = ", ".join(definition.fit_region_sets) or "none"
        raise AnalysisDefinitionError(
            definition.source, "fit.regions", f"unknown region(s) {unknown}; region sets: {sets}"
        )
    return definition._replace(fit_regions=tuple(chosen))


@contextlib.contextmanager
def fit_inputs(
    run: RunInput,
    analysis: Analysis | None = None,
    *,
    regions: str | Sequence[str] | None = None,
    config: str | pathlib.Path | dict[str, Any] | None = None,
) -> Iterator[FitInputs]:
    """The definition, cabinetry config and model kind of a fit of ``run``, inside a scratch
    folder that holds cabinetry's templates (and a run in memory's histograms.root).

    A nominal-only run (``systematics: false`` in its metrics) gets a model
    without template systematics.
    """
    from liberica.core import registry
    from liberica.fits.config import build_config, read_config
    from liberica.orchestration.outputs import write_root

    metrics = _metrics(run)
    name = analysis or metrics.get("definition") or registry.DEFAULT_ANALYSIS
    definition = _with_regions(load_definition(name), regions)
    with tempfile.TemporaryDirectory(prefix="liberica-fit-") as scratch:
        scratch = pathlib.Path(scratch)
        if isinstance(run, str | pathlib.Path):
            run_dir = pathlib.Path(run)
        elif run.output_dir is not None:
            run_dir = run.output_dir
        else:
            run_dir = scratch / "run"
            run_dir.mkdir()
            write_root(run_dir / "histograms.root", run.histograms)
        if config is not None:
            chosen = config if isinstance(config, dict) else read_config(pathlib.Path(config))
            chosen = {**chosen, "General": {**chosen["General"]}}
            chosen["General"]["HistogramFolder"] = str(scratch / "histograms")
            yield FitInputs(definition, chosen, "user_config", metrics)
            return
        with_systematics = metrics.get("systematics", True)
        built = build_config(
            definition,
            run_dir,
            template_systematics=with_systematics,
            histogram_folder=scratch / "histograms",
        )
        kind = "full" if with_systematics else "no_template_systematics"
        yield FitInputs(definition, built, kind, metrics)


def fit(
    run: RunInput,
    analysis: Analysis | None = None,
    *,
    regions: str | Sequence[str] | None = None,
    config: str | pathlib.Path | dict[str, Any] | None = None,
    asimov: bool = False,
    ranking: bool = True,
    call_limit: int | None = None,
    command: str | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    grouped_impacts: bool | None = None,
    unblind: bool = False,
) -> FitResult:
    """Fit mu to a run: MINOS errors, significance with p0, CLs limit, goodness of fit,
    post-fit yields and (with ``ranking``) the impacts, in memory.

    Args:
        run: a processed run's folder, or a :class:`ProcessingResult`
        analysis: the definition [default: the run's]
        regions: fit regions: a set of the definition's ``fit.region_sets``, a
            list, or ``"R1,R2"`` [default: the definition's ``fit.regions``]
        config: a cabinetry config (a dict or a YAML file) instead of the
            generated one
        asimov: fit the pre-fit Asimov data set (mu = 1) instead of data
        ranking: rank the nuisance parameters by their impact on mu
        call_limit: MIGRAD's call limit for every attempt of every fit
        command: the command line, for the provenance
        progress: told ``(step, done, total or None)`` as the ranking (per parameter)
            and the CLs scan (per point) advance
        grouped_impacts: measure mu's grouped impacts (``fits/impacts.py``) [default:
            when the definition names ``fit.impact_groups``; True: also without them,
            with default groups]
        unblind: fit the data of a definition that blinds (the run must have been
            processed with ``unblind`` too); without it such a fit is Asimov-only, its
            workspace's observations the Asimov data set

    Raises:
        LibericaError: templates that make no model (FitInputError), a fit that
            did not converge within its budget (FitFailure), a bad definition
    """
    from liberica.fits.binning import final_edges
    from liberica.fits.measurement import build_workspace
    from liberica.fits.run import measure, observable_edges
    from liberica.fits.templates import TemplateRules

    with fit_inputs(run, analysis, regions=regions, config=config) as inputs:
        definition = inputs.definition
        final = final_edges(inputs.metrics.get("binning"))
        start = time.perf_counter()
        workspace, template_report = build_workspace(
            inputs.config,
            None,
            TemplateRules(**definition.fit_templates),
            observable_edges(definition, final),
            final_regions=tuple(final),
        )
        workspace_s = round(time.perf_counter() - start, 2)
    metrics = inputs.metrics
    return measure(
        workspace,
        definition,
        asimov=asimov,
        ranking=ranking,
        model_kind=inputs.model_kind,
        call_limit=call_limit,
        template_report=template_report,
        lumi_fb=metrics.get("lumi_fb"),
        injected_mu=metrics.get("injected_mu"),
        pseudo_data=metrics.get("injected_mu") is not None,
        timing={"workspace": workspace_s},
        provenance=_fit_provenance(definition, metrics, run, command),
        config=inputs.config,
        progress=progress,
        grouped_impacts=grouped_impacts,
        blinding=_blinding(definition, metrics, unblind),
    )


def _fit_provenance(
    definition: AnalysisDefinition, metrics: dict[str, Any], run: RunInput, command: str | None
) -> dict[str, Any]:
    """The fit's provenance (its command, time and definition), the run it fitted, and the
    run's own provenance (``processing``)."""
    from liberica.orchestration.pipeline import provenance

    processing = metrics.get("provenance", {})
    entry = provenance(definition, None, command)
    if isinstance(run, str | pathlib.Path):
        entry["run"] = str(pathlib.Path(run).resolve())
    elif run.output_dir is not None:
        entry["run"] = str(pathlib.Path(run.output_dir).resolve())
    else:
        entry["run"] = "in memory"
    entry["processing"] = processing
    return entry


def write_fit(result: FitResult, folder: str | pathlib.Path, *, figures: bool = True):
    """Write a fit's files into ``folder``: cabinetry.yaml (with its HistogramFolder
    inside ``folder``, for cabinetry's own commands), workspace.json, results.json,
    correlation.json and the figures.

    Returns:
        FitResult: the result with its figures' paths
    """
    import cabinetry

    from liberica.fits.config import write_config
    from liberica.fits.run import write

    folder = pathlib.Path(folder)
    if result.config is not None:
        config = {**result.config, "General": {**result.config["General"]}}
        config["General"]["HistogramFolder"] = str((folder / "histograms").resolve())
        write_config(config, folder / "cabinetry.yaml")
        if pathlib.Path(config["General"]["InputPath"].split(":")[0]).is_file():
            # the templates beside the config, so that `cabinetry workspace` runs as it is
            cabinetry.templates.collect(config, method="uproot")
        else:
            log.info(
                "%s: its InputPath is not a file (a run held in memory); write the run "
                "and run `cabinetry templates` before cabinetry's other commands",
                folder / "cabinetry.yaml",
            )
    return write(result, folder, figures=figures)


class ToysResult(NamedTuple):
    """Pseudo-experiments on a fit.

    Attributes:
        sets: one :class:`ToySet` per true mu (bias, pull width, coverage)
        settings: ntoys, true mu values, seed, workers, model, regions, wall time
        lumi_fb: the run's luminosity (for the plots' label), when known
    """

    sets: list[ToySet]
    settings: dict[str, Any]
    lumi_fb: float | None = None


def toys(
    run: RunInput,
    analysis: Analysis | None = None,
    *,
    ntoys: int = 200,
    mu: Sequence[float] = (0.0, 1.0, 2.0),
    seed: int = 1,
    workers: int | None = None,
    regions: str | Sequence[str] | None = None,
    config: str | pathlib.Path | dict[str, Any] | None = None,
    call_limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    unblind: bool = False,
) -> ToysResult:
    """Toys drawn at (mu, theta-hat-hat(mu)) and fitted like :func:`fit`.

    Args:
        run: a processed run's folder, or a :class:`ProcessingResult`
        analysis, regions, config, call_limit: as for :func:`fit`
        ntoys: toys per true mu
        mu: the true values of mu
        seed: seed of every toy stream
        workers: local worker processes [default: one per core]
        progress: called with the number of toys just finished
        unblind: as for :func:`fit`; without it, toys of a blinded run are drawn and
            fitted around the pre-fit Asimov expectation, not conditioned on data
    """
    from liberica.fits import toys as toys_module
    from liberica.fits.binning import final_edges
    from liberica.fits.blinding import asimov_observations
    from liberica.fits.measurement import build_workspace
    from liberica.fits.run import observable_edges
    from liberica.fits.templates import TemplateRules

    workers = workers or toys_module.default_workers()
    with fit_inputs(run, analysis, regions=regions, config=config) as inputs:
        final = final_edges(inputs.metrics.get("binning"))
        workspace, _ = build_workspace(
            inputs.config,
            None,
            TemplateRules(**inputs.definition.fit_templates),
            observable_edges(inputs.definition, final),
            final_regions=tuple(final),
        )
    blinded = _blinding(inputs.definition, inputs.metrics, unblind) is not None
    if blinded:
        workspace = asimov_observations(workspace)
    start = time.perf_counter()
    sets = toys_module.run_toys(
        workspace, tuple(mu), ntoys, seed, workers, progress=progress, call_limit=call_limit
    )
    settings = {
        "ntoys": ntoys,
        "mu_true": [float(m) for m in mu],
        "seed": seed,
        "workers": workers,
        "model": inputs.model_kind,
        "regions": list(inputs.definition.fit_regions),
        "conditioned_on": "asimov" if blinded else "data",
        "wall_time_s": time.perf_counter() - start,
    }
    return ToysResult(sets, settings, inputs.metrics.get("lumi_fb"))


def write_toys(result: ToysResult, folder: str | pathlib.Path) -> dict[str, Any]:
    """Write the toys' results.json and pull plot into ``folder``; returns the JSON."""
    from liberica.fits import toys as toys_module

    return toys_module.write_results(
        result.sets, pathlib.Path(folder), result.settings, lumi_fb=result.lumi_fb
    )


class SearchResult(NamedTuple):
    """A resonance search's comparison of selections (``liberica search``).

    Attributes:
        signal: the searched signal process
        observable: the spectrum's observable
        selections: per selection: S and B in the mass window, figures of merit,
            spectrum fits with Wilks Z, and (with the profile likelihood) mu and Z
        sculpting: per selection, the background spectrum's shift, width ratio and
            KS distance against its reference
        warnings: what a reader of the numbers should know
        content: the whole of search/results.json
        folder: where it was written
    """

    signal: str | None
    observable: str | None
    selections: dict[str, Any]
    sculpting: dict[str, Any]
    warnings: list[str]
    content: dict[str, Any]
    folder: pathlib.Path


def search(
    run_dir: str | pathlib.Path,
    analysis: Analysis | None = None,
    *,
    profile_likelihood: bool = True,
    figures: bool = True,
) -> SearchResult:
    """Compare the definition's search selections on a processed run (its folder); writes
    ``RUNDIR/search/`` (results.json, table.md, figures).

    Raises:
        LibericaError: a definition without a search or sculpting block, a run
            without a region it names, or a fit that failed
    """
    from liberica.core import registry
    from liberica.fits.search import run_search
    from liberica.orchestration.blinding import refuse_blinded

    run = load_run(run_dir)
    refuse_blinded(run.metrics, "liberica search")
    name = analysis or run.metrics.get("definition") or registry.DEFAULT_ANALYSIS
    content = run_search(
        run.output_dir,
        load_definition(name),
        run.histograms,
        run.metrics,
        profile_likelihood=profile_likelihood,
        figures=figures,
    )
    return SearchResult(
        signal=content.get("signal"),
        observable=content.get("observable"),
        selections=content.get("selections", {}),
        sculpting=content.get("sculpting", {}),
        warnings=content.get("warnings", []),
        content=content,
        folder=run.output_dir / "search",
    )
