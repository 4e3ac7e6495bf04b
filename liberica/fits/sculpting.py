"""How a selection sculpts a background spectrum: its shape against a reference's.

A classifier that (nearly) rebuilds the fitted observable from its inputs can
make the background peak where the signal does, which no smooth background
function then describes. The measure compares the background's spectrum after
a selection with the same background before it (both normalized): the shift of
its mean, the ratio of its widths (standard deviations) and the
Kolmogorov-Smirnov distance of the binned CDFs. The spectra are compared over
the same bins: an optional range [low, high] (bin edges of both) restricts
regions of different ranges to their common part.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from liberica.core.definition import AnalysisDefinition, SculptingConfig
from liberica.core.errors import LibericaError
from liberica.fits.spectrum import Spectrum, SpectrumError
from liberica.processors.histograms import NOMINAL


class SculptingError(LibericaError, ValueError):
    """Regions or processes the sculpting measure cannot compare (the message names them)."""


def process_spectrum(h, processes: list[str]) -> Spectrum:
    """The nominal spectrum of ``processes`` summed (sum w and sum w^2 per bin, no flow)."""
    known = list(h.axes["process"])
    missing = [p for p in processes if p not in known]
    if missing:
        raise SculptingError(f"the run's histograms have no process {missing} (known: {known})")
    values = np.zeros(h.axes[0].size)
    variances = np.zeros(h.axes[0].size)
    for process in processes:
        one = h[:, process, NOMINAL]
        values += one.values()
        variance = one.variances()
        variances += one.values() if variance is None else variance
    return Spectrum.of(h.axes[0].edges, values, variances)


def _moments(spectrum: Spectrum) -> tuple[float, float, np.ndarray]:
    """Mean, standard deviation and normalized CDF (at the upper edges) of a spectrum,
    its bins of negative sum w counted as empty."""
    centres = 0.5 * (spectrum.edges[1:] + spectrum.edges[:-1])
    weights = np.clip(spectrum.values, 0.0, None)
    total = weights.sum()
    if not total > 0:
        raise SculptingError("an empty (or negative) background spectrum has no shape")
    mean = float(np.sum(weights * centres) / total)
    std = float(np.sqrt(np.sum(weights * (centres - mean) ** 2) / total))
    return mean, std, np.cumsum(weights) / total


def sculpting(reference: Spectrum, selected: Spectrum) -> dict[str, Any]:
    """How a selection changes a (background) spectrum's shape, both normalized.

    A bin whose sum of weights is negative (negative generator weights) counts as
    empty: a shape is a distribution. ``negative_bins`` says how many there were.

    Returns:
        dict: ``mean_shift`` (GeV), ``width_ratio`` and ``ks_distance`` (the largest
        difference of the binned CDFs); ``mean`` and ``width`` before and after;
        ``negative_bins`` before and after

    Raises:
        SculptingError: if the two spectra have different bins
    """
    same = reference.edges.shape == selected.edges.shape and np.allclose(
        reference.edges, selected.edges, rtol=1e-9, atol=0
    )
    if not same:
        raise SculptingError(
            f"different bins: {len(reference.values)} bins {reference.edges[0]:g}-"
            f"{reference.edges[-1]:g} GeV against {len(selected.values)} bins "
            f"{selected.edges[0]:g}-{selected.edges[-1]:g} GeV (set a common range)"
        )
    mean_0, std_0, cdf_0 = _moments(reference)
    mean_1, std_1, cdf_1 = _moments(selected)
    return {
        "mean_shift": mean_1 - mean_0,
        "width_ratio": std_1 / std_0,
        "ks_distance": float(np.max(np.abs(cdf_1 - cdf_0))),
        "mean": [mean_0, mean_1],
        "width": [std_0, std_1],
        "negative_bins": [int(np.sum(reference.values < 0)), int(np.sum(selected.values < 0))],
    }


def _restricted(h, processes: list[str], region: str, value_range) -> Spectrum:
    """The processes' spectrum of a region's histogram, within ``value_range`` if given."""
    spectrum = process_spectrum(h, processes)
    if value_range is None:
        return spectrum
    try:
        return spectrum.within(*value_range)
    except SpectrumError as err:
        raise SculptingError(f"region {region}: {err}") from None


def measure(
    histograms: dict, definition: AnalysisDefinition, config: SculptingConfig
) -> tuple[dict[str, Any], dict[str, Spectrum]]:
    """The sculpting of each of ``config``'s selections against its reference.

    Returns:
        the results (``processes``, ``reference``, ``range`` and per selection
        its region, classifier and measure) and the spectra drawn (the
        reference under ``config.reference``, each selection under its name)

    Raises:
        SculptingError: for a region missing from the run or bins that differ
    """
    processes = list(config.processes) or [
        p.name for p in definition.processes.values() if p.kind == "background"
    ]
    missing = [r for r in (config.reference, *config.selections.values()) if r not in histograms]
    if missing:
        raise SculptingError(f"the run has no histograms of region(s) {missing}")
    reference = _restricted(histograms[config.reference], processes, config.reference, config.range)
    spectra = {config.reference: reference}
    results: dict[str, Any] = {
        "processes": processes,
        "reference": config.reference,
        "range": list(config.range) if config.range else None,
        "selections": {},
    }
    for name, region in config.selections.items():
        spectra[name] = _restricted(histograms[region], processes, region, config.range)
        try:
            measured = sculpting(reference, spectra[name])
        except SculptingError as err:
            raise SculptingError(f"{region} against {config.reference}: {err}") from None
        results["selections"][name] = {
            "region": region,
            "classifier": definition.regions[region].classifier,
            **measured,
            "pass_fraction": _pass_fraction(reference, spectra[name]),
        }
    return results, spectra


def _pass_fraction(reference: Spectrum, selected: Spectrum) -> list[float | None]:
    """Per bin, the fraction of the reference's background the selection keeps."""
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.clip(selected.values, 0.0, None) / np.clip(reference.values, 0.0, None)
    return [float(f) if np.isfinite(f) else None for f in fraction]
