"""The anomaly-search stages of the API: anomaly regions of a score and their bump hunt;
CWoLa hunting in sliding mass windows."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from liberica.api.processing import Analysis, load_definition, load_run

if TYPE_CHECKING:
    from liberica.fits.bumphunt import BumpHuntResult
    from liberica.orchestration.cwola import CwolaResult
    from liberica.orchestration.pipeline import ProcessingResult


def bumphunt(
    run: ProcessingResult | str | pathlib.Path,
    analysis: Analysis | None = None,
    *,
    seed: int = 42,
    pseudo_experiments: int | None = None,
    gross_vitells_pseudo_experiments: int | None = None,
) -> BumpHuntResult:
    """Hunt the anomaly regions' spectra of a processed run, in memory.

    Args:
        run: a processing result, or a processed run's folder
        analysis: the definition [default: the run's, from its metrics]
        seed: the seed of every pseudo-experiment (the same seed, the same result)
        pseudo_experiments: BumpHunter's pseudo-experiments [default: the definition's]
        gross_vitells_pseudo_experiments: the scans counting upcrossings [default: the
            definition's]

    Raises:
        LibericaError: a definition without a ``bumphunt`` block, or a run without its
            scan region
    """
    from liberica.core import registry
    from liberica.fits.bumphunt import run_bumphunt
    from liberica.orchestration.blinding import refuse_blinded

    if not hasattr(run, "histograms"):
        run = load_run(run)
    refuse_blinded(run.metrics, "the bump hunt")
    name = analysis or run.metrics.get("definition") or registry.DEFAULT_ANALYSIS
    definition = load_definition(name)
    return run_bumphunt(
        run.histograms,
        definition,
        seed=seed,
        pseudo_experiments=pseudo_experiments,
        gross_vitells_pseudo_experiments=gross_vitells_pseudo_experiments,
    )


def write_bumphunt(
    result: BumpHuntResult, folder: str | pathlib.Path, *, figures: bool = True
) -> pathlib.Path:
    """Write ``folder/results.json`` and the figures; returns the results file."""
    from liberica.fits.bumphunt import write_bumphunt as write

    return write(result, pathlib.Path(folder), figures=figures)


def cwola(
    run: ProcessingResult | str | pathlib.Path,
    analysis: Analysis | None = None,
    *,
    seed: int = 42,
    noise_features: int = 0,
    trainer: str | None = None,
    members: int | None = None,
    folds: int | None = None,
    pseudo_experiments: int | None = None,
    references: bool = True,
    reference_trainers: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CwolaResult:
    """CWoLa hunting on a processed run's per-event table, in memory.

    Args:
        run: a processing result (with its table), or a processed run's folder (its
            ``features.parquet``)
        analysis: the definition [default: the run's, from its metrics]
        seed: the seed of the classifiers, noise columns and pseudo-experiments
        noise_features: standard-normal columns added to the classifier inputs
        trainer: ``trees`` or ``mlp`` [default: the definition's]
        members, folds, pseudo_experiments: override the definition's
        references: also the supervised and idealized references' SIC curves
        reference_trainers: the references' classifiers (``trees``, ``mlp``) [default:
            the definition's]
        progress: called with a line per step

    Raises:
        LibericaError: a definition without a ``cwola`` block, a run without its table
    """
    from liberica.core import registry
    from liberica.orchestration.cwola import CwolaError, run_hunt
    from liberica.orchestration.outputs import read_features

    if hasattr(run, "histograms"):
        table, metrics = run.features, run.metrics
        if table is None and run.output_dir is not None:
            table = read_features(pathlib.Path(run.output_dir) / "features.parquet")
    else:
        folder = pathlib.Path(run)
        metrics = load_run(folder).metrics
        path = folder / "features.parquet"
        if not path.is_file():
            raise CwolaError(
                f"{folder} has no features.parquet: process the run with a definition that "
                "has a cwola block"
            )
        table = read_features(path)
    if table is None:
        raise CwolaError("the run kept no per-event table: process it with a cwola block")
    from liberica.orchestration.blinding import refuse_blinded

    refuse_blinded(metrics, "the CWoLa hunt")
    name = analysis or metrics.get("definition") or registry.DEFAULT_ANALYSIS
    definition = load_definition(name)
    return run_hunt(
        table,
        definition,
        seed=seed,
        noise_features=noise_features,
        trainer=trainer,
        members=members,
        folds=folds,
        pseudo_experiments=pseudo_experiments,
        references=references,
        reference_trainers=reference_trainers,
        progress=progress,
    )


def write_cwola(
    result: CwolaResult, folder: str | pathlib.Path, *, figures: bool = True
) -> pathlib.Path:
    """Write ``folder/results.json`` and the figures; returns the results file."""
    from liberica.orchestration.cwola import write_cwola as write

    return write(result, pathlib.Path(folder), figures=figures)
