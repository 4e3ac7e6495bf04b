"""The ``liberica`` command line: generate, process, run."""

from __future__ import annotations

import logging
import os
import pathlib
import sys
import time
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from liberica import __version__
from liberica.option_types import LUMINOSITY, SEED, SIGNAL_STRENGTH, FiniteFloatList
from liberica.samples.sample import DEFAULT_LUMI_FB

log = logging.getLogger(__name__)
console = Console()

DEFAULT_CACHE = pathlib.Path("liberica-data")


class _NoCancelledTasks(logging.Filter):
    """Drops log records of cancelled asyncio tasks.

    A local dask scheduler that closes while a progress bar's feed still
    sleeps logs the feed's ``CancelledError`` as an error, with its traceback,
    at the end of every successful run.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        import asyncio

        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def _configure_logging(verbose: bool) -> None:
    # distributed sets its loggers to INFO as it is imported (here and in the workers
    # this process starts), from dask's config, which reads the environment
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "info" if verbose else "warning")
    handler = RichHandler(console=Console(stderr=True), show_path=False)
    handler.addFilter(_NoCancelledTasks())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[handler],
        force=True,
    )
    for noisy in (
        "numba",
        "matplotlib",
        "distributed",
        "asyncio",
        "fsspec",
        "jax",
        "onnx_ir",
        "onnxscript",
        "torch",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not verbose:
        # cabinetry logs every parameter, and warns once per template with an empty
        # bin (hundreds of lines for the sparse ttbar templates); -v shows them
        logging.getLogger("cabinetry").setLevel(logging.ERROR)
        logging.getLogger("pyhf").setLevel(logging.WARNING)


@click.group()
@click.version_option(__version__, prog_name="liberica")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """liberica: columnar collider-physics analysis, from ROOT files to histograms."""
    _configure_logging(verbose)


def _registered_names() -> list[str]:
    from liberica.analysis import registry

    return registry.names()


def _analysis_and_definition(analysis: str):
    """The registered analysis and the definition of ANALYSIS: a name, or a YAML path.

    A YAML definition names the analysis it is for (``analysis:``); errors are one line.
    """
    from liberica.analysis.definition import AnalysisDefinitionError, load

    try:
        definition = load(analysis)
    except (AnalysisDefinitionError, FileNotFoundError) as err:
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
    return definition.registered(), definition


@main.command()
@click.argument("analysis", type=click.Choice(_registered_names()))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=pathlib.Path),
    required=True,
    help="Folder for the ROOT files and fileset.json.",
)
@click.option(
    "--events",
    type=click.IntRange(min=1000),
    default=None,
    help="Total MC events over all MC samples [default: the analysis's].",
)
@click.option(
    "--lumi",
    "lumi_fb",
    type=LUMINOSITY,
    default=DEFAULT_LUMI_FB,
    show_default=True,
    help="Integrated luminosity of the pseudo-data, fb^-1.",
)
@click.option(
    "--mu-inject",
    type=SIGNAL_STRENGTH,
    default=1.0,
    show_default=True,
    help="Signal strength injected into the pseudo-data.",
)
@click.option("--seed", type=SEED, default=42, show_default=True, help="Random seed.")
@click.option(
    "--events-per-file",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="At most this many events per file (a chunk never spans two files).",
)
@click.option(
    "--format",
    "input_format",
    default=None,
    help="The input format to write (e.g. daml-csv: the flat CSV tables hllj_table "
    "reads) [default: the analysis's own].",
)
def generate(
    analysis: str,
    out_dir: pathlib.Path,
    events: int | None,
    lumi_fb: float,
    mu_inject: float,
    seed: int,
    events_per_file: int,
    input_format: str | None,
) -> None:
    """Generate the embedded sample of ANALYSIS in its input format (or --format's).

    With another format, --events is that generator's (for daml-csv: the MC
    table rows, about; default 250,000, full size 6,850,000).
    """
    from liberica.analysis import registry

    registered = registry.get(analysis)
    # formats are named with underscores; the command line takes hyphens too
    chosen = registered.input_format if input_format is None else input_format.replace("-", "_")
    try:
        make = registered.generator(chosen)
    except registry.AnalysisNotFound as err:
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
    options = {"events": events} if events is not None else {}
    if events is None and chosen == registered.input_format:
        options["events"] = registered.default_events
    sample = make(
        out_dir,
        lumi_fb=lumi_fb,
        mu_inject=mu_inject,
        seed=seed,
        events_per_file=events_per_file,
        **options,
    )
    table = Table(title=f"Generated {analysis} sample ({chosen}) in {out_dir}")
    table.add_column("sample")
    table.add_column("events", justify="right")
    for name, n in sample.samples.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    console.print(f"fileset: {sample.fileset_path}")


def _process_options(func):
    options = [
        click.option(
            "--executor",
            type=click.Choice(["iterative", "futures", "dask-local"]),
            default="futures",
            show_default=True,
            help="Where chunks run (local shorthands; --cluster picks any profile).",
        ),
        click.option(
            "--cluster",
            default=None,
            help="A profile of dask_config.yaml (dask-local, dask-scheduler, dask-gateway, ...); "
            "replaces --executor and --workers.",
        ),
        click.option(
            "--on-bad-file",
            type=click.Choice(["fail", "skip"]),
            default=None,
            help="An unreadable file or chunk stops the run (fail) or is skipped and listed "
            "in metrics.json (skip) [default: the profile's, else fail].",
        ),
        click.option(
            "--checkpoint",
            type=click.Path(file_okay=False, path_type=pathlib.Path),
            default=None,
            help="Save each finished chunk here; rerunning the same command resumes, "
            "loading finished chunks instead of recomputing them.",
        ),
        click.option(
            "--dask-config",
            type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
            default=None,
            help="Cluster profiles [default: ./dask_config.yaml or $LIBERICA_DASK_CONFIG].",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=2,
            show_default=True,
            help="Worker processes (futures).",
        ),
        click.option(
            "--chunksize",
            type=click.IntRange(min=1),
            default=None,
            help="Events per chunk [default: 500000]; a chunk never spans two files.",
        ),
        click.option("--no-systematics", is_flag=True, help="Nominal only."),
        click.option(
            "--lumi",
            "lumi_fb",
            type=LUMINOSITY,
            default=None,
            help="Luminosity (fb^-1) for MC; default from the fileset's data metadata "
            "(lumi_fb), which it must agree with where the fileset states one.",
        ),
        click.option(
            "--model",
            "models",
            multiple=True,
            type=click.Path(exists=True, dir_okay=False),
            help="Classifier ONNX file, once per fold, replacing the analysis's models.",
        ),
        click.option(
            "--allow-fit-observable",
            is_flag=True,
            help="Run a classifier whose features include the observable of a region it "
            "scores (its spec must declare uses_fit_observable).",
        ),
        click.option(
            "--dump-features",
            is_flag=True,
            help="Also write features.parquet: classifier features of selected MC events "
            "with weight, process and eventNumber, for `liberica train`.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@click.argument("analysis")
@click.option(
    "--fileset",
    "fileset_path",
    type=click.Path(path_type=pathlib.Path),
    required=True,
    help="coffea-style fileset, JSON or YAML.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=pathlib.Path),
    required=True,
    help="Output folder.",
)
@_process_options
def process(
    analysis: str, fileset_path: pathlib.Path, out_dir: pathlib.Path, **options: Any
) -> None:
    """Process a fileset with ANALYSIS (a shipped name or a YAML file) into histograms."""
    _print_summary(_run_processing(analysis, fileset_path, out_dir, **options))


def _run_processing(
    analysis: str,
    fileset_path: pathlib.Path,
    out_dir: pathlib.Path,
    *,
    executor: str,
    workers: int,
    chunksize: int | None,
    no_systematics: bool,
    lumi_fb: float | None,
    models: tuple[str, ...],
    allow_fit_observable: bool,
    dump_features: bool,
    cluster: str | None,
    dask_config: pathlib.Path | None,
    on_bad_file: str | None,
    checkpoint: pathlib.Path | None,
):
    """Run the processor with the options of ``_process_options``; exit 2 on bad input."""
    from liberica.analysis import clusters
    from liberica.analysis.definition import AnalysisDefinitionError
    from liberica.analysis.fileset import FilesetError
    from liberica.analysis.outputs import OutputError
    from liberica.analysis.pipeline import DEFAULT_CHUNKSIZE, run_processor
    from liberica.models.spec import ModelSpecError
    from liberica.processors.bad_input import ChunkReadError

    profile = None
    try:
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
            analysis,
            fileset_path,
            executor=executor,
            workers=workers,
            chunksize=chunksize or DEFAULT_CHUNKSIZE,
            systematics=not no_systematics,
            lumi_fb=lumi_fb,
            output_dir=out_dir,
            models=list(models) or None,
            allow_fit_observable=allow_fit_observable,
            dump_features=dump_features,
            profile=profile,
            on_bad_file=on_bad_file,
            checkpoint=checkpoint,
        )
    except (
        ChunkReadError,
        AnalysisDefinitionError,
        FilesetError,
        OutputError,
        ModelSpecError,
        clusters.ClusterConfigError,
        clusters.ClusterStartError,
        FileNotFoundError,
    ) as err:
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)


def _print_summary(result) -> None:
    from liberica.analysis.summary import yield_table

    metrics = result.metrics
    console.print(yield_table(result))
    console.print(
        f"{metrics['events_processed']:,} events in {metrics['chunks']} chunks, "
        f"{metrics['wall_time_s']:.1f} s with {metrics['executor']} x{metrics['workers']}: "
        f"{metrics['events_per_second']:,.0f} events/s "
        f"({metrics['events_per_second_per_core']:,.0f} per core), "
        f"{metrics['bytes_read'] / 1e6:.1f} MB read"
    )
    bad = metrics.get("bad_input", {})
    if bad.get("skipped_files") or bad.get("skipped_chunks"):
        console.print(
            f"[bold yellow]skipped[/] {len(bad['skipped_files'])} file(s) and "
            f"{len(bad['skipped_chunks'])} chunk(s), {bad['events_skipped']:,} events: "
            f"{bad['events_processed']:,} processed + {bad['events_skipped']:,} skipped = "
            f"{bad['events_processed'] + bad['events_skipped']:,} of "
            f"{bad['events_in_fileset']:,} in the fileset"
        )
        for entry in bad["skipped_files"]:
            console.print(f"  file {entry['file']}: {entry['reason']}", soft_wrap=True)
        for entry in bad["skipped_chunks"]:
            console.print(
                f"  chunk {entry['file']} entries {entry['entrystart']}-{entry['entrystop']} "
                f"({entry['events']:,} events): {entry['reason'].splitlines()[0]}",
                soft_wrap=True,
            )
    if metrics.get("chunks_resumed"):
        console.print(
            f"resumed: {metrics['chunks_resumed']} of {metrics['chunks']} chunks "
            f"({metrics['events_resumed']:,} events) loaded from checkpoints; the rates count "
            f"the {metrics['events_computed']:,} events computed in this run"
        )
    unphysical = metrics.get("unphysical_objects", {})
    if unphysical:
        console.print(
            "[bold yellow]dropped[/] objects with a non-finite or negative pT or E, or a "
            "non-finite eta or phi, before selection (the events kept their other objects):"
        )
        for sample, counts in unphysical.items():
            branches = ", ".join(f"{b} {n:,}" for b, n in counts.items() if b != "objects")
            console.print(f"  {sample}: {counts['objects']:,} objects ({branches})")
    if metrics.get("cluster_start_s"):
        console.print(
            f"{metrics['executor']} cluster ({metrics['workers']} workers, {metrics['cores']} "
            f"cores) ready in {metrics['cluster_start_s']:.1f} s"
        )
    classifier = metrics.get("classifier")
    if classifier:
        providers = ", ".join(f"{k} ({v} chunks)" for k, v in classifier["providers"].items())
        console.print(
            f"classifier: {classifier['rows_scored']:,} rows scored on {providers}; "
            f"features + inference {100 * classifier['fraction_of_chunk_time']:.1f}% of chunk time"
        )
    if result.output_dir is not None:
        console.print(f"outputs in {result.output_dir}")


@main.command()
@click.argument("analysis", default=None, required=False)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=pathlib.Path),
    default=None,
    help="Output folder [default: runs/NAME].",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=pathlib.Path),
    default=DEFAULT_CACHE,
    show_default=True,
    help="Where the embedded sample is generated once and reused.",
)
@click.option(
    "--events",
    type=click.IntRange(min=1000),
    default=None,
    help="Total MC events of the embedded sample [default: the analysis's].",
)
@click.option("--seed", type=SEED, default=42, show_default=True)
@click.option("--no-fit", is_flag=True, help="Process only; skip the mu fit.")
@_process_options
def run(
    analysis: str | None,
    out_dir: pathlib.Path | None,
    cache_dir: pathlib.Path,
    events: int | None,
    seed: int,
    no_fit: bool,
    **options: Any,
) -> None:
    """Generate (once) the embedded sample of ANALYSIS, process it, fit mu and summarize.

    ANALYSIS is a registered analysis or a YAML definition naming one [default: the
    registry's default analysis].
    """
    from liberica.analysis import registry
    from liberica.analysis.outputs import OutputError, check_writable
    from liberica.samples import cached_sample, sample_folder

    analysis = analysis or registry.DEFAULT_ANALYSIS
    registered, definition = _analysis_and_definition(analysis)
    events = registered.default_events if events is None else events
    out_dir = out_dir or pathlib.Path("runs") / definition.name
    try:  # before the sample is generated
        check_writable(out_dir)
    except OutputError as err:
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
    lumi_fb = options["lumi_fb"] or DEFAULT_LUMI_FB  # the data's, which MC is normalized to
    folder = sample_folder(cache_dir, registered.name, events, seed, lumi_fb)
    sample = cached_sample(registered, folder, events=events, seed=seed, lumi_fb=lumi_fb)
    result = _run_processing(analysis, sample.fileset_path, out_dir, **options)
    _print_summary(result)
    if no_fit:
        return
    _fit_and_print(result.output_dir, analysis, None, asimov=False)


def _fit_input_options(func):
    """RUN_DIR and the options that say what to fit: for ``fit`` and ``toys``."""
    options = [
        click.argument(
            "run_dir", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path)
        ),
        click.option(
            "--analysis",
            default=None,
            help="Analysis definition (name or YAML) [default: the run's, from its metrics.json].",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(exists=True, path_type=pathlib.Path),
            default=None,
            help="A cabinetry config to use instead of the generated one.",
        ),
        click.option(
            "--regions",
            default=None,
            help="Fit regions: a set named in the definition's fit.region_sets, or a "
            "comma-separated list of regions [default: the definition's fit.regions].",
        ),
        click.option(
            "--maxiter",
            type=click.IntRange(min=1),
            default=None,
            help="MIGRAD's call limit for each attempt of each fit, as in cabinetry and pyhf "
            "[default: Minuit2's own].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@_fit_input_options
@click.option("--asimov", is_flag=True, help="Fit the Asimov data set (mu = 1) instead of data.")
@click.option("--no-ranking", is_flag=True, help="Skip the nuisance-parameter ranking.")
@click.option("--no-figures", is_flag=True, help="Skip the plots.")
def fit(
    run_dir: pathlib.Path,
    analysis: str | None,
    config_path: pathlib.Path | None,
    regions: str | None,
    maxiter: int | None,
    asimov: bool,
    no_ranking: bool,
    no_figures: bool,
) -> None:
    """Fit the signal strength mu to the histograms of RUN_DIR.

    Writes fit/cabinetry.yaml (when no --config is given), fit/workspace.json,
    fit/results.json, fit/correlation.json and the plots in fit/figures/.
    """
    _fit_and_print(
        run_dir, analysis, config_path, asimov, not no_ranking, not no_figures, regions, maxiter
    )


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
@click.option(
    "--analysis",
    default=None,
    help="Analysis definition (name or YAML) [default: the run's, from its metrics.json].",
)
@click.option(
    "--no-profile-likelihood",
    is_flag=True,
    help="Skip the cabinetry/pyhf fit of each selection (mu and the profile-likelihood Z).",
)
@click.option("--no-figures", is_flag=True, help="Skip the plots.")
def search(
    run_dir: pathlib.Path, analysis: str | None, no_profile_likelihood: bool, no_figures: bool
) -> None:
    """Compare the definition's search selections (e.g. cut-based against classifier).

    For each: S and B in the signal's mass window, the figures of merit, the Wilks Z of
    the spectrum fits, the profile-likelihood Z and mu with systematics; and the
    sculpting of the background spectrum (the definition's sculpting block, else the
    search's selections against its preselection; a definition with a sculpting block
    only gets that). Writes search/results.json, search/table.md and the plots in
    search/figures/.
    """
    import json

    from rich.table import Table

    from liberica.analysis import registry
    from liberica.fits.measurement import FitInputError
    from liberica.fits.minimize import FitFailure
    from liberica.fits.search import SearchError, run_search, sculpting_title, table_rows
    from liberica.fits.spectrum import SpectrumError

    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    analysis = analysis or metrics.get("definition") or registry.DEFAULT_ANALYSIS
    _, definition = _analysis_and_definition(analysis)
    try:
        with console.status("search: spectrum fits" + (
            ", profile-likelihood fits" if not no_profile_likelihood else "")):  # fmt: skip
            results = run_search(
                run_dir,
                definition,
                profile_likelihood=not no_profile_likelihood,
                figures=not no_figures,
            )
    except (SearchError, SpectrumError, FitInputError, FitFailure, FileNotFoundError) as err:
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
    if "selections" in results:
        names, rows = table_rows(results)
        table = Table(title=f"Search for {results['signal']} in {results['observable']}")
        table.add_column("")
        for name in names:
            table.add_column(name, justify="right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    sculpt = Table(title=sculpting_title(results))
    for column in ("selection", "mean shift [GeV]", "width ratio", "KS distance"):
        sculpt.add_column(column, justify="left" if column == "selection" else "right")
    for key, s in results["sculpting"].items():
        sculpt.add_row(
            f"{key} ({s['region']})",
            f"{s['mean_shift']:+.1f}",
            f"{s['width_ratio']:.3f}",
            f"{s['ks_distance']:.3f}",
        )
    console.print(sculpt)
    for warning in results.get("warnings", []):
        console.print(f"[bold yellow]warning:[/] {warning}", soft_wrap=True)
    console.print(f"search outputs in {run_dir / 'search'}")


@main.command()
@_fit_input_options
@click.option(
    "--ntoys", type=click.IntRange(min=2), default=200, show_default=True, help="Toys per mu."
)
@click.option(
    "--mu",
    "mu_values",
    type=FiniteFloatList(min=0),
    default="0,1,2",
    show_default=True,
    help="True values of mu, comma-separated.",
)
@click.option("--seed", type=SEED, default=1, show_default=True, help="Seed of the toys.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local worker processes [default: one per core].",
)
def toys(
    run_dir: pathlib.Path,
    analysis: str | None,
    config_path: pathlib.Path | None,
    regions: str | None,
    maxiter: int | None,
    ntoys: int,
    mu_values: tuple[float, ...],
    seed: int,
    workers: int | None,
) -> None:
    """Pseudo-experiments on the fit of RUN_DIR: bias, pull width and coverage of mu.

    Toys are drawn at (mu, theta-hat-hat(mu)), main and auxiliary data, and fitted
    like `liberica fit` (MINOS on mu). Writes fit/toys/results.json and the pull plots.
    """
    from rich.progress import Progress

    from liberica.fits import toys as toys_module
    from liberica.fits.measurement import FitInputError, build_workspace
    from liberica.fits.minimize import FitFailure
    from liberica.fits.run import observable_edges
    from liberica.fits.templates import TemplateRules

    mus = mu_values  # finite, >= 0: checked in parsing (option_types)
    definition, config, model_kind = _fit_inputs(run_dir, analysis, config_path, regions)
    folder = run_dir / "fit" / "toys"
    workers = workers or toys_module.default_workers()
    try:
        workspace, _ = build_workspace(
            config,
            folder / "workspace.json",
            TemplateRules(**definition.fit_templates),
            observable_edges(definition),
        )
        start = time.perf_counter()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"toys ({workers} workers)", total=ntoys * len(mus))
            sets = toys_module.run_toys(
                workspace,
                mus,
                ntoys,
                seed,
                workers,
                progress=lambda n: progress.advance(task, n),
                call_limit=maxiter,
            )
        wall = time.perf_counter() - start
    except (FitInputError, FitFailure, FileNotFoundError) as err:
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
    settings = {
        "ntoys": ntoys,
        "mu_true": list(mus),
        "seed": seed,
        "workers": workers,
        "model": model_kind,
        "regions": list(definition.fit_regions),
        "wall_time_s": wall,
    }
    toys_module.write_results(sets, folder, settings)
    table = Table(title=f"Toys, {run_dir} ({ntoys} per mu, {wall:.0f} s on {workers} workers)")
    for column in (
        "mu true",
        "toys",
        "failed",
        "mean mu-hat",
        "pull mean",
        "pull width",
        "68% cov.",
    ):
        table.add_column(column, justify="right")
    for s in sets:
        table.add_row(
            f"{s.mu_true:g}",
            str(s.n),
            str(s.n_failed),
            f"{s.mu_hat_mean:.3f}",
            f"{s.pull_mean:+.3f}",
            f"{s.pull_width:.3f}",
            f"{s.coverage_68:.3f}",
        )
    console.print(table)
    failed = sum(s.n_failed for s in sets)
    if failed:
        console.print(
            f"[bold yellow]{failed} toy fit(s) failed[/]: counted in n_failed, left out of the "
            "pull statistics (fit_status in results.json)"
        )
    console.print(f"toy outputs in {folder}")


def _fit_inputs(
    run_dir: pathlib.Path,
    analysis: str | None,
    config_path: pathlib.Path | None,
    regions: str | None,
):
    """The definition (with ``--regions``), the cabinetry config and the model kind of a run.

    A nominal-only run (``"systematics": false`` in its metrics.json) gets a model
    without template systematics, and the CLI says so.
    """
    import json

    from liberica.analysis import registry
    from liberica.fits.config import build_config, read_config, write_config

    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    analysis = analysis or metrics.get("definition") or registry.DEFAULT_ANALYSIS
    _, definition = _analysis_and_definition(analysis)
    if regions is not None:
        chosen = definition.fit_region_sets.get(regions) or tuple(regions.split(","))
        unknown = [r for r in chosen if r not in definition.regions]
        if unknown:
            sets = ", ".join(definition.fit_region_sets) or "none"
            raise click.BadParameter(
                f"unknown region(s) {unknown}; region sets: {sets}", param_hint="--regions"
            )
        definition = definition._replace(fit_regions=tuple(chosen))
    with_systematics = metrics.get("systematics", True)
    if config_path is not None:
        return definition, read_config(config_path), "user_config"
    config = build_config(definition, run_dir, template_systematics=with_systematics)
    write_config(config, run_dir / "fit" / "cabinetry.yaml")
    if not with_systematics:
        console.print(
            "the run has no systematic variations (--no-systematics): fitting a model without "
            "template systematics (normalizations and MC statistics only)"
        )
        return definition, config, "no_template_systematics"
    return definition, config, "full"


def _fit_and_print(
    run_dir: pathlib.Path,
    analysis: str | None,
    config_path: pathlib.Path | None,
    asimov: bool,
    ranking: bool = True,
    figures: bool = True,
    regions: str | None = None,
    maxiter: int | None = None,
) -> None:
    from liberica.fits.measurement import FitInputError
    from liberica.fits.minimize import FitFailure
    from liberica.fits.run import fit_run

    definition, config, model_kind = _fit_inputs(run_dir, analysis, config_path, regions)
    try:
        with console.status(
            "fitting: mu, significance, CLs limit" + (", ranking" if ranking else "")
        ):
            results = fit_run(
                run_dir,
                config,
                definition,
                asimov=asimov,
                ranking=ranking,
                figures=figures,
                model_kind=model_kind,
                call_limit=maxiter,
            )
    except (FitInputError, FitFailure, FileNotFoundError) as err:
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)
    _print_fit(run_dir, results)


def _print_fit(run_dir: pathlib.Path, results: dict) -> None:
    table = Table(title=f"Signal strength, {run_dir}")
    for column in ("", "mu", "total", "stat", "Z (sigma)", "95% CL limit"):
        table.add_column(column, justify="right")
    z = results["significance"]
    limit = results["upper_limit"]
    observed_label = "Asimov" if results["asimov"] else "observed"
    rows = (
        (observed_label, results["mu"], z["observed"], limit["observed"]),
        ("expected", results["expected"], z["expected"], limit["expected"][2]),
    )
    for label, m, significance, upper in rows:
        table.add_row(
            label,
            f"{m['bestfit']:.3f}",
            f"+{m['up']:.3f} -{m['down']:.3f}",
            f"+{m['stat_up']:.3f} -{m['stat_down']:.3f}",
            f"{significance:.2f}",
            f"{upper:.3f}",
        )
    console.print(table)
    m = results["mu"]
    console.print(
        f"mu = {m['bestfit']:.3f} +{m['up']:.3f} -{m['down']:.3f} "
        f"(stat +{m['stat_up']:.3f} -{m['stat_down']:.3f}); discovery significance: "
        f"observed {z['observed']:.2f} sigma, expected {z['expected']:.2f} sigma"
    )
    if "injected_mu" in results:
        console.print(f"injected mu = {results['injected_mu']}")
    if results["ranking"]:
        ranking = Table(title="Leading impacts on mu (post-fit)")
        for column in ("parameter", "up", "down", "pre-fit up", "pre-fit down"):
            ranking.add_column(column, justify="right")
        for impact in results["ranking"][:5]:
            ranking.add_row(
                impact["name"],
                *(
                    f"{impact[k]:+.4f}"
                    for k in ("impact_up", "impact_down", "prefit_impact_up", "prefit_impact_down")
                ),
            )
        console.print(ranking)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in results["timing_s"].items())
    console.print(f"fit steps: {timing}")
    retried = results.get("fits_with_retries", [])
    if retried:
        console.print(
            f"[bold yellow]fits that needed retries[/] (fit_status in results.json): "
            f"{'; '.join(retried)}",
            soft_wrap=True,
        )
    merged = results.get("templates", {}).get("merged", {})
    for region, groups in merged.items():
        console.print(
            f"{region}: merged {', '.join(g['range'] for g in groups)} (too little MC; "
            "fit_templates in the definition)"
        )
    console.print(f"fit outputs in {run_dir / 'fit'}")


@main.command()
@click.argument("analysis", default=None, required=False)
@click.option(
    "--classifier",
    "classifier_name",
    default=None,
    help="The definition's classifier to train [default: its only one].",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=pathlib.Path),
    default=pathlib.Path("models"),
    show_default=True,
    help="Folder for the fold models (named as in the definition) and the ROC and score plots.",
)
@click.option(
    "--features",
    "features_path",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="features.parquet from `liberica process --dump-features` [default: dump them "
    "from the embedded sample].",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=pathlib.Path),
    default=DEFAULT_CACHE,
    show_default=True,
    help="Where the embedded sample is generated once and reused.",
)
@click.option(
    "--all-backgrounds",
    is_flag=True,
    help="Train against every background, not only the classifier's background processes.",
)
@click.option("--unweighted", is_flag=True, help="Count events instead of using event weights.")
@click.option("--seed", type=SEED, default=42, show_default=True, help="Training seed.")
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=2,
    show_default=True,
    help="K: fold m scores eventNumber % K == (m + 1) % K and trains on the rest "
    "(the definition lists K models).",
)
def train(
    analysis: str | None,
    classifier_name: str | None,
    out_dir: pathlib.Path,
    features_path: pathlib.Path | None,
    cache_dir: pathlib.Path,
    all_backgrounds: bool,
    unweighted: bool,
    seed: int,
    folds: int,
) -> None:
    """Train a classifier of ANALYSIS in K folds by eventNumber and export it to ONNX.

    ANALYSIS is a registered analysis or a YAML definition naming one [default: the
    registry's default analysis]. The classes, feature set and model names come from the
    definition's classifier. With the defaults this reproduces the models shipped with
    liberica.
    """
    import numpy as np

    from liberica.analysis import registry
    from liberica.analysis.definition import without_classifier
    from liberica.analysis.pipeline import fit_observables_taken
    from liberica.models.train import TrainingConfig
    from liberica.models.train import train as train_models

    registered, definition = _analysis_and_definition(analysis or registry.DEFAULT_ANALYSIS)
    if classifier_name is None:
        if len(definition.classifiers) != 1:
            raise click.BadParameter(
                f"the definition has {len(definition.classifiers)} classifiers "
                f"({', '.join(definition.classifiers) or 'none'}): name one",
                param_hint="--classifier",
            )
        classifier_name = next(iter(definition.classifiers))
    if classifier_name not in definition.classifiers:
        raise click.BadParameter(
            f"no classifier {classifier_name!r} ({', '.join(definition.classifiers)})",
            param_hint="--classifier",
        )
    classifier = definition.classifiers[classifier_name]
    if features_path is None:
        from liberica.analysis.pipeline import run_processor
        from liberica.samples import cached_sample

        events = registered.default_events
        sample = cached_sample(registered, cache_dir / f"{registered.name}-{events}-seed42")
        result = run_processor(
            without_classifier(definition),
            sample.fileset_path,
            executor="futures",
            workers=2,
            systematics=False,
            dump_features=classifier,
        )
        table = result.features
        description = (
            f"liberica embedded {registered.name} sample, {events / 1e6:g}M MC events, seed 42"
        )
    else:
        import pyarrow.parquet as pq

        columns = pq.read_table(features_path).to_pydict()
        names = list(columns)
        table = np.rec.fromarrays([np.asarray(columns[n]) for n in names], names=names)
        description = str(features_path)
    signal = list(classifier.signal)
    backgrounds = (
        [p.name for p in definition.processes.values() if p.kind == "background"]
        if all_backgrounds
        else list(classifier.background)
    )
    config = TrainingConfig(
        weighted=not unweighted,
        all_backgrounds=all_backgrounds,
        seed=seed,
        folds=folds,
        negative_weights=classifier.negative_weights,
    )
    if len(classifier.models) != folds:
        raise click.BadParameter(
            f"{folds} folds need {folds} model names; classifier {classifier_name!r} lists "
            f"{len(classifier.models)}",
            param_hint="--folds",
        )
    feature_set = registered.feature_sets[classifier.feature_set]
    taken = fit_observables_taken(definition, classifier_name, feature_set.features)
    if taken:
        console.print(
            f"{classifier_name} takes {', '.join(sorted({v for v, _ in taken}))}, the observable "
            f"of region(s) {', '.join(r for _, r in taken)} it scores: its spec declares "
            "uses_fit_observable, and runs must pass --allow-fit-observable"
        )
    with console.status(f"training {folds} folds"):
        reports = train_models(
            table,
            signal,
            backgrounds,
            out_dir,
            config,
            description,
            feature_set=feature_set,
            model_names=classifier.models,
            output=classifier.output,
            title=f"liberica {registered.name} classifier",
            uses_fit_observable=bool(taken),
        )
    report_table = Table(title=f"{classifier_name} classifier, {signal} vs {backgrounds}")
    for column in (
        "trained on",
        "scores",
        "epochs",
        "AUC (weighted)",
        "AUC (events)",
        "max |ONNX-torch|",
    ):
        report_table.add_column(column, justify="right")
    for r in reports:
        trained_on = [k for k in range(r.folds) if k != r.evaluates]
        report_table.add_row(
            f"eventNumber % {r.folds} in {trained_on}",
            f"== {r.evaluates}",
            str(r.epochs),
            f"{r.auc_weighted:.4f}",
            f"{r.auc_unweighted:.4f}",
            f"{r.onnx_max_abs_diff:.1e}",
        )
    console.print(report_table)
    console.print(
        f"models: {', '.join(str(r.path) for r in reports)}; ROC and score plots in {out_dir}"
    )


if __name__ == "__main__":
    main()
