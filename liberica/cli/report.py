"""What the command line prints: each stage's typed result as tables and lines."""

from __future__ import annotations

import math
import pathlib

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def generated(console: Console, sample, what: str) -> None:
    """The events written per sample, and the fileset."""
    table = Table(title=f"Generated {what} in {sample.fileset_path.parent}")
    table.add_column("sample")
    table.add_column("events", justify="right")
    for name, n in sample.samples.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    console.print(f"fileset: {sample.fileset_path}")


def processing(console: Console, result) -> None:
    """The yield table, the rates, and what was skipped, resumed or dropped."""
    from liberica.orchestration.summary import yield_table

    metrics = result.metrics
    console.print(yield_table(result))
    console.print(
        f"{metrics['events_processed']:,} events in {metrics['chunks']} chunks, "
        f"{metrics['processing_wall_s']:.1f} s with {metrics['executor']} x{metrics['workers']}: "
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
            f"classifier: {classifier['rows_scored']:,} MC rows scored on {providers}; "
            f"features + inference {100 * classifier['fraction_of_chunk_time']:.1f}% of chunk time"
        )
    if result.output_dir is not None:
        console.print(f"outputs in {result.output_dir}")


def fit(console: Console, out_dir: pathlib.Path, result) -> None:
    """The fit's numbers: mu, Z with p0, limits, goodness of fit, leading impacts."""
    table = Table(title="Signal strength")
    for column in ("", "mu", "total", "stat", "Z (sigma)", "p0", "95% CL limit"):
        table.add_column(column, justify="right")
    z, limit = result.significance, result.upper_limit
    rows = (
        ("Asimov" if result.asimov else "observed", result.mu, z.observed, z.observed_p0,
         limit.observed),
        ("expected", result.expected, z.expected, z.expected_p0, limit.expected[2]),
    )  # fmt: skip
    if result.blinded:
        rows = rows[1:]
    for label, m, significance, p0, upper in rows:
        table.add_row(
            label,
            f"{m.bestfit:.3f}",
            f"{m.up:+.3f} {m.down:+.3f}",
            f"{m.stat_up:+.3f} {m.stat_down:+.3f}",
            f"{significance:.2f}",
            f"{p0:.2e}",
            f"{upper:.3f}",
        )
    console.print(table)
    m = result.mu
    if result.blinded:
        console.print(
            f"blinded: the Asimov data set (mu = 1) was fitted, not the data (--unblind); "
            f"expected mu = {m.bestfit:.3f} {m.up:+.3f} {m.down:+.3f} "
            f"(stat {m.stat_up:+.3f} {m.stat_down:+.3f}), expected significance "
            f"{z.expected:.2f} sigma"
        )
    else:
        _observed_lines(console, result)
    if result.injected_mu is not None:
        console.print(f"injected mu = {result.injected_mu}")
    if result.ranking:
        ranking = Table(title="Leading impacts on mu (post-fit)")
        for column in ("parameter", "up", "down", "pre-fit up", "pre-fit down"):
            ranking.add_column(column, justify="right")
        for impact in result.ranking[:5]:
            ranking.add_row(
                result.label(impact.name),
                *(
                    f"{v:+.4f}"
                    for v in (
                        impact.impact_up,
                        impact.impact_down,
                        impact.prefit_impact_up,
                        impact.prefit_impact_down,
                    )
                ),
            )
        console.print(ranking)
    if result.grouped_impacts is not None:
        _grouped_impacts(console, result.grouped_impacts)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timing_s.items())
    console.print(f"fit steps: {timing}")
    if result.fits_with_retries:
        console.print(
            "fits that converged at a later attempt (fit_status in results.json): "
            + "; ".join(result.fits_with_retries)
        )
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    for region, groups in result.templates.get("merged", {}).items():
        console.print(
            f"{region}: merged {', '.join(g['range'] for g in groups)} (too little MC; "
            "fit.templates in the definition)"
        )
    for region in result.templates.get("kept", {}):
        console.print(f"{region}: the run's equal-population edges kept (binning.json)")
    console.print(f"fit outputs in {out_dir}")


def _grouped_impacts(console: Console, impacts) -> None:
    """Stat, each group, syst, the quadrature sum and the total, with its non-closure."""
    b = impacts.breakdown
    table = Table(title="Uncertainty of mu by group (grouped impacts)")
    for column in ("source", "parameters", "up", "down"):
        table.add_column(column, justify="right")
    rows = [("statistics", "", b.stat_up, b.stat_down)]
    rows += [(g.name, str(len(g.members)), g.up, g.down) for g in impacts.groups]
    rows += [
        ("syst (total - stat)", "", b.syst_up, b.syst_down),
        ("quadrature sum", "", impacts.quadrature_up, impacts.quadrature_down),
        ("total", "", b.total_up, b.total_down),
    ]
    for name, count, up, down in rows:
        table.add_row(name, count, f"{up:+.4f}", f"{down:+.4f}")
    console.print(table)
    console.print(
        f"quadrature sum against the total: {100 * impacts.non_closure_up:+.1f}% up, "
        f"{100 * impacts.non_closure_down:+.1f}% down (groups correlated post-fit)"
    )


def _observed_lines(console: Console, result) -> None:
    """mu and Z of the fitted data, and the goodness of fit (an unblinded fit only)."""
    m, z = result.mu, result.significance
    console.print(
        f"mu = {m.bestfit:.3f} {m.up:+.3f} {m.down:+.3f} "
        f"(stat {m.stat_up:+.3f} {m.stat_down:+.3f}); discovery significance: "
        f"observed {z.observed:.2f} sigma (p0 {z.observed_p0:.2e}), "
        f"expected {z.expected:.2f} sigma"
    )
    gof = result.goodness_of_fit
    console.print(
        f"goodness of fit (saturated model): p = {gof.p_value:.3f} "
        f"(-2 ln lambda = {gof.twice_delta_nll:.1f}, {gof.ndof} degrees of freedom)"
    )


def search(console: Console, found) -> None:
    """The search's selections compared, and the sculpting of the background spectrum."""
    from liberica.fits.search import sculpting_title, table_rows

    results = found.content
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
    for warning in found.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    console.print(f"search outputs in {found.folder}")


def bumphunt(console: Console, result, path: pathlib.Path) -> None:
    """Per anomaly region: its cut, the most significant window, local and global significance."""
    title = f"Bump hunt in {result.observable} ({result.config.background} background)"
    table = Table(title=title)
    columns = ("region", "bkg eff.", "data", "window", "local Z", "global Z", "trial factor")
    for column in (*columns, "Gross-Vitells global Z"):
        table.add_column(column, justify="left" if column == "region" else "right")
    for region in result.regions:
        hunt = result.hunt.regions[region.name]
        gv = result.gross_vitells[region.name]
        trial = f"{'< ' if hunt.global_bound else ''}{hunt.trial_factor:.3g}"
        table.add_row(
            region.name,
            f"{region.efficiency:.2%}",
            f"{region.data.sum():,.0f}",
            f"{hunt.window.low:.0f}-{hunt.window.high:.0f}",
            f"{hunt.local_significance:.2f}",
            hunt.global_label,
            trial,
            f"{gv.global_significance:.2f}",
        )
    console.print(table)
    overall = result.hunt
    console.print(
        f"most significant excess: {overall.best}, local Z {overall.local_significance:.2f}, "
        f"global Z {overall.global_label} over all regions "
        f"({overall.pseudo_experiments} pseudo-experiments)",
        soft_wrap=True,
    )
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    console.print(f"bump hunt outputs in {path.parent}")


def cwola(console: Console, result, path: pathlib.Path) -> None:
    """Per window: its signal region and each efficiency's local significance; the best
    excess with its global significance; the SIC peaks."""
    efficiencies = result.settings.efficiencies
    table = Table(title=f"CWoLa hunt ({result.settings.trainer}, {result.settings.folds} folds)")
    table.add_column("signal region [GeV]")
    table.add_column("SR events", justify="right")
    table.add_column("sideband events", justify="right")
    for efficiency in efficiencies:
        table.add_column(f"Z at {efficiency:.2%}", justify="right")
    for index, (hunt, events) in enumerate(zip(result.windows, result.events, strict=True)):
        low, high = hunt.window.signal_region
        mark = " *" if index == result.best else ""
        table.add_row(
            f"{low:.0f}-{high:.0f}{mark}",
            f"{events['signal_region']:,}",
            f"{events['sidebands']:,}",
            *(f"{z:+.2f}" if math.isfinite(z) else "not tested" for z in hunt.local_significances),
        )
    console.print(table)
    overall = result.global_result
    low, high = result.windows[overall.best_window].window.signal_region
    console.print(
        f"largest excess: {low:.0f}-{high:.0f} GeV at {overall.best_efficiency:.2%}, local Z "
        f"{overall.local_significance:.2f}, global Z {overall.global_label} "
        f"({overall.pseudo_experiments} pseudo-experiments)",
        soft_wrap=True,
    )
    for name, curve in result.sic.items():
        console.print(
            f"SIC {name}: peak {curve.peak_sic:.1f} at eps_S {curve.peak_eps_s:.3f} "
            f"(eps_B >= {curve.eps_b_floor:.2g})",
            soft_wrap=True,
        )
    if any(not math.isfinite(z) for hunt in result.windows for z in hunt.local_significances):
        console.print(
            "not tested: fewer than 10 selected events in a sideband, or the masked fit failed",
            soft_wrap=True,
        )
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    console.print(f"CWoLa outputs in {path.parent}")


def toys(console: Console, result, run_dir: pathlib.Path, folder: pathlib.Path) -> None:
    """Bias, pull width and coverage of mu per true mu."""
    ntoys, workers = result.settings["ntoys"], result.settings["workers"]
    sets, wall = result.sets, result.settings["wall_time_s"]
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


def training(console: Console, result) -> None:
    """Each fold's model: what it trained on and scores, its AUCs and ONNX-torch agreement."""
    if hasattr(result, "evaluation"):
        _multiclass_training(console, result)
        return
    out_dir = result.out
    if result.fit_observables_taken:
        taken = result.fit_observables_taken
        console.print(
            f"{result.classifier} takes {', '.join(sorted({v for v, _ in taken}))}, the "
            f"observable of region(s) {', '.join(r for _, r in taken)} it scores: its spec "
            "declares uses_fit_observable, and runs must pass --allow-fit-observable"
        )
    if result.kind == "autoencoder":
        _autoencoder_training(console, result)
        return
    signal, backgrounds, reports = result.signal, result.backgrounds, result.reports
    report_table = Table(title=f"{result.classifier} classifier, {signal} vs {backgrounds}")
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


def _multiclass_training(console: Console, result) -> None:
    """Each fold of a multiclass training, and its evaluation on the scoring selection."""
    table = Table(
        title=f"{result.classifier}: {result.architecture}, {result.training_set} training set"
    )
    for column in ("trained on", "scores", "epochs", "stopped by", "s/epoch", "max |ONNX-torch|"):
        table.add_column(column, justify="right")
    for r in result.reports:
        trained_on = [k for k in range(r.folds) if k != r.evaluates]
        table.add_row(
            f"eventNumber % {r.folds} in {trained_on}",
            f"== {r.evaluates}",
            str(r.epochs),
            r.stop_reason.replace("_", " "),
            f"{r.seconds_per_epoch:.1f}",
            f"{r.onnx_max_abs_diff:.1e}",
        )
    console.print(table)
    evaluation = result.evaluation
    aucs = ", ".join(f"{name} {curve.auc:.3f}" for name, curve in evaluation.roc.items())
    significance = evaluation.significance
    console.print(f"one-against-rest AUC on {result.n_evaluated} scoring-selection events: {aucs}")
    console.print(
        f"p({result.classes[0]}) in {len(significance['edges']) - 1} bins of equal background: "
        f"s/sqrt(b) = {significance['s_over_sqrt_b']:.3f}, "
        f"Asimov Z = {significance['asimov_z']:.3f}"
    )
    if evaluation.importance is not None:
        top = ", ".join(evaluation.importance.names[:5])
        console.print(f"most important features (permutation): {top}")
    console.print(f"models, evaluation.json, training.json and figures in {result.out}")


def _autoencoder_training(console: Console, result) -> None:
    """Each fold's autoencoder, and the AUC of the reconstruction error per signal."""
    table = Table(title=f"{result.classifier} autoencoder, trained on {result.backgrounds}")
    for column in ("trained on", "scores", "epochs", "best validation loss", "max |ONNX-torch|"):
        table.add_column(column, justify="right")
    for r in result.reports:
        trained_on = [k for k in range(r.folds) if k != r.evaluates]
        table.add_row(
            f"eventNumber % {r.folds} in {trained_on}",
            f"== {r.evaluates}",
            str(r.epochs),
            f"{r.best_validation_loss:.4g}",
            f"{r.onnx_max_abs_diff:.1e}",
        )
    console.print(table)
    auc = Table(title="weighted AUC of the reconstruction error (signal against background)")
    auc.add_column("signal")
    auc.add_column("AUC", justify="right")
    for name, value in result.auc.items():
        auc.add_row(name, f"{value:.3f}")
    console.print(auc)
    if result.ignored:
        console.print(f"ignored (flagged by the data/MC check): {', '.join(result.ignored)}")
    tuning = f"; tuning record {result.tuning}" if result.tuning else ""
    console.print(
        f"models: {', '.join(str(r.path) for r in result.reports)}; plots in {result.out}{tuning}"
    )
