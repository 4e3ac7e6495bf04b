"""The anomaly-search stage of the API: anomaly regions of a score and their bump hunt."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

from liberica.api.processing import Analysis, load_definition, load_run

if TYPE_CHECKING:
    from liberica.fits.bumphunt import BumpHuntResult
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

    if not hasattr(run, "histograms"):
        run = load_run(run)
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
