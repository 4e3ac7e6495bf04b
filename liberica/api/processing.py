"""The processing stages of the API: definitions, filesets, samples, processing, runs."""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from liberica.core import definition as definition_module
from liberica.core.definition import AnalysisDefinition

if TYPE_CHECKING:
    from liberica.fits.results import FitResult
    from liberica.orchestration.pipeline import ProcessingResult
    from liberica.samples import GeneratedSample

log = logging.getLogger(__name__)

#: where ``run`` generates an analysis's embedded sample once and reuses it
DEFAULT_CACHE = pathlib.Path("liberica-data")

Analysis = str | pathlib.Path | AnalysisDefinition
"""An analysis as the API takes it: a registered name, ``NAME:VARIANT``, a YAML path, or a
loaded definition."""


class RunResult(NamedTuple):
    """What :func:`run` made.

    Attributes:
        sample: the embedded sample (generated, or reused from the cache)
        processing: histograms, cutflows and metrics
        fit: the fit, or None when not asked for (or the definition has no fit)
        bumphunt: the bump hunt, or None when not asked for (or the definition has none)
        cwola: the CWoLa hunt, or None when not asked for (or the definition has none)
    """

    sample: GeneratedSample
    processing: ProcessingResult
    fit: FitResult | None
    bumphunt: Any = None
    cwola: Any = None


def load_definition(analysis: Analysis) -> AnalysisDefinition:
    """A validated analysis definition (a definition passes through unchanged).

    Raises:
        AnalysisDefinitionError: naming the offending key
        FileNotFoundError: for an unknown name or a missing file
    """
    if isinstance(analysis, AnalysisDefinition):
        return analysis
    return definition_module.load(analysis)


def load_fileset(path: str | pathlib.Path) -> dict[str, Any]:
    """A coffea-style fileset (JSON or YAML), validated against the fileset schema.

    The checks that need the analysis and the files run when it is processed.

    Raises:
        FilesetError: naming the sample and key
    """
    from liberica.orchestration import fileset

    return fileset.read(path)


def load_run(run_dir: str | pathlib.Path) -> ProcessingResult:
    """A processed run read back from its folder: histograms, counts, cutflows, metrics.

    Raises:
        FileNotFoundError: naming the missing output
    """
    from liberica.orchestration.outputs import read_pickle
    from liberica.orchestration.pipeline import ProcessingResult

    run_dir = pathlib.Path(run_dir)
    for name in ("histograms.pkl", "cutflow.json", "metrics.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir} is not a processed run: no {name}")
    stored = read_pickle(run_dir / "histograms.pkl")
    return ProcessingResult(
        histograms=stored["histograms"],
        counts=stored["counts"],
        cutflow=json.loads((run_dir / "cutflow.json").read_text()),
        metrics=json.loads((run_dir / "metrics.json").read_text()),
        output_dir=run_dir,
    )


def generate(
    analysis: str,
    out: str | pathlib.Path,
    *,
    events: int | None = None,
    lumi_fb: float | None = None,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = 200_000,
    input_format: str | None = None,
    **generator_options: Any,
) -> GeneratedSample:
    """Generate the embedded sample of a registered analysis into ``out``.

    Args:
        analysis: a registered analysis
        out: the folder for the files and ``fileset.json``
        events: total MC events [default: the analysis's, for its own format]
        lumi_fb: luminosity of the pseudo-data, fb^-1 [default: the analysis's]
        mu_inject: signal strength injected into the pseudo-data
        seed: seed of everything generated
        events_per_file: at most this many events per file
        input_format: another format the analysis can generate (``daml-csv``)
        generator_options: options only the analysis's generator takes (e.g.
            ``inject_signal``, ``corrupt_weights`` of dilepton_ad's); a generator
            that does not take one refuses it with a one-line error

    Raises:
        AnalysisNotFound: for an unknown analysis or format
    """
    from liberica.core import registry

    registered = registry.get(analysis)
    # formats are named with underscores; the command line takes hyphens too
    chosen = registered.input_format if input_format is None else input_format.replace("-", "_")
    make = registered.generator(chosen)
    import inspect

    from liberica.core.errors import LibericaError

    accepted = inspect.signature(make).parameters
    unknown = [k for k in generator_options if k not in accepted]
    if unknown:
        raise LibericaError(
            f"the {registered.name} generator takes no option {', '.join(map(repr, unknown))}"
        )
    options = {"events": events} if events is not None else {}
    options.update(generator_options)
    if events is None and chosen == registered.input_format:
        options["events"] = registered.default_events
    return make(
        pathlib.Path(out),
        lumi_fb=registered.default_lumi_fb if lumi_fb is None else lumi_fb,
        mu_inject=mu_inject,
        seed=seed,
        events_per_file=events_per_file,
        **options,
    )


def process(
    analysis: Analysis,
    fileset: str | pathlib.Path,
    *,
    out: str | pathlib.Path | None = None,
    executor: str = "futures",
    workers: int = 2,
    cluster: str | None = None,
    dask_config: str | pathlib.Path | None = None,
    chunksize: int | None = None,
    systematics: bool = True,
    lumi_fb: float | None = None,
    models: Sequence[str] | None = None,
    allow_fit_observable: bool = False,
    dump_features: bool = False,
    on_bad_file: str | None = None,
    checkpoint: str | pathlib.Path | None = None,
    progress: bool = True,
    command: str | None = None,
    binning: str | pathlib.Path | None = None,
) -> ProcessingResult:
    """Process a fileset with an analysis into histograms, cutflows and metrics, in memory.

    Args:
        analysis: the analysis (name, YAML path or definition)
        fileset: the fileset file (JSON or YAML)
        out: also write the run's files there (histograms.root, histograms.pkl,
            cutflow.json, metrics.json); None keeps everything in memory
        executor: ``iterative``, ``futures`` or ``dask-local``
        workers: worker processes (futures, dask-local)
        cluster: a profile of the cluster configuration, replacing ``executor``
            and ``workers``
        dask_config: the cluster configuration [default: ./dask_config.yaml or
            $LIBERICA_DASK_CONFIG, else the built-in profiles]
        chunksize: events per chunk [default: the profile's, else 500,000]
        systematics: run the weight, object and sample variations
        lumi_fb: luminosity for MC [default: the data's ``lumi_fb``, else the
            definition's]; one contradicting the data's is refused
        models: ONNX files, one per fold, replacing the classifier's
        allow_fit_observable: allow a classifier that takes a fit observable
        dump_features: also return (and write) the classifier's features
        on_bad_file: ``fail`` or ``skip`` [default: the profile's, else fail]
        checkpoint: a folder for finished chunks, to resume
        progress: show progress bars
        command: the command line, for the provenance [default: ``Python API``]
        binning: an earlier run's binning.json (or its run folder): the final edges of
            the regions with a ``binning`` are taken from it (same definition only)

    Raises:
        LibericaError: one line naming the definition key, fileset sample, file,
            model or cluster profile that cannot be used
    """
    from liberica.orchestration import clusters
    from liberica.orchestration.pipeline import DEFAULT_CHUNKSIZE, run_processor

    profile = None
    if cluster is not None or dask_config is not None:
        profiles = clusters.load(dask_config)
        name = cluster or executor
        if name not in profiles:
            raise clusters.ClusterConfigError(
                str(dask_config or clusters.CONFIG_FILE),
                f"profiles.{name}",
                f"no such profile (defined: {', '.join(profiles)})",
            )
        profile = profiles[name]
        chunksize = chunksize or profile.chunksize
    return run_processor(
        load_definition(analysis),
        fileset,
        executor=executor,
        workers=workers,
        chunksize=chunksize or DEFAULT_CHUNKSIZE,
        systematics=systematics,
        lumi_fb=lumi_fb,
        output_dir=out,
        status=progress,
        models=list(models) if models else None,
        allow_fit_observable=allow_fit_observable,
        dump_features=dump_features,
        profile=profile,
        on_bad_file=on_bad_file,
        checkpoint=checkpoint,
        command=command,
        binning=binning,
    )


def embedded_sample(
    analysis: Analysis,
    cache: str | pathlib.Path = DEFAULT_CACHE,
    *,
    events: int | None = None,
    seed: int = 42,
    lumi_fb: float | None = None,
) -> GeneratedSample:
    """The analysis's embedded sample, generated once into ``cache`` and reused.

    Each (events, seed, luminosity) has its own folder, so a run at another
    luminosity never reads pseudo-data made for the first. ``lumi_fb`` defaults
    to the analysis's ``default_lumi_fb``.
    """
    from liberica.samples import cached_sample, sample_folder

    registered = load_definition(analysis).registered()
    events = registered.default_events if events is None else events
    default_lumi = registered.default_lumi_fb
    lumi_fb = default_lumi if lumi_fb is None else lumi_fb
    folder = sample_folder(
        pathlib.Path(cache), registered.name, events, seed, lumi_fb, default_lumi
    )
    return cached_sample(registered, folder, events=events, seed=seed, lumi_fb=lumi_fb)


def run(
    analysis: Analysis | None = None,
    *,
    out: str | pathlib.Path | None = None,
    cache: str | pathlib.Path = DEFAULT_CACHE,
    events: int | None = None,
    seed: int = 42,
    fit: bool = True,
    lumi_fb: float | None = None,
    command: str | None = None,
    **options: Any,
) -> RunResult:
    """Generate (once) the embedded sample, process it and run the definition's stages
    (the mu fit, the bump hunt, the CWoLa hunt): the default job.

    Args:
        analysis: the analysis (name, YAML path or definition) [default: the
            registry's default analysis]
        out: also write the run's files and the fit's there; None keeps it in memory
        cache: where the embedded sample is generated once and reused
        events, seed: the embedded sample's
        fit: run the definition's stages after processing (``definition.stages``)
        lumi_fb: the luminosity of the pseudo-data and of MC [default: the analysis's,
            140 fb^-1 unless it states another]
        command: the command line, for the provenance
        options: the keyword arguments of :func:`process`
    """
    from liberica.api.fitting import fit as fit_run
    from liberica.api.fitting import write_fit
    from liberica.core import registry
    from liberica.orchestration.outputs import check_writable

    definition = load_definition(analysis or registry.DEFAULT_ANALYSIS)
    if out is not None:  # before the sample is generated
        check_writable(out)
    sample = embedded_sample(definition, cache, events=events, seed=seed, lumi_fb=lumi_fb)
    processing = process(
        definition, sample.fileset_path, out=out, lumi_fb=lumi_fb, command=command, **options
    )
    result = hunt = None
    if fit and "fit" in definition.stages:
        result = fit_run(processing, definition, command=command)
        if out is not None:
            result = write_fit(result, pathlib.Path(out) / "fit")
    if fit and "bumphunt" in definition.stages:
        from liberica.api.anomaly import bumphunt, write_bumphunt

        hunt = bumphunt(processing, definition)
        if out is not None:
            write_bumphunt(hunt, pathlib.Path(out) / "bumphunt")
    weakly_supervised = None
    if fit and "cwola" in definition.stages:
        from liberica.api.anomaly import cwola, write_cwola

        weakly_supervised = cwola(processing, definition, seed=seed)
        if out is not None:
            write_cwola(weakly_supervised, pathlib.Path(out) / "cwola")
    return RunResult(sample, processing, result, hunt, weakly_supervised)
