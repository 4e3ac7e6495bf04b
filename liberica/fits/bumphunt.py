"""The bump hunt of an anomaly search: anomaly regions of a score, each region's spectrum hunted
with the look-elsewhere effect (``liberica bumphunt``).

From a processed run's 2-D region (hunted observable x anomaly score, the
definition's ``bumphunt.scan``): the anomaly regions at fixed background-MC
efficiency (:mod:`liberica.fits.anomaly_regions`); in each, the observable's
spectrum in ``hunt_range`` against the background prediction: the background
MC (scaled to the region's data where ``normalize_mc``, so that its shape is
hunted), or a smooth fit of the region's data (``background: fit``), refitted
in every pseudo-experiment. Three answers (:mod:`liberica.fits.lee`):

- BumpHunter in each region, and the hunt over all regions together (the
  largest statistic of all, ranked against joint background-only
  pseudo-experiments drawn nested as the regions are): the global
  significance of the most significant excess and its trial factor;
- the Gross-Vitells estimate of a fixed-width likelihood-ratio scan in each
  region, which reaches global significances that pseudo-experiments cannot.

Everything is seeded; the process's global random state is left as it was.
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any, NamedTuple

import numpy as np

from liberica.core.definition import AnalysisDefinition, BumpHuntConfig
from liberica.core.errors import LibericaError
from liberica.fits import lee
from liberica.fits.anomaly_regions import AnomalyRegion, anomaly_regions
from liberica.fits.sculpting import sculpting as measure_sculpting
from liberica.fits.spectrum import Spectrum

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""Of ``bumphunt/results.json``."""

MAX_MC_UNCERTAINTY = 0.2
"""Above this relative MC statistical uncertainty in the best window, the hunt warns."""


class BumpHuntError(LibericaError, ValueError):
    """A run or a definition that cannot be bump-hunted (the message says why)."""


class BumpHuntResult(NamedTuple):
    """What ``liberica bumphunt`` found.

    Attributes:
        config: the definition's ``bumphunt`` block as used
        observable: the hunted observable's label
        regions: the anomaly regions (loosest first), their spectra cut to the hunted range
        hunt: BumpHunter in each region and over all regions together
        gross_vitells: per region, the fixed-width likelihood-ratio scan's estimate
        seed: the seed of every pseudo-experiment
        warnings: what a reader of the numbers should know (e.g. floored MC bins)
        window_mc_uncertainty: per region, the background MC's relative statistical
            uncertainty in its most significant window (the hunt does not include it)
        sculpting: per region, how its score cut changes the background MC's spectrum
            of the hunted observable (``fits/sculpting.py``: mean shift, width ratio,
            KS distance against every selected background event)
    """

    config: BumpHuntConfig
    observable: str
    regions: list[AnomalyRegion]
    hunt: lee.RegionsHunt
    gross_vitells: dict[str, lee.GrossVitells]
    seed: int
    warnings: tuple[str, ...] = ()
    sculpting: dict[str, dict[str, Any]] = {}
    window_mc_uncertainty: dict[str, float | None] = {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per region the window, local and global p-values and significances,
        pseudo-experiments and trial factor; the Gross-Vitells scans; the hunt over all regions."""
        regions = {}
        for region in self.regions:
            hunt = self.hunt.regions[region.name].to_dict()
            regions[region.name] = {
                **region.to_dict(),
                "window": hunt["window"],
                "local_significance": hunt["local_significance"],
                "local_p_value": hunt["local_p"],
                "global_significance": hunt["global_significance"],
                "global_p_value": hunt["global_p"],
                "global_is_bound": hunt["global_bound"],
                "n_pseudo_experiments": hunt["pseudo_experiments"],
                "trial_factor": hunt["trial_factor"],
                "bumphunter": hunt,
                "gross_vitells": self.gross_vitells[region.name].to_dict(),
                "window_background_mc_relative_uncertainty": self.window_mc_uncertainty.get(
                    region.name
                ),
                "sculpting": self.sculpting.get(region.name),
            }
        overall = self.hunt.to_dict()
        overall.pop("regions")
        return {
            "schema_version": SCHEMA_VERSION,
            "scan": self.config.scan,
            "observable": self.observable,
            "background": self.config.background,
            "background_shape": self.config.background_shape
            if self.config.background == "fit"
            else None,
            "normalize_mc": self.config.normalize_mc,
            "hunt_range": list(self.config.hunt_range) if self.config.hunt_range else None,
            "seed": self.seed,
            "efficiency_denominator": "the selected background MC with the hunted observable "
            "in the scan's range (its flow bins excluded)",
            "regions": regions,
            "all_regions": overall,
            "warnings": list(self.warnings),
        }


def _cut(region: AnomalyRegion, hunt_range: tuple[float, float] | None) -> AnomalyRegion:
    """The region's spectra in ``hunt_range`` (whose ends must be bin edges)."""
    if hunt_range is None:
        return region
    index = []
    for end in hunt_range:
        close = np.flatnonzero(np.isclose(region.edges, end, rtol=1e-9, atol=0))
        if len(close) != 1:
            raise BumpHuntError(
                f"bumphunt.hunt_range end {end:g} is not a bin edge of the scan's observable "
                f"({region.edges[0]:g}-{region.edges[-1]:g} in {len(region.edges) - 1} bins)"
            )
        index.append(int(close[0]))
    first, last = index
    bins = slice(first, last)
    return region._replace(
        edges=region.edges[first : last + 1],
        data=region.data[bins],
        background=region.background[bins],
        background_variance=region.background_variance[bins],
        signals={k: v[bins] for k, v in region.signals.items()},
    )


def _mc_background(region: AnomalyRegion) -> tuple[np.ndarray, list[int], float]:
    """The region's background MC, bins <= 0 floored at one effective MC event's weight
    (sum w^2 / sum w of the region); the floored bins and the floor."""
    background = region.background.astype(float)
    floored = [int(k) for k in np.flatnonzero(~(background > 0))]
    total = float(background[background > 0].sum())
    floor = float(region.background_variance.sum()) / total if total > 0 else 1.0
    background[floored] = floor
    return background, floored, floor


def _normalized(shape: np.ndarray):
    """``refit(counts)``: ``shape`` scaled to the counts' total (the MC's shape, free normalization)."""

    def refit(counts: np.ndarray) -> np.ndarray:
        return shape * (float(np.sum(counts)) / float(shape.sum()))

    return refit


def _null_hypothesis(config: BumpHuntConfig, edges, data: dict, background: dict, loosest: str):
    """The hunt's ``refit`` and ``generate``: a fitted background refitted everywhere; or the MC's
    shape normalized to each spectrum (data and every pseudo-experiment alike), the
    pseudo-experiments drawn from the nested MC scaled by the loosest region's data/MC ratio;
    or the MC as it is."""
    if config.background == "fit":
        return _refit(edges, config.background_shape), None
    if not config.normalize_mc:
        return None, None
    scale = float(np.sum(data[loosest])) / float(background[loosest].sum())
    refit = {name: _normalized(shape) for name, shape in background.items()}
    return refit, {name: shape * scale for name, shape in background.items()}


def _inclusive_background(h, backgrounds: list[str], config: BumpHuntConfig) -> Spectrum:
    """The background MC's spectrum of every selected event (all scores), in the hunted range."""
    values = variances = 0.0
    for process in backgrounds:
        view = h[..., process, "nominal"].view(flow=True)
        values = values + view["value"][1:-1, :].sum(axis=1)
        variances = variances + view["variance"][1:-1, :].sum(axis=1)
    edges = np.asarray(h.axes[0].edges, dtype=float)
    whole = AnomalyRegion("all", 1.0, 1.0, -np.inf, edges, values * 0, values, variances, {}, {})
    cut = _cut(whole, config.hunt_range)
    return Spectrum.of(cut.edges, cut.background, cut.background_variance)


def _refit(edges: np.ndarray, shape: str):
    """``refit(counts) -> background``: a binned Poisson fit of ``shape`` to the counts."""
    from liberica.fits.spectrum import fit_background

    def refit(counts: np.ndarray) -> np.ndarray:
        return fit_background(Spectrum.of(edges, counts), shape, "poisson").expected

    return refit


def run_bumphunt(
    histograms: dict[str, Any],
    definition: AnalysisDefinition,
    *,
    seed: int = 42,
    pseudo_experiments: int | None = None,
    gross_vitells_pseudo_experiments: int | None = None,
) -> BumpHuntResult:
    """Anomaly regions and their bump hunt, from a processed run's histograms.

    Args:
        histograms: the run's weighted histograms by region
        definition: the analysis (its ``bumphunt`` block)
        seed: the seed of every pseudo-experiment
        pseudo_experiments: override the definition's number of BumpHunter
            pseudo-experiments
        gross_vitells_pseudo_experiments: override the definition's number of scans
            counting upcrossings

    Raises:
        BumpHuntError: for a definition without a ``bumphunt`` block, a run without the
            scan region, or a hunt range off the bin edges
    """
    config = definition.bumphunt
    if config is None:
        raise BumpHuntError(f"{definition.source}: the definition has no bumphunt block")
    if config.scan not in histograms:
        raise BumpHuntError(
            f"the run has no histogram of region {config.scan!r} (bumphunt.scan): process "
            f"it with the definition's classifiers"
        )
    backgrounds = [n for n, p in definition.processes.items() if p.kind == "background"]
    signals = [n for n, p in definition.processes.items() if p.kind == "signal"]
    regions = [
        _cut(r, config.hunt_range)
        for r in anomaly_regions(histograms[config.scan], backgrounds, signals, config.efficiencies)
    ]
    edges = regions[0].edges
    data = {r.name: r.data for r in regions}
    background, warnings, mc_uncertainty = {}, [], {}
    for r in regions:
        background[r.name], floored, floor = _mc_background(r)
        if floored and config.background == "mc":
            warnings.append(
                f"{r.name}: the background MC is <= 0 in {len(floored)} bin(s) {floored} "
                f"(negative weights or no MC event); those bins are set to one effective MC "
                f"event's weight ({floor:.3g}): consider background: fit or coarser bins"
            )
            log.warning("bump hunt: %s", warnings[-1])
    refit, generate = _null_hypothesis(config, edges, data, background, regions[0].name)
    n_pseudo = pseudo_experiments or config.pseudo_experiments
    widths = lee.Widths(config.min_width, config.max_width)
    log.info(
        "bump hunt of %s in %d regions, %d pseudo-experiments (%s background)",
        config.scan,
        len(regions),
        n_pseudo,
        config.background,
    )
    hunt = lee.hunt_regions(
        data,
        background,
        edges,
        nested=True,
        widths=widths,
        pseudo_experiments=n_pseudo,
        seed=seed,
        refit=refit,
        generate=generate,
    )
    for r in regions:
        window = hunt.regions[r.name].window
        inside = slice(window.first, window.stop)
        total = float(r.background[inside].sum())
        relative = (
            float(np.sqrt(r.background_variance[inside].sum()) / total) if total > 0 else None
        )
        mc_uncertainty[r.name] = relative
        if config.background == "mc" and (relative is None or relative > MAX_MC_UNCERTAINTY):
            warnings.append(
                f"{r.name}: the background MC in the window {window.low:.0f}-{window.high:.0f} "
                f"has a statistical uncertainty of "
                f"{'100' if relative is None else f'{100 * relative:.0f}'}%, which the hunt "
                f"does not include: its local significance is overstated"
            )
            log.warning("bump hunt: %s", warnings[-1])
    gross_vitells = {
        r.name: lee.gross_vitells(
            data[r.name],
            background[r.name],
            edges,
            width=config.gross_vitells_width,
            pseudo_experiments=gross_vitells_pseudo_experiments
            or config.gross_vitells_pseudo_experiments,
            level=config.gross_vitells_level,
            seed=seed + 1 + k,
            refit=refit[r.name] if isinstance(refit, dict) else refit,
        )
        for k, r in enumerate(regions)
    }
    observable = definition.observables[definition.regions[config.scan].observable].label
    reference = _inclusive_background(histograms[config.scan], backgrounds, config)
    sculpting = {
        r.name: measure_sculpting(
            reference, Spectrum.of(r.edges, r.background, r.background_variance)
        )
        for r in regions
    }
    return BumpHuntResult(
        config,
        observable,
        regions,
        hunt,
        gross_vitells,
        seed,
        tuple(warnings),
        sculpting,
        mc_uncertainty,
    )


def write_bumphunt(
    result: BumpHuntResult, folder: pathlib.Path, *, figures: bool = True
) -> pathlib.Path:
    """``folder/results.json`` and, with ``figures``, ``folder/figures/`` (per region the
    spectrum with the window, the local p-value scan and the null distribution)."""
    from liberica.fits import lee_plots

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    if figures:
        label = {
            "fit": f"background ({result.config.background_shape} fit)",
            "mc": "background MC" + (", normalized" if result.config.normalize_mc else ""),
        }[result.config.background]
        lee_plots.draw(result.hunt, folder / "figures", result.observable, label)
    return path
