"""The ``liberica`` command line: generate, process, run."""

from __future__ import annotations

import contextlib
import logging
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from liberica import __version__
from liberica.cli import report
from liberica.cli.option_types import LUMINOSITY, SEED, SIGNAL_STRENGTH, FiniteFloatList
from liberica.cli.terminal import (
    NORMAL,
    QUIET,
    VERBOSE,
    Session,
    StepProgress,
    make_console,
)
from liberica.samples.sample import DEFAULT_LUMI_FB

log = logging.getLogger(__name__)
console = make_console()

_SESSION, _VERBOSITY = "liberica.session", "liberica.verbosity"


def _session() -> Session:
    """This invocation's console session (made by ``main``)."""
    return click.get_current_context().meta[_SESSION]


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value:
        return
    verbosity = VERBOSE if param.name == "verbose" else QUIET
    ctx.meta[_VERBOSITY] = verbosity
    if _SESSION in ctx.meta:  # a subcommand's -v/-q: main has configured logging already
        ctx.meta[_SESSION].configure(verbosity)


def _verbosity_options(func):
    """-v/--verbose and -q/--quiet, taken before or after the subcommand."""
    for flag, name, text in (
        ("-q", "--quiet", "Warnings and results only: no info lines, no progress bars."),
        ("-v", "--verbose", "Debug logging, and every repeated warning."),
    ):
        func = click.option(
            flag, name, is_flag=True, expose_value=False, callback=_set_verbosity, help=text
        )(func)
    return func


@click.group()
@click.version_option(__version__, prog_name="liberica")
@_verbosity_options
@click.pass_context
def main(ctx: click.Context) -> None:
    """liberica: columnar collider-physics analysis, from ROOT files to histograms."""
    session = Session()
    session.configure(ctx.meta.get(_VERBOSITY, NORMAL))
    ctx.meta[_SESSION] = session

    def close() -> None:
        for line in session.closing_lines():
            console.print(line)

    ctx.call_on_close(close)


def _registered_names() -> list[str]:
    from liberica.core import registry

    return registry.names()


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """Print an error liberica reports in one line (bad input, a fit that failed) and exit 2."""
    from liberica.core.errors import LibericaError

    try:
        yield
    except (LibericaError, FileNotFoundError) as err:
        from rich.markup import escape

        # the message may hold brackets (pip install 'liberica[lhco]', fit.regions[0])
        console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        sys.exit(2)


def _command_line() -> str:
    """The command as typed, for the outputs' provenance."""
    return " ".join(["liberica", *sys.argv[1:]])


def _generator_options(
    inject_signal: str | None, corrupt_weights: bool, **given: Any
) -> dict[str, Any]:
    """The generator-specific options given on the command line (none: the generator's defaults)."""
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None and v is not False}
    if inject_signal is not None:
        options["inject_signal"] = None if inject_signal.lower() == "none" else inject_signal
    if corrupt_weights:
        options["corrupt_weights"] = True
    return options


@main.command()
@_verbosity_options
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
    default=None,
    help=f"Integrated luminosity of the pseudo-data, fb^-1 [default: the analysis's; "
    f"{DEFAULT_LUMI_FB:g} unless it states another].",
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
@click.option(
    "--inject-signal",
    default=None,
    help="The signal sample injected into the pseudo-data at --mu-inject, or 'none', for "
    "generators with several signals (dilepton_ad: Zprime1000, Zprime2000, Graviton1500, "
    "Slepton) [default: the generator's; dilepton_ad: Zprime1000].",
)
@click.option(
    "--corrupt-weights",
    is_flag=True,
    help="Write wrong weights on purpose, where the generator can (dilepton_ad: Graviton1500 "
    "x50, and absurd weights on a few ttbar events), to test the weight checks.",
)
@click.option(
    "--signal-events",
    type=click.IntRange(min=0),
    default=None,
    help="Signal events injected into the data, for generators that count them "
    "(lhco: W' -> X Y, default 1000; 0: background only).",
)
@click.option(
    "--signal-mass",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The resonance's mass, GeV (lhco: the W', default 3500).",
)
@click.option(
    "--x-mass",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="lhco: the mass of X (W' -> X Y), GeV [default 500].",
)
@click.option(
    "--y-mass",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="lhco: the mass of Y, GeV [default 100].",
)
@click.option(
    "--black-box",
    is_flag=True,
    help="lhco: masses drawn from the seed and written only to generation.json, and no "
    "labelled signal: a black box to hunt blind.",
)
def generate(
    analysis: str,
    out_dir: pathlib.Path,
    events: int | None,
    lumi_fb: float | None,
    mu_inject: float,
    seed: int,
    events_per_file: int,
    input_format: str | None,
    inject_signal: str | None,
    corrupt_weights: bool,
    signal_events: int | None,
    signal_mass: float | None,
    x_mass: float | None,
    y_mass: float | None,
    black_box: bool,
) -> None:
    """Generate the embedded sample of ANALYSIS in its input format (or --format's).

    With another format, --events is that generator's (for daml-csv: the MC
    table rows, about; default 250,000, full size 6,850,000).
    """
    from liberica import api

    with _one_line_errors():
        sample = api.generate(
            analysis,
            out_dir,
            events=events,
            lumi_fb=lumi_fb,
            mu_inject=mu_inject,
            seed=seed,
            events_per_file=events_per_file,
            input_format=input_format,
            **_generator_options(
                inject_signal,
                corrupt_weights,
                signal_events=signal_events,
                signal_mass=signal_mass,
                x_mass=x_mass,
                y_mass=y_mass,
                black_box=black_box,
            ),
        )
    report.generated(console, sample, f"{analysis} sample ({input_format or 'its own format'})")


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
@_verbosity_options
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
    from liberica import api

    with _one_line_errors():
        result = api.process(
            analysis, fileset_path, out=out_dir, command=_command_line(), **_api_options(options)
        )
    report.processing(console, result)


def _api_options(options: dict[str, Any]) -> dict[str, Any]:
    """``_process_options``'s values as :func:`liberica.api.process` takes them."""
    options = dict(options)
    options["systematics"] = not options.pop("no_systematics")
    options["progress"] = _session().progress
    return options


@main.command()
@_verbosity_options
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
    default=None,
    help="Where the embedded sample is generated once and reused [default: liberica-data].",
)
@click.option(
    "--events",
    type=click.IntRange(min=1000),
    default=None,
    help="Total MC events of the embedded sample [default: the analysis's].",
)
@click.option("--seed", type=SEED, default=42, show_default=True)
@click.option("--no-fit", is_flag=True, help="Process only; skip the mu fit and the bump hunt.")
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
    registry's default analysis]. After processing, the definition's stages run: the
    mu fit (its fit block, into RUN/fit), the bump hunt (its bumphunt block, into
    RUN/bumphunt) and the CWoLa hunt (its cwola block, into RUN/cwola).
    """
    from liberica import api
    from liberica.core import registry

    with _one_line_errors():
        definition = api.load_definition(analysis or registry.DEFAULT_ANALYSIS)
        out_dir = out_dir or pathlib.Path("runs") / definition.name
        result = api.run(
            definition,
            out=out_dir,
            cache=cache_dir or api.DEFAULT_CACHE,
            events=events,
            seed=seed,
            fit=False,
            command=_command_line(),
            **_api_options(options),
        )
    report.processing(console, result.processing)
    if no_fit:
        return
    if "fit" in definition.stages:
        _fit_and_print(result.processing, out_dir / "fit", definition)
    if "bumphunt" in definition.stages:
        with _one_line_errors():
            with _session().status(console, "bump hunt: pseudo-experiments"):
                hunt = api.bumphunt(result.processing, definition)
                path = api.write_bumphunt(hunt, out_dir / "bumphunt")
        report.bumphunt(console, hunt, path)
    if "cwola" in definition.stages:
        with _one_line_errors():
            hunted = _cwola_with_progress(
                lambda progress: api.cwola(
                    result.processing, definition, seed=seed, progress=progress
                )
            )
            path = api.write_cwola(hunted, out_dir / "cwola")
        report.cwola(console, hunted, path)


def _run_dir_options(func):
    """RUN_DIR and ``--analysis`` (the run's definition by default): for the commands on a run."""
    func = click.option(
        "--analysis",
        default=None,
        help="Analysis definition (name or YAML) [default: the run's, from its metrics.json].",
    )(func)
    return click.argument(
        "run_dir", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path)
    )(func)


def _fit_input_options(func):
    """RUN_DIR and the options that say what to fit: for ``fit`` and ``toys``."""
    options = [
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
    return _run_dir_options(func)


@main.command()
@_verbosity_options
@_fit_input_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Folder for the fit's outputs [default: RUN_DIR/fit]; another fit (e.g. of other "
    "--regions) then keeps the main one.",
)
@click.option("--asimov", is_flag=True, help="Fit the Asimov data set (mu = 1) instead of data.")
@click.option("--no-ranking", is_flag=True, help="Skip the nuisance-parameter ranking.")
@click.option("--no-figures", is_flag=True, help="Skip the plots.")
def fit(
    run_dir: pathlib.Path,
    analysis: str | None,
    config_path: pathlib.Path | None,
    regions: str | None,
    maxiter: int | None,
    out_dir: pathlib.Path | None,
    asimov: bool,
    no_ranking: bool,
    no_figures: bool,
) -> None:
    """Fit the signal strength mu to the histograms of RUN_DIR.

    Writes cabinetry.yaml, workspace.json, results.json, correlation.json and the
    plots in figures/ into --out (default RUN_DIR/fit).
    """
    _fit_and_print(
        run_dir,
        out_dir or run_dir / "fit",
        analysis,
        config=config_path,
        regions=regions,
        call_limit=maxiter,
        asimov=asimov,
        ranking=not no_ranking,
        figures=not no_figures,
    )


@main.command()
@_verbosity_options
@_run_dir_options
@click.option(
    "--noise-features",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Standard-normal columns added to the classifier inputs (a robustness study).",
)
@click.option(
    "--trainer",
    type=click.Choice(["trees", "mlp"]),
    default=None,
    help="The windows' classifier [default: the definition's, an ensemble of "
    "HistGradientBoosting classifiers].",
)
@click.option("--members", type=click.IntRange(min=1), default=None, help="Trees per ensemble.")
@click.option("--folds", type=click.IntRange(min=2), default=None, help="k of the k-fold.")
@click.option(
    "--pseudo-experiments",
    type=click.IntRange(min=10),
    default=None,
    help="Pseudo-experiments of the global significance [default: the definition's].",
)
@click.option(
    "--no-references",
    is_flag=True,
    help="Skip the supervised and idealized references and the SIC curves.",
)
@click.option(
    "--reference-trainers",
    default=None,
    help="The references' classifiers, comma-separated among trees, mlp "
    "[default: the definition's].",
)
@click.option(
    "--seed",
    type=SEED,
    default=42,
    show_default=True,
    help="Seed of the classifiers, the noise columns and the pseudo-experiments.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Output folder [default: RUN_DIR/cwola].",
)
@click.option("--no-figures", is_flag=True, help="Skip the plots.")
def cwola(
    run_dir: pathlib.Path,
    analysis: str | None,
    noise_features: int,
    trainer: str | None,
    members: int | None,
    folds: int | None,
    pseudo_experiments: int | None,
    no_references: bool,
    reference_trainers: str | None,
    seed: int,
    out_dir: pathlib.Path | None,
    no_figures: bool,
) -> None:
    """CWoLa hunting in sliding mass windows of RUN_DIR's per-event table.

    In each window (the definition's cwola block), a k-folded classifier of the
    signal region against its sidebands on the data's own features; each data event
    scored by the fold model that did not train on it; the most signal-region-like
    events at each efficiency of the ladder; their mass spectrum fitted with the
    signal region masked, and the signal-region count's significance. The global
    significance of the largest excess comes from pseudo-experiments of every
    window's fitted backgrounds. With labelled evaluation events, SIC curves of
    CWoLa, the supervised classifier and the idealized anomaly detector. Writes
    results.json and figures/.
    """
    from liberica import api

    options = {
        "seed": seed,
        "noise_features": noise_features,
        "trainer": trainer,
        "members": members,
        "folds": folds,
        "pseudo_experiments": pseudo_experiments,
        "references": not no_references,
        "reference_trainers": tuple(reference_trainers.split(",")) if reference_trainers else None,
    }
    with _one_line_errors():
        result = _cwola_with_progress(
            lambda progress: api.cwola(run_dir, analysis, progress=progress, **options)
        )
        path = api.write_cwola(result, out_dir or run_dir / "cwola", figures=not no_figures)
    report.cwola(console, result, path)


def _cwola_with_progress(hunt):
    """``hunt(progress)`` under a spinner that shows each step (a log line per step off a
    terminal)."""
    if not _session().progress:
        return hunt(None)
    with console.status("CWoLa hunt") as spinner:
        return hunt(lambda line: spinner.update(f"CWoLa hunt: {line}"))


@main.command()
@_verbosity_options
@_run_dir_options
@click.option(
    "--pseudo-experiments",
    type=click.IntRange(min=10),
    default=None,
    help="BumpHunter's background-only pseudo-experiments [default: the definition's].",
)
@click.option(
    "--gv-pseudo-experiments",
    type=click.IntRange(min=10),
    default=None,
    help="Background-only scans counting upcrossings for Gross-Vitells [default: the definition's].",
)
@click.option(
    "--seed", type=SEED, default=42, show_default=True, help="Seed of every pseudo-experiment."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Output folder [default: RUN_DIR/bumphunt].",
)
@click.option("--no-figures", is_flag=True, help="Skip the plots.")
def bumphunt(
    run_dir: pathlib.Path,
    analysis: str | None,
    pseudo_experiments: int | None,
    gv_pseudo_experiments: int | None,
    seed: int,
    out_dir: pathlib.Path | None,
    no_figures: bool,
) -> None:
    """Hunt bumps in the anomaly regions of RUN_DIR, with the look-elsewhere effect.

    The anomaly regions are cuts on the anomaly score at fixed background-MC
    efficiency (the definition's bumphunt block), taken from the run's 2-D
    histogram of the hunted observable against the score. Each region's spectrum is
    hunted with BumpHunter against the background (the MC, or a smooth fit of the
    data refitted in every pseudo-experiment); the global significance of the most
    significant excess over all regions comes from background-only
    pseudo-experiments, and the Gross-Vitells estimate of a fixed-width
    likelihood-ratio scan reaches beyond them. Writes results.json and figures/.
    """
    from liberica import api

    with _one_line_errors():
        with _session().status(console, "bump hunt: pseudo-experiments"):
            result = api.bumphunt(
                run_dir,
                analysis,
                seed=seed,
                pseudo_experiments=pseudo_experiments,
                gross_vitells_pseudo_experiments=gv_pseudo_experiments,
            )
            path = api.write_bumphunt(
                result, out_dir or run_dir / "bumphunt", figures=not no_figures
            )
    report.bumphunt(console, result, path)


@main.command()
@_verbosity_options
@_run_dir_options
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
    from liberica import api

    with _one_line_errors():
        with _session().status(console, "search: spectrum fits" + (
            ", profile-likelihood fits" if not no_profile_likelihood else "")):  # fmt: skip
            found = api.search(
                run_dir,
                analysis,
                profile_likelihood=not no_profile_likelihood,
                figures=not no_figures,
            )
    report.search(console, found)


@main.command()
@_verbosity_options
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

    from liberica import api
    from liberica.fits import toys as toys_module

    mus = mu_values  # finite, >= 0: checked in parsing (option_types)
    workers = workers or toys_module.default_workers()
    folder = run_dir / "fit" / "toys"
    with (
        _one_line_errors(),
        Progress(console=console, transient=True, disable=not _session().progress) as progress,
    ):
        task = progress.add_task(f"toys ({workers} workers)", total=ntoys * len(mus))
        result = api.toys(
            run_dir,
            analysis,
            ntoys=ntoys,
            mu=mus,
            seed=seed,
            workers=workers,
            regions=regions,
            config=config_path,
            call_limit=maxiter,
            progress=lambda n: progress.advance(task, n),
        )
    api.write_toys(result, folder)
    report.toys(console, result, run_dir, folder)


def _fit_and_print(
    run,
    out_dir: pathlib.Path,
    analysis=None,
    *,
    figures: bool = True,
    **options: Any,
) -> None:
    """Fit a run (its folder or a processing result), write the fit into ``out_dir`` and
    print it; ``options`` are :func:`liberica.api.fit`'s."""
    from liberica import api

    ranking = options.get("ranking", True)
    session = _session()
    with _one_line_errors():
        title = "fitting: mu, significance, CLs limit" + (", ranking" if ranking else "")
        with StepProgress(console, session.progress, title) as progress:
            result = api.fit(run, analysis, command=_command_line(), progress=progress, **options)
        if result.model_kind == "no_template_systematics":
            console.print(
                "the run has no systematic variations (--no-systematics): fitting a model "
                "without template systematics (normalizations and MC statistics only)"
            )
        result = api.write_fit(result, out_dir, figures=figures)
    report.fit(console, out_dir, result)


@main.command()
@_verbosity_options
@click.argument("analysis", default=None, required=False)
@click.option(
    "--classifier",
    "classifier_name",
    default=None,
    help="The definition's classifier to train [default: each of them in turn].",
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
    default=None,
    help="Where the embedded sample is generated once and reused [default: liberica-data].",
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
    default=None,
    help="K: fold m scores eventNumber % K == (m + 1) % K and trains on the rest "
    "(the definition lists K models) [default: the number of models it lists].",
)
@click.option(
    "--trials",
    type=click.IntRange(min=0),
    default=None,
    help="An autoencoder's hyper-parameter search: optuna trials (TPE, Hyperband pruning), "
    "0 for none [default: 24].",
)
@click.option(
    "--architecture",
    type=click.Choice(["ft_transformer", "mlp", "binary_mlp"]),
    default=None,
    help="A multiclass classifier's network; the baselines' models are named after it "
    "[default: the definition's].",
)
@click.option(
    "--training-set",
    type=click.Choice(["extended", "selection"]),
    default="extended",
    show_default=True,
    help="A multiclass classifier's training rows: its training selection (extended) or "
    "only the selection it scores.",
)
@click.option(
    "--max-epochs",
    type=click.IntRange(min=1),
    default=None,
    help="A multiclass training's epoch limit (early stopping may stop sooner).",
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
    folds: int | None,
    trials: int | None,
    architecture: str | None,
    training_set: str,
    max_epochs: int | None,
) -> None:
    """Train a classifier of ANALYSIS in K folds by eventNumber and export it to ONNX.

    ANALYSIS is a registered analysis or a YAML definition naming one [default: the
    registry's default analysis]. The classes, feature set and model names come from the
    definition's classifier. With the defaults this reproduces the models shipped with
    liberica.
    """
    from liberica import api

    with _one_line_errors():
        names = [classifier_name]
        if classifier_name is None:
            from liberica.core import registry

            definition = api.load_definition(analysis or registry.DEFAULT_ANALYSIS)
            names = list(definition.classifiers) or [None]
    settings = {} if max_epochs is None else {"max_epochs": max_epochs}
    for name in names:
        with _one_line_errors(), _session().status(console, f"training {name}"):
            result = api.train(
                analysis,
                classifier=name,
                out=out_dir,
                features=features_path,
                cache=cache_dir or api.DEFAULT_CACHE,
                all_backgrounds=all_backgrounds,
                weighted=not unweighted,
                seed=seed,
                folds=folds,
                trials=trials,
                architecture=architecture,
                training_set=training_set,
                settings=settings,
            )
        report.training(console, result)
