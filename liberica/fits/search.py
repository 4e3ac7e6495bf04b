"""The resonance search: a definition's selections compared on one spectrum.

For each selection of the definition's ``search`` block (e.g. ``cut_based`` and
``classifier``), on the spectrum of its region:

1. **Fixed on MC first.** The signal shape from a signal-only fit of the signal
   MC; the mass window, its peak +- ``window_sigma`` sigma, snapped to whole
   bins; the background function, fitted to the background MC (its chi2/ndf is
   reported). The cuts and the score threshold are the definition's. No
   observed number enters any of these.
2. **Figures of merit** in the window: S, B, S/sqrt(B), S/sqrt(S+B+dB^2),
   the Asimov Z with sigma_b = dB, and Punzi's (eps_S relative to the
   generated signal, the signal samples' weighted ``all_events``).
3. **Wilks' Z** from the spectrum fits (``fits/spectrum.py``): the MC
   signal-plus-background spectrum with Cowan's weighted chi2 (its chi2/ndf
   under H0 and H1; its Z counts the MC's own statistics, ``wilks_z_mc_statistics``);
   expected on the Asimov data set (the background function fitted to the
   background MC plus the signal MC's yield in its fitted shape; the MC itself
   where the function does not describe it), observed on the (pseudo-)data,
   both with the Poisson likelihood. Doubtful fits (no valid minimum, a
   parameter at its limit, H1 above H0) are listed in ``warnings``.
4. **The profile-likelihood Z and mu** with systematics: the cabinetry/pyhf
   fit of the selection's region alone (``fits/run.py``), expected (Asimov) and
   observed.

And the **sculpting** of the background spectrum by each selection, against the
preselection, both normalized: the shift of its mean, the ratio of its widths
and the Kolmogorov-Smirnov distance of the binned CDFs.
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any

import numpy as np

from liberica.core.definition import AnalysisDefinition, SculptingConfig, SearchConfig
from liberica.core.errors import LibericaError
from liberica.fits import merit
from liberica.fits import sculpting as sculpting_measure
from liberica.fits.spectrum import (
    SearchFit,
    Spectrum,
    fit_background,
    fit_search,
    fit_signal,
)
from liberica.processors.histograms import DATA_PROCESS, NOMINAL

log = logging.getLogger(__name__)


SIGNAL_CORE = 2.5
"""The signal shape is fitted to the bins within +- 2.5 sigma of the peak (its core)."""

BACKGROUND_FIT_P_MIN = 0.01
"""Below this p-value the background function does not describe the background MC:
the selection's Wilks Z is then flagged, not a significance."""


#: bumped when a key of search/results.json changes name, sign or meaning
#: (2: ``mu.down`` signed, p0 beside the profile-likelihood Z)
SEARCH_SCHEMA_VERSION = 2


class SearchError(LibericaError, ValueError):
    """A run or definition the search cannot use (the message names what is missing)."""


def _spectrum(h, processes: list[str]) -> Spectrum:
    """The nominal spectrum of ``processes`` summed (sum w and sum w^2 per bin, no flow)."""
    try:
        return sculpting_measure.process_spectrum(h, processes)
    except sculpting_measure.SculptingError as err:
        raise SearchError(str(err)) from None


def _data(h) -> Spectrum:
    counts = h[:, DATA_PROCESS, NOMINAL].values()
    return Spectrum.of(h.axes[0].edges, counts, counts)


def _generated_signal(samples: dict, cutflow: dict, signal: str, region: str) -> float:
    """The signal's weighted yield before any cut (the cutflow's ``all_events``)."""
    total = 0.0
    for sample, about in samples.items():
        if about["process"] == signal and "variation" not in about and sample in cutflow:
            steps = cutflow[sample][region]
            total += next(iter(steps.values()))["weighted"]
    return total


def _fit_summary(fit: SearchFit) -> dict[str, Any]:
    return {
        "cost": fit.cost,
        "z": fit.z,
        "z_discovery": fit.z_discovery,
        "signal_yield": {"bestfit": fit.signal_yield, "error": fit.signal_yield_error},
        "bins": {"used": fit.h1.bins, "in_range": len(fit.h1.expected)},
        "h0": {"cost": fit.h0.cost, "ndf": fit.h0.ndf, "p_value": fit.h0.p_value},
        "h1": {"cost": fit.h1.cost, "ndf": fit.h1.ndf, "p_value": fit.h1.p_value},
        "valid": fit.h0.valid and fit.h1.valid,
    }


def _profile_likelihood(
    run_dir: pathlib.Path, metrics: dict, definition: AnalysisDefinition, name: str, region: str
) -> dict[str, Any]:
    """mu and Z with every systematic: the template fit of the selection's region alone."""
    from liberica.fits.binning import final_edges
    from liberica.fits.config import build_config
    from liberica.fits.measurement import build_workspace
    from liberica.fits.run import fit_workspace, observable_edges
    from liberica.fits.templates import TemplateRules

    one = definition._replace(fit_regions=(region,))
    config = build_config(one, run_dir, template_systematics=metrics.get("systematics", True))
    folder = run_dir / "search" / name
    final = final_edges(metrics.get("binning"))
    workspace, report = build_workspace(
        config,
        None,
        TemplateRules(**definition.fit_templates),
        observable_edges(definition, final),
        final_regions=tuple(final),
    )
    results = fit_workspace(
        workspace,
        folder,
        one,
        ranking=False,
        figures=False,
        template_report=report,
        lumi_fb=metrics.get("lumi_fb"),
        injected_mu=metrics.get("injected_mu"),
    )
    mu = results["mu"]
    return {
        "mu": {"bestfit": mu["bestfit"], "up": mu["up"], "down": mu["down"]},
        "significance": dict(results["significance"]),
    }


def _selection(
    h,
    definition: AnalysisDefinition,
    search: SearchConfig,
    generated: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One selection's figures (results.json) and its fits (for the plots)."""
    backgrounds = [p.name for p in definition.processes.values() if p.kind == "background"]
    signal, background = _spectrum(h, [search.signal]), _spectrum(h, backgrounds)
    data = _data(h)
    if search.fit_range is not None:
        signal, background, data = (s.within(*search.fit_range) for s in (signal, background, data))
    # 1. fixed on MC: the signal shape, the window, the background function
    warnings = []
    shape = fit_signal(signal, search.signal_shape, "chi2", core=SIGNAL_CORE)
    if not shape.fit.valid:
        warnings.append(f"the signal-only {search.signal_shape} fit found no valid minimum")
    try:
        window = merit.window_yields(
            signal.edges, signal.values, background.values, background.variances,
            shape.window(search.window_sigma),
        )  # fmt: skip
    except ValueError as err:
        raise SearchError(f"{err}: the signal peak is narrower than the bins") from None
    background_only = fit_background(background, search.background_shape, "chi2")
    described = background_only.p_value >= BACKGROUND_FIT_P_MIN
    # 2. figures of merit in the window
    efficiency = window.signal / generated if generated > 0 else float("nan")
    figures = merit.figures_of_merit(
        window.signal, window.background, search.background_uncertainty, efficiency,
        search.punzi_a,
    )  # fmt: skip
    # 3. Wilks: the MC signal + background spectrum fitted with the weighted chi2 (its
    # quality; a Z against the MC's own statistics), the Asimov data set of that
    # prediction with the Poisson likelihood (the expected Z), the data (observed)
    mc = Spectrum.of(
        signal.edges, signal.values + background.values, signal.variances + background.variances
    )
    mc_fit = fit_search(mc, shape, search.background_shape, "chi2")
    # the Asimov data set: the background fit to the MC (smooth) plus the signal MC's
    # yield in the fitted shape; where the function does not describe the background
    # MC, the MC itself (mismodelling and all), clipped at 0
    if described:
        prediction = background_only.expected + signal.values.sum() * shape.shape.integrals(
            shape.parameters, signal.edges
        )
    else:
        prediction = np.clip(mc.values, 0.0, None)
    asimov = Spectrum.of(mc.edges, prediction, prediction)
    expected = fit_search(asimov, shape, search.background_shape, "poisson")
    observed = fit_search(data, shape, search.background_shape, "poisson")
    for label, fit in (("MC chi2", mc_fit), ("expected", expected), ("observed", observed)):
        warnings += [f"{label} spectrum fit: {w}" for w in fit.warnings]
    entry = {
        "S": window.signal,
        "B": window.background,
        "B_mc_stat_error": float(np.sqrt(window.background_variance)),
        "window": [window.low, window.high],
        "signal_efficiency": efficiency,
        **figures,
        "chi2_ndf_h0": mc_fit.h0.chi2_ndf,
        "chi2_ndf_h1": mc_fit.h1.chi2_ndf,
        "background_fit_chi2_ndf": background_only.chi2_ndf,
        "background_fit_p_value": background_only.p_value,
        "signal_shape": {
            "shape": search.signal_shape,
            "mean": shape.mean,
            "sigma": shape.sigma,
            "chi2_ndf": shape.fit.chi2_ndf,
        },
        "signal_yield": {"bestfit": observed.signal_yield, "error": observed.signal_yield_error},
        "wilks_z": {"expected": expected.z_discovery, "observed": observed.z_discovery},
        "wilks_z_signed": {"expected": expected.z, "observed": observed.z},
        "wilks_z_mc_statistics": mc_fit.z_discovery,
        "asimov": "background fit + signal shape" if described else "MC (clipped at 0)",
        "fit_warnings": warnings,
        "spectrum_fits": {
            "mc_weighted_chi2": _fit_summary(mc_fit),
            "expected": _fit_summary(expected),
            "observed": _fit_summary(observed),
        },
    }
    fits = {
        "signal": signal, "background": background,
        "data": data, "mc": mc, "shape": shape,
        "expected": expected, "observed": observed, "window": window,
    }  # fmt: skip
    return entry, fits


def search_sculpting(definition: AnalysisDefinition) -> SculptingConfig | None:
    """The sculpting ``liberica search`` measures: the definition's ``sculpting`` block,
    else the search's selections against its preselection (every background, every bin)."""
    if definition.sculpting is not None:
        return definition.sculpting
    if definition.search is None:
        return None
    return SculptingConfig(definition.search.preselection, dict(definition.search.selections))


def run_search(
    run_dir: str | pathlib.Path,
    definition: AnalysisDefinition,
    histograms: dict[str, Any],
    metrics: dict[str, Any],
    *,
    profile_likelihood: bool = True,
    figures: bool = True,
) -> dict[str, Any]:
    """Compare the search's selections on a processed run; write ``RUNDIR/search/``.

    Writes ``results.json``, ``table.md`` and, with ``figures``, plots in
    ``figures/``. A definition with a ``sculpting`` block but no ``search``
    block gets the sculpting measure alone.

    Args:
        run_dir: the processed run (its histograms.root feeds the profile-likelihood
            fits; ``search/`` is written there)
        definition: the analysis, with a ``search`` or a ``sculpting`` block
        histograms: the run's weighted histograms by region
        metrics: the run's metrics (samples, luminosity, injected mu, systematics)
        profile_likelihood: also fit each selection's region with cabinetry/pyhf
        figures: draw the spectrum fits and the sculpting plot

    Raises:
        SearchError: if the definition has neither block or the run lacks a region
    """
    run_dir = pathlib.Path(run_dir)
    search, sculpting = definition.search, search_sculpting(definition)
    if sculpting is None:
        raise SearchError(f"definition {definition.name!r} has no search or sculpting block")
    needed = [sculpting.reference, *sculpting.selections.values()]
    if search is not None:
        needed += [search.preselection, *search.selections.values()]
    missing = sorted({r for r in needed if r not in histograms})
    if missing:
        raise SearchError(f"{run_dir} has no histograms of region(s) {missing}")
    out = run_dir / "search"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "schema_version": SEARCH_SCHEMA_VERSION,
        "definition": definition.name,
    }
    drawn: dict[str, Any] = {}
    if search is not None:
        results |= _search_selections(
            run_dir, histograms, metrics, definition, profile_likelihood, drawn
        )
    try:
        measured, spectra = sculpting_measure.measure(histograms, definition, sculpting)
    except sculpting_measure.SculptingError as err:
        raise SearchError(f"sculpting: {err}") from None
    results["sculpting_settings"] = {k: measured[k] for k in ("processes", "reference", "range")}
    results["sculpting"] = {
        key: {"selection": name, **measured["selections"][name]}
        for name, key in _sculpting_keys(measured["selections"]).items()
    }
    for key, entry in results["sculpting"].items():
        if any(entry["negative_bins"]):
            results.setdefault("warnings", []).append(
                f"sculpting {key}: {entry['negative_bins'][1]} bin(s) of the selected and "
                f"{entry['negative_bins'][0]} of the reference spectrum have a negative sum of "
                "weights, counted as empty"
            )
    _write_json(out / "results.json", results)
    (out / "table.md").write_text(markdown_table(results) + "\n")
    if figures:
        from liberica.fits import search_plots

        paths = search_plots.draw(drawn, definition, out / "figures")
        paths += search_plots.sculpting(spectra, sculpting, definition, out / "figures")
        results["figures"] = [str(p) for p in paths]
        _write_json(out / "results.json", results)
    return results


def _write_json(path: pathlib.Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n")


def _sculpting_keys(selections: dict[str, dict]) -> dict[str, str]:
    """Selection -> its key in results.json: its classifier, unless it has none, shares
    it, or the keys would collide; then every selection's own name."""
    classifiers = [entry["classifier"] for entry in selections.values()]
    keys = {
        name: entry["classifier"]
        if entry["classifier"] is not None and classifiers.count(entry["classifier"]) == 1
        else name
        for name, entry in selections.items()
    }
    if len(set(keys.values())) < len(keys):
        return {name: name for name in selections}
    return keys


def _search_selections(
    run_dir: pathlib.Path,
    histograms: dict,
    metrics: dict,
    definition: AnalysisDefinition,
    profile_likelihood: bool,
    drawn: dict[str, Any],
) -> dict[str, Any]:
    """The search's settings and its selections compared (``drawn`` gets their fits)."""
    search = definition.search
    cutflow = json.loads((run_dir / "cutflow.json").read_text())
    if "samples" not in metrics:
        raise SearchError(
            f"{run_dir / 'metrics.json'} lists no samples (a run from before `liberica search`): "
            "process the run again"
        )
    results: dict[str, Any] = {
        "signal": search.signal,
        "observable": definition.regions[search.preselection].observable,
        "fit_range": list(search.fit_range) if search.fit_range else None,
        "signal_shape": search.signal_shape,
        "background_shape": search.background_shape,
        "window_sigma": search.window_sigma,
        "background_uncertainty": search.background_uncertainty,
        "punzi_a": search.punzi_a,
        "fixed_on_mc": [
            "cuts and score thresholds (the definition)",
            "mass window (signal-only fit of the signal MC)",
            "background function (the definition; its fit to the background MC reported)",
        ],
        "systematics": _applied_systematics(metrics, definition, profile_likelihood),
        "selections": {},
        "warnings": [],
    }
    for name, region in search.selections.items():
        generated = _generated_signal(metrics["samples"], cutflow, search.signal, region)
        entry, fits = _selection(histograms[region], definition, search, generated)
        entry["region"] = region
        if profile_likelihood:
            fit_region = search.profile_likelihood_regions.get(name, region)
            fitted = _profile_likelihood(run_dir, metrics, definition, name, fit_region)
            entry["profile_likelihood_region"] = fit_region
            entry["mu"] = fitted["mu"]
            entry["profile_likelihood_z"] = fitted["significance"]
        results["selections"][name] = entry
        results["warnings"] += [f"{name}: {w}" for w in entry["fit_warnings"]]
        if not entry["background_fit_p_value"] >= BACKGROUND_FIT_P_MIN:
            results["warnings"].append(
                f"{name}: the {search.background_shape} function does not describe the "
                f"background MC (chi2/ndf = {entry['background_fit_chi2_ndf']:.2f}, "
                f"p = {entry['background_fit_p_value']:.2g}): its Wilks Z measures that "
                "mismodelling too, not only a signal"
            )
        drawn[name] = fits
    return results


def _applied_systematics(
    metrics: dict, definition: AnalysisDefinition, profile_likelihood: bool
) -> dict[str, Any]:
    """Which systematics each number includes (the template fit's: the run's record)."""
    from liberica.core.definition import applied_systematics

    samples = {name: {"metadata": about} for name, about in metrics["samples"].items()}
    applied = applied_systematics(definition, metrics.get("systematics", True), samples)
    return {
        "figures_of_merit": "background_uncertainty (delta_rel) only",
        "wilks_z": "none: Poisson statistics only (the MC chi2 uses sum w^2)",
        "profile_likelihood_z": (
            [n for names in applied.values() for n in names] + ["MC statistics"]
        )
        if profile_likelihood
        else "not computed",
    }


ROWS = (
    ("S", "S", "{:.1f}"),
    ("B", "B", "{:.1f}"),
    ("window [GeV]", "window", "{0[0]:.0f}-{0[1]:.0f}"),
    ("S/sqrt(B)", "s_over_sqrt_b", "{:.2f}"),
    ("S/sqrt(S+B+dB^2)", "s_over_sqrt_s_b_db2", "{:.2f}"),
    ("Asimov Z (sigma_b = dB)", "asimov_z", "{:.2f}"),
    ("Punzi (a = 5)", "punzi", "{:.2e}"),
    ("background fit chi2/ndf (MC)", "background_fit_chi2_ndf", "{:.2f}"),
    ("background fit p-value (MC)", "background_fit_p_value", "{:.2g}"),
    ("chi2/ndf H0 (MC)", "chi2_ndf_h0", "{:.2f}"),
    ("chi2/ndf H1 (MC)", "chi2_ndf_h1", "{:.2f}"),
    ("signal yield (data fit)", "signal_yield", "{0[bestfit]:.1f} +- {0[error]:.1f}"),
    ("Wilks Z expected", "wilks_z", "{0[expected]:.2f}"),
    ("Wilks Z observed", "wilks_z", "{0[observed]:.2f}"),
    ("profile-likelihood Z expected", "profile_likelihood_z", "{0[expected]:.2f}"),
    ("profile-likelihood Z observed", "profile_likelihood_z", "{0[observed]:.2f}"),
    ("mu", "mu", "{0[bestfit]:.3f} {0[up]:+.3f} {0[down]:+.3f}"),
)
"""The comparison table's rows: label, results.json key, format."""


def table_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The comparison table: the selection names, and one row of cells per quantity."""
    names = list(results["selections"])
    rows = []
    for label, key, form in ROWS:
        cells = []
        for name in names:
            value = results["selections"][name].get(key)
            cells.append("-" if value is None else form.format(value))
        rows.append([label, *cells])
    return names, rows


def markdown_table(results: dict[str, Any]) -> str:
    """``table.md``: the selections side by side (with a search), then the sculpting."""
    lines = []
    if "selections" in results:
        names, rows = table_rows(results)
        lines += [
            f"Search for {results['signal']} in {results['observable']}: " + " vs ".join(names),
            "",
            "| | " + " | ".join(names) + " |",
            "| --- |" + " ---: |" * len(names),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += [""]
    lines += [
        sculpting_title(results) + ":",
        "",
        "| selection | mean shift [GeV] | width ratio | KS distance |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, s in results["sculpting"].items():
        lines.append(
            f"| {key} ({s['region']}) | {s['mean_shift']:+.1f} | {s['width_ratio']:.3f} | "
            f"{s['ks_distance']:.3f} |"
        )
    warnings = results.get("warnings", [])
    lines += ([""] if warnings else []) + [f"Warning: {w}" for w in warnings]
    return "\n".join(lines)


def sculpting_title(results: dict[str, Any]) -> str:
    """What the sculpting table compares, in words."""
    settings = results["sculpting_settings"]
    where = ""
    if settings["range"]:
        where = f" in {settings['range'][0]:g}-{settings['range'][1]:g} GeV"
    return (
        f"Sculpting of the {', '.join(settings['processes'])} spectrum{where} against "
        f"{settings['reference']} (normalized)"
    )
