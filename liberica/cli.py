"""The ``liberica`` command line: generate, process, run."""

from __future__ import annotations

import logging
import pathlib
import sys

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from liberica import __version__

log = logging.getLogger(__name__)
console = Console()

DEFAULT_CACHE = pathlib.Path("liberica-data")


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        force=True,
    )
    for noisy in ("numba", "matplotlib", "distributed", "asyncio", "fsspec"):
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


@main.command()
@click.argument("analysis", type=click.Choice(["hzz4l"]))
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
    default=2_000_000,
    show_default=True,
    help="Total MC events over all MC samples.",
)
@click.option(
    "--lumi",
    "lumi_fb",
    type=click.FloatRange(min=0, min_open=True),
    default=140.0,
    show_default=True,
    help="Integrated luminosity of the pseudo-data, fb^-1.",
)
@click.option(
    "--mu-inject",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Signal strength injected into the pseudo-data.",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
def generate(
    analysis: str, out_dir: pathlib.Path, events: int, lumi_fb: float, mu_inject: float, seed: int
) -> None:
    """Generate the embedded sample of ANALYSIS in the ATLAS open-data format."""
    from liberica.samples import generate_hzz4l

    sample = generate_hzz4l(out_dir, events=events, lumi_fb=lumi_fb, mu_inject=mu_inject, seed=seed)
    table = Table(title=f"Generated {analysis} sample in {out_dir}")
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
            type=click.Choice(["iterative", "futures"]),
            default="futures",
            show_default=True,
            help="Where chunks run.",
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
            help="Events per chunk [default: 200000].",
        ),
        click.option("--no-systematics", is_flag=True, help="Nominal only."),
        click.option(
            "--lumi",
            "lumi_fb",
            type=float,
            default=None,
            help="Luminosity (fb^-1) for MC; default from the fileset's data metadata.",
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
    analysis: str,
    fileset_path: pathlib.Path,
    out_dir: pathlib.Path,
    executor: str,
    workers: int,
    chunksize: int | None,
    no_systematics: bool,
    lumi_fb: float | None,
) -> None:
    """Process a fileset with ANALYSIS (a shipped name or a YAML file) into histograms."""
    result = _run_processing(
        analysis, fileset_path, out_dir, executor, workers, chunksize, no_systematics, lumi_fb
    )
    _print_summary(result)


def _run_processing(
    analysis, fileset_path, out_dir, executor, workers, chunksize, no_systematics, lumi_fb
):
    from liberica.analysis.definition import AnalysisDefinitionError
    from liberica.analysis.fileset import FilesetError
    from liberica.analysis.pipeline import DEFAULT_CHUNKSIZE, run_processor

    try:
        return run_processor(
            analysis,
            fileset_path,
            executor=executor,
            workers=workers,
            chunksize=chunksize or DEFAULT_CHUNKSIZE,
            systematics=not no_systematics,
            lumi_fb=lumi_fb,
            output_dir=out_dir,
        )
    except (AnalysisDefinitionError, FilesetError, FileNotFoundError) as err:
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
    if result.output_dir is not None:
        console.print(f"outputs in {result.output_dir}")


@main.command()
@click.argument("analysis", default="hzz4l", type=click.Choice(["hzz4l"]))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=pathlib.Path),
    default=None,
    help="Output folder [default: runs/ANALYSIS].",
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
    default=2_000_000,
    show_default=True,
    help="Total MC events of the embedded sample.",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--no-fit", is_flag=True, help="Process only; skip the mu fit.")
@_process_options
def run(
    analysis: str,
    out_dir: pathlib.Path | None,
    cache_dir: pathlib.Path,
    events: int,
    seed: int,
    no_fit: bool,
    executor: str,
    workers: int,
    chunksize: int | None,
    no_systematics: bool,
    lumi_fb: float | None,
) -> None:
    """Generate (once) the embedded sample, process it, fit mu and summarize."""
    from liberica.samples import cached_hzz4l

    sample = cached_hzz4l(cache_dir / f"{analysis}-{events}-seed{seed}", events=events, seed=seed)
    result = _run_processing(
        analysis,
        sample.fileset_path,
        out_dir or pathlib.Path("runs") / analysis,
        executor,
        workers,
        chunksize,
        no_systematics,
        lumi_fb,
    )
    _print_summary(result)
    if no_fit:
        return
    if no_systematics:
        log.info("no fit: the fit model needs the systematic variations")
        return
    _fit_and_print(result.output_dir, analysis, None, asimov=False)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
@click.option(
    "--analysis",
    default="hzz4l",
    show_default=True,
    help="Analysis definition the run was made with (name or YAML).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, path_type=pathlib.Path),
    default=None,
    help="A cabinetry config to use instead of the generated one.",
)
@click.option("--asimov", is_flag=True, help="Fit the Asimov data set (mu = 1) instead of data.")
def fit(
    run_dir: pathlib.Path, analysis: str, config_path: pathlib.Path | None, asimov: bool
) -> None:
    """Fit the signal strength mu to the histograms of RUN_DIR."""
    _fit_and_print(run_dir, analysis, config_path, asimov)


def _fit_and_print(
    run_dir: pathlib.Path, analysis: str, config_path: pathlib.Path | None, asimov: bool
) -> None:
    from liberica.analysis.definition import load
    from liberica.fits.config import build_config, read_config, write_config
    from liberica.fits.measurement import fit_run

    if config_path is None:
        config = build_config(load(analysis), run_dir)
        write_config(config, run_dir / "fit" / "cabinetry.yaml")
    else:
        config = read_config(config_path)
    results = fit_run(run_dir, config, asimov=asimov)
    table = Table(title=f"Signal strength, {run_dir}")
    for column in ("", "mu", "total", "stat"):
        table.add_column(column, justify="right")
    for label, key in (("observed" if not asimov else "Asimov", "mu"), ("expected", "expected")):
        m = results[key]
        table.add_row(
            label,
            f"{m['bestfit']:.3f}",
            f"+{m['up']:.3f} -{m['down']:.3f}",
            f"+{m['stat_up']:.3f} -{m['stat_down']:.3f}",
        )
    console.print(table)
    z = results["significance"]
    console.print(f"discovery significance: observed {z['observed']:.2f} sigma, "
                  f"expected {z['expected']:.2f} sigma")
    if "injected_mu" in results:
        console.print(f"injected mu = {results['injected_mu']}")


if __name__ == "__main__":
    main()
