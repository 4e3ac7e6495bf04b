"""The processing stage: fileset -> coffea Runner -> histograms, cutflows, metrics."""

from __future__ import annotations

import datetime
import hashlib
import logging
import math
import pathlib
import time
import uuid
from collections.abc import Collection
from typing import Any, NamedTuple

import dask
import hist
import numpy as np
from coffea.processor.checkpointer import CheckpointerABC

import liberica
from liberica.core import definition as definition_module
from liberica.models.loading import load_classifiers
from liberica.orchestration import blinding as blinding_module
from liberica.orchestration import fileset as fileset_module
from liberica.orchestration import outputs
from liberica.orchestration.binning import BINNING_FILE, check_reuse, final_binning
from liberica.orchestration.checkpoints import RunCheckpointer
from liberica.orchestration.chunks import uproot_options, work_items
from liberica.orchestration.clusters import ClusterStartError, Profile, open_executor
from liberica.orchestration.runner import Runner
from liberica.processors.bad_input import ChunkReadError
from liberica.processors.formats import get as get_format
from liberica.processors.histograms import NOMINAL
from liberica.processors.histograms import book as book_histograms
from liberica.processors.weight_checks import WeightChecks
from liberica.processors.weight_checks import evaluate as evaluate_weights

log = logging.getLogger(__name__)

#: bumped when a key of metrics.json changes name or meaning (2: the times renamed for what
#: they measure, ``total_time_s``, ``provenance``)
METRICS_SCHEMA_VERSION = 2

DEFAULT_CHUNKSIZE = 500_000
"""Events per chunk: large enough to amortize coffea's per-chunk overhead."""


class ProcessingResult(NamedTuple):
    """What a processing run produced.

    Attributes:
        histograms: ``{region: Hist(observable, process, variation)}``, weighted
        counts: the same with raw event counts
        cutflow: ``{sample: {region: {step: {"raw", "weighted"}}}}``
        metrics: run metrics (see ``metrics.json``)
        output_dir: where the outputs were written, or None
        features: with ``dump_features``, the nominal features of selected MC events
            (structured array, sorted by channelNumber and eventNumber)
        weight_checks: the MC weight checks (``processors/weight_checks.py``; in
            metrics.json under ``weight_checks``), or None for a run read back
        feature_agreement: the data/MC check of the definition's features
            (``fits/agreement.py``; in metrics.json under ``feature_agreement``, figures
            in ``RUN/checks/``), or None
    """

    histograms: dict[str, hist.Hist]
    counts: dict[str, hist.Hist]
    cutflow: dict[str, Any]
    metrics: dict[str, Any]
    output_dir: pathlib.Path | None
    features: np.ndarray | None = None
    weight_checks: WeightChecks | None = None
    feature_agreement: Any = None


def _flow_report(histograms: dict[str, hist.Hist], counts: dict[str, hist.Hist]) -> dict:
    report = {}
    for region, h in counts.items():
        per_process = {}
        for process in h.axes["process"]:
            # the first observable's flow bins (summed over a 2-D region's second axis)
            raw = h[..., process, NOMINAL].values(flow=True)
            weighted = histograms[region][..., process, NOMINAL].values(flow=True)
            if raw.sum() == 0:
                continue
            per_process[process] = {
                "underflow_raw": int(raw[0].sum()),
                "overflow_raw": int(raw[-1].sum()),
                "underflow_weighted": float(weighted[0].sum()),
                "overflow_weighted": float(weighted[-1].sum()),
            }
        report[region] = per_process
    return report


def _peak_rss(pairs: set[tuple[int, int]]) -> dict[str, int]:
    """Largest peak RSS (MB) reported by each worker process over its chunks."""
    peaks: dict[str, int] = {}
    for pid, rss in pairs:
        peaks[str(pid)] = max(peaks.get(str(pid), 0), rss)
    return dict(sorted(peaks.items()))


def _gpu_routing(profile: Profile, opened, runs_inference: bool) -> dict[str, Any]:
    """dask annotations sending inference chunks to GPU workers when the profile requires it.

    Raises:
        ClusterStartError: if ``gpu: require`` but no worker declares a ``GPU`` resource
    """
    if profile.gpu != "require" or not runs_inference or opened.client is None:
        return {}
    workers = opened.client.scheduler_info()["workers"]
    with_gpu = [a for a, w in workers.items() if w.get("resources", {}).get("GPU", 0) > 0]
    if not with_gpu:
        raise ClusterStartError(
            f"profile '{profile.name}' has gpu: require, but none of the {len(workers)} workers "
            "declares a GPU resource (start them with `dask worker --resources GPU=1`)"
        )
    log.info(
        "gpu: require: inference chunks go to %d GPU worker(s) of %d", len(with_gpu), len(workers)
    )
    return {"resources": {"GPU": 1}}


def _bad_input(policy: str, report: dict, output: dict, processed: int) -> dict[str, Any]:
    """Skipped files and chunks, and the event accounting."""
    files = report.get("skipped_files", [])
    chunks = _bad_chunks(output)
    skipped = sum(c["events"] for c in chunks) + sum(f["events"] or 0 for f in files)
    in_fileset = report.get("events_in_files", 0) + sum(f["events"] or 0 for f in files)
    return {
        "policy": policy,
        "skipped_files": files,
        "skipped_chunks": chunks,
        "events_processed": processed,
        "events_skipped": skipped,
        "events_in_fileset": in_fileset,
        "files_with_unknown_events": [f["file"] for f in files if f["events"] is None],
        "accounting_closes": processed + skipped == in_fileset,
    }


def _bad_chunks(output: dict) -> list[dict[str, Any]]:
    """The chunks that were bad input (``analysis.runner``), by file and first entry."""
    return sorted(output.get("bad_chunks", {}).values(), key=lambda c: (c["file"], c["entrystart"]))


def _fail_on_bad_chunks(output: dict) -> None:
    """Under ``on_bad_file: fail``: one line naming the first bad chunk, and how many more."""
    chunks = _bad_chunks(output)
    if not chunks:
        return
    first = chunks[0]
    what = "bad input in" if first["kind"] == "format" else "cannot read"
    more = f" (and {len(chunks) - 1} more bad chunk(s))" if len(chunks) > 1 else ""
    raise ChunkReadError(
        f"{what} {first['file']} entries {first['entrystart']}-{first['entrystop']}: "
        f"{first['reason']}{more}"
    )


def _classifier_metrics(inference: dict, classifiers: dict, metrics: dict) -> dict[str, Any]:
    chunk_time = metrics["chunk_time_sum_s"]
    spent = inference["features_s"] + inference["inference_s"]
    return {
        "models": [c.name for models in classifiers.values() for c in models],
        "providers": {str(k): v for k, v in inference["providers"].items()},
        "sessions_per_process": {
            pid: v["sessions_created"] for pid, v in sorted(inference["per_process"].items())
        },
        "chunks_per_process": {
            pid: v["chunks"] for pid, v in sorted(inference["per_process"].items())
        },
        "rows_scored": int(inference.get("rows_scored", 0)),
        **(
            {"data_rows_scored": int(inference["data_rows_scored"])}
            if "data_rows_scored" in inference
            else {}
        ),
        "features_s": inference["features_s"],
        "inference_s": inference["inference_s"],
        "fraction_of_chunk_time": spent / chunk_time if chunk_time > 0 else float("nan"),
    }


def classifiers_of(
    definition: definition_module.AnalysisDefinition,
    models: list[str] | None = None,
    allow_fit_observable: bool = False,
) -> dict[str, list]:
    """The fold models of each classifier of the definition, checked against its feature set.

    A classifier whose features include the observable a region it scores
    histograms is refused (the score would sculpt the fitted spectrum), unless
    its spec declares ``uses_fit_observable`` and ``allow_fit_observable``.

    Args:
        definition: the analysis definition
        models: files replacing the models of its one classifier (``--model``)
        allow_fit_observable: the run's explicit permission for such models

    Raises:
        ModelSpecError: for a missing model, one that does not match its feature
            set, or one that uses a fit observable without both permissions
        AnalysisDefinitionError: for ``models`` with other than one classifier
    """
    if models and len(definition.classifiers) != 1:
        raise definition_module.AnalysisDefinitionError(
            definition.source,
            "classifiers",
            f"--model replaces the models of one classifier; the definition has "
            f"{len(definition.classifiers)}",
        )
    analysis = definition.registered()
    classifiers = {}
    for name, config in definition.classifiers.items():
        classifiers[name] = load_classifiers(
            config, analysis.feature_sets[config.feature_set], analysis.models_folder(), models
        )
        log.info("classifier %s: %s", name, ", ".join(c.name for c in classifiers[name]))
        _check_classes(config, classifiers[name])
        _check_fit_observables(definition, name, classifiers[name], allow_fit_observable)
    return classifiers


def _check_classes(config: definition_module.ClassifierConfig, models: list) -> None:
    """A multiclass classifier's models name its classes as outputs, in its order."""
    from liberica.models.spec import ModelSpecError

    if config.kind != "multiclass":
        return
    outputs, classes = tuple(models[0].spec.outputs), tuple(config.classes)
    if outputs != classes:
        raise ModelSpecError(
            f"{models[0].name}: outputs {list(outputs)}, but classifier {config.name!r} "
            f"has the classes {list(classes)}"
        )


def fit_observables_taken(
    definition: definition_module.AnalysisDefinition, name: str, features
) -> list[tuple[str, str]]:
    """(variable, region) for each region classifier ``name`` scores whose observable is
    one of ``features``: what a model of those features would sculpt."""
    taken = []
    for region in definition.regions.values():
        if region.classifier != name:
            continue
        variable = definition.observables[region.observable].variable
        if variable in set(features):
            taken.append((variable, region.name))
    return taken


def _check_fit_observables(definition, name: str, models: list, allowed: bool) -> None:
    from liberica.models.spec import ModelSpecError

    for variable, region_name in fit_observables_taken(definition, name, models[0].spec.features):
        region = definition.regions[region_name]
        declared = all(m.spec.uses_fit_observable for m in models)
        if declared and allowed:
            log.warning(
                "classifier %s takes %s, the observable of region %s (allowed)",
                name,
                variable,
                region.name,
            )
            continue
        raise ModelSpecError(
            f"{models[0].name}: classifier {name!r} takes {variable!r}, the observable "
            f"of region {region.name!r} it scores; "
            + (
                "the run must allow it (--allow-fit-observable)"
                if declared
                else "its spec does not declare uses_fit_observable"
            )
        )


def _table_order(table: np.ndarray) -> np.ndarray:
    """The per-event table's order: by sample number and eventNumber, ties (a format whose
    event number is a row index repeats it across files) by process and then by value,
    so that the order does not depend on how the chunks were merged."""
    ties = [table[name] for name in reversed(table.dtype.names) if name not in _ORDER_KEYS]
    return np.lexsort((*ties, table["process"], table["eventNumber"], table["channelNumber"]))


_ORDER_KEYS = ("process", "eventNumber", "channelNumber")


def _dump_config(
    definition: definition_module.AnalysisDefinition,
    dump_features: bool | str | definition_module.ClassifierConfig,
) -> definition_module.ClassifierConfig | None:
    """The classifier whose features a run dumps, or None."""
    if isinstance(dump_features, definition_module.ClassifierConfig):
        return dump_features
    if not dump_features and definition.cwola is not None:
        # a CWoLa hunt runs on the per-event table of every run
        cwola = definition.cwola
        return definition_module.ClassifierConfig("cwola", (), cwola.selection, cwola.table)
    if not dump_features:
        return None
    if isinstance(dump_features, str):
        if dump_features not in definition.classifiers:
            raise definition_module.AnalysisDefinitionError(
                definition.source, "classifiers", f"no classifier named {dump_features!r}"
            )
        return definition.classifiers[dump_features]
    if len(definition.classifiers) != 1:
        raise definition_module.AnalysisDefinitionError(
            definition.source,
            "classifiers",
            "--dump-features needs exactly one classifier to take the feature set from, "
            f"the definition has {len(definition.classifiers)}",
        )
    return next(iter(definition.classifiers.values()))


def run_processor(
    analysis: str | pathlib.Path | definition_module.AnalysisDefinition,
    fileset_path: str | pathlib.Path,
    *,
    executor: str = "futures",
    workers: int = 2,
    chunksize: int = DEFAULT_CHUNKSIZE,
    systematics: bool = True,
    lumi_fb: float | None = None,
    output_dir: str | pathlib.Path | None = None,
    status: bool = True,
    models: list[str] | None = None,
    allow_fit_observable: bool = False,
    dump_features: bool | str | definition_module.ClassifierConfig = False,
    profile: Profile | None = None,
    on_bad_file: str | None = None,
    checkpoint: str | pathlib.Path | CheckpointerABC | None = None,
    command: str | None = None,
    binning: str | pathlib.Path | None = None,
    unblind: bool = False,
) -> ProcessingResult:
    """Process a fileset with an analysis and (optionally) write the outputs.

    Args:
        analysis: a shipped analysis name, a YAML path, or a loaded definition
        fileset_path: the fileset (JSON or YAML)
        executor: ``iterative``, ``futures`` or ``dask-local`` (ignored with ``profile``)
        workers: worker processes for ``futures`` and ``dask-local``
        chunksize: events per chunk
        systematics: run the weight, object and sample variations
        lumi_fb: luminosity for MC normalization; default: the data sample's
            ``lumi_fb`` metadata, else the analysis definition's. One that contradicts
            the data's ``lumi_fb`` is refused (``fileset.luminosity``)
        output_dir: write histograms.root, histograms.pkl, cutflow.json and
            metrics.json there
        status: show a progress bar
        models: classifier model files replacing those of the definition's classifier
            (one classifier only)
        allow_fit_observable: allow a classifier whose features include the
            observable of a region it scores (its spec must declare it too)
        dump_features: return (and, with ``output_dir``, write ``features.parquet``)
            the nominal features of selected MC events: of the definition's
            classifier (True), of the classifier named, or of the configuration given
        profile: a cluster profile from dask_config.yaml, replacing ``executor``
            and ``workers``
        on_bad_file: ``fail`` or ``skip`` for unreadable files and chunks
            (default: the profile's, else ``fail``); skipped ones are listed in
            ``metrics["bad_input"]``
        checkpoint: a folder (or a coffea checkpointer) where finished chunks are
            saved; a rerun with the same settings loads them instead of
            recomputing (``metrics["chunks_resumed"]``)
        command: the command line that asked for the run (provenance; default:
            ``Python API``)
        binning: an earlier run's binning.json (or run folder): its edges for the
            regions with a ``binning``, instead of new ones (same definition only)
        unblind: show the data of the bins a definition's ``blinding`` block hides
            (without it, those data reach no output: ``orchestration/blinding.py``;
            ``blinding.json`` says which)

    Returns:
        ProcessingResult: histograms, cutflows and metrics
    """
    started = time.perf_counter()
    definition = (
        analysis
        if isinstance(analysis, definition_module.AnalysisDefinition)
        else definition_module.load(analysis)
    )
    blinding_module.check_options(definition, unblind=unblind, checkpoint=checkpoint)
    if output_dir is not None:
        outputs.check_writable(output_dir)
    if binning is not None:  # before any file is opened: another definition's edges are refused
        check_reuse(binning, definition)
    if profile is None:
        profile = Profile(executor, executor, {"workers": workers})
    policy = on_bad_file or profile.on_bad_file
    analysis = definition.registered()
    processor_class = analysis.processor_class()
    input_format = get_format(analysis.input_format)
    columns = tuple(processor_class.columns(definition))
    raw_fileset = fileset_module.read(fileset_path)
    if lumi_fb is not None and not (math.isfinite(lumi_fb) and lumi_fb > 0):
        raise ValueError(f"lumi_fb is {lumi_fb}: a luminosity is a finite number > 0")
    # before any file is opened: a contradiction is refused, not processed
    lumi_fb = fileset_module.luminosity(
        raw_fileset, lumi_fb, definition.luminosity_fb, input_format
    )
    input_report: dict[str, Any] = {}
    fileset = fileset_module.prepare(
        raw_fileset, definition, columns, input_format, policy, input_report
    )
    # each chunk of a ROOT file reads the processor's branches in one uproot call
    reads_root = input_format.runner_format == "root"
    chunks = work_items(fileset, chunksize, columns if reads_root else None)
    data_metadata = fileset_module.data_metadata(fileset)
    if input_format.normalization_keys:
        log.info("normalizing MC to %.3g fb^-1", lumi_fb)
    else:
        log.info("MC weights as the %s files give them (%.3g fb^-1)", input_format.name, lumi_fb)

    classifiers = classifiers_of(definition, models, allow_fit_observable)
    dump_config = _dump_config(definition, dump_features)

    with open_executor(profile, status=status, imports=(processor_class.__module__,)) as opened:
        run_id = uuid.uuid4().hex
        checkpointer = checkpoint
        if checkpoint is not None and not isinstance(checkpoint, CheckpointerABC):
            checkpointer = RunCheckpointer(
                checkpoint,
                {
                    "analysis": definition.name,
                    "lumi_fb": lumi_fb,
                    "systematics": systematics,
                    "models": [c.digest for models in classifiers.values() for c in models],
                    "dump_features": dump_config is not None,
                    "on_bad_file": policy,
                    "version": liberica.__version__,
                },
            )
        runner = Runner(
            executor=opened.executor,
            schema=input_format.schema,
            format=input_format.runner_format,
            chunksize=chunksize,
            savemetrics=True,
            checkpointer=checkpointer,
            chunk_retries=profile.retries,
        )
        routing = _gpu_routing(profile, opened, bool(classifiers))
        start = time.perf_counter()
        with dask.annotate(**routing):
            output, coffea_metrics = runner(
                chunks,
                processor_class(definition, lumi_fb, systematics, classifiers, dump_config, run_id),
                treename=definition.tree,
                uproot_options=uproot_options(item.filename for item in chunks)
                if reads_root
                else {},
            )
        wall_time = time.perf_counter() - start
    if policy != "skip":
        _fail_on_bad_chunks(output)

    if "histograms" not in output:  # every chunk was skipped
        output["histograms"], output["counts"] = book_histograms(definition, systematics)
    for key in ("events", "sum_mc_weights", "cutflow"):
        output.setdefault(key, {})
    # regions with a binning: final edges from the merged MC, every template rebinned
    output["histograms"], output["counts"], binning_report = final_binning(
        definition, output["histograms"], output["counts"], fileset, binning
    )
    # after the merge and any rebinning, before anything reads the data: hidden bins' data
    # reach no output of a blinded run
    blinding = blinding_module.blind_output(
        output,
        definition,
        [name for name, entry in fileset.items() if entry["metadata"].get("is_data")],
        unblind=unblind,
    )
    events_processed = int(sum(output["events"].values()))
    cores = opened.cores
    # chunks loaded from checkpoints took no processing: the rates count the others
    resumed = {"chunks": 0, "events": 0}
    for run, done in output.get("computed_in", {}).items():
        if run != run_id:
            resumed = {k: resumed[k] + done[k] for k in resumed}
    events_computed = events_processed - resumed["events"]
    rate = events_computed / wall_time if wall_time > 0 else float("nan")
    metrics = {
        "schema_version": METRICS_SCHEMA_VERSION,
        "analysis": analysis.name,
        "definition": definition.source,
        "definition_name": definition.name,
        "executor": profile.executor,
        "profile": profile.name,
        "workers": opened.workers,
        "cores": cores,
        "cluster_start_s": opened.start_s,
        "chunksize": chunksize,
        "chunks": int(coffea_metrics.get("chunks", 0)),
        "events_processed": events_processed,
        "events_per_sample": dict(sorted(output["events"].items())),
        # what each sample is: its process (data: "data") and, for an alternative, its variation
        "samples": {
            name: {
                "process": entry["metadata"].get("process", "data"),
                **(
                    {"variation": entry["metadata"]["variation"]}
                    if entry["metadata"].get("variation")
                    else {}
                ),
            }
            for name, entry in sorted(fileset.items())
        },  # fmt: skip
        "unphysical_objects": dict(sorted(output.get("unphysical_objects", {}).items())),
        "processing_wall_s": wall_time,
        "events_per_second": rate,
        "events_per_second_per_core": rate / cores,
        "bytes_read": int(coffea_metrics.get("bytesread", 0)),
        "columns": sorted({c.split("-")[0] for c in coffea_metrics.get("columns", [])}),
        "coffea_process_time_s": float(coffea_metrics.get("processtime", np.nan)),
        "sum_mc_weights_processed": dict(sorted(output["sum_mc_weights"].items())),
        "systematics": systematics,
        "systematics_applied": definition_module.applied_systematics(
            definition, systematics, fileset
        ),
        "lumi_fb": lumi_fb,
        "injected_mu": data_metadata.get("mu_injected"),
        "flow": _flow_report(output["histograms"], output["counts"]),
        "variation_completion": {
            k: len(v) for k, v in output.get("variation_completion", {}).items()
        },
        "chunk_time_sum_s": float(output.get("chunk_time_s", 0.0)),
        "bad_input": _bad_input(policy, input_report, output, events_processed),
        "peak_rss_mb_per_process": _peak_rss(output.get("peak_rss", set())),
        "chunks_resumed": int(resumed["chunks"]),
        "events_resumed": int(resumed["events"]),
        "events_computed": int(events_computed),
    }
    if binning_report:
        metrics["binning"] = binning_report
    if blinding is not None:
        metrics["blinding"] = blinding
    if classifiers:
        metrics["classifier"] = _classifier_metrics(output["inference"], classifiers, metrics)
    weight_checks = evaluate_weights(
        output.get("weight_audit", {}), definition.checks.weights, output["events"]
    )
    metrics["weight_checks"] = weight_checks.to_dict()
    agreement = _feature_agreement(
        output["histograms"], definition, blinding_module.hidden_regions(blinding)
    )
    if agreement is not None:
        metrics["feature_agreement"] = agreement.to_dict()
    features = None
    if dump_config is not None:
        features = np.concatenate(output.get("features", [])) if output.get("features") else None
        if features is not None:
            features = features[_table_order(features)]
    result = ProcessingResult(
        histograms=output["histograms"],
        counts=output["counts"],
        cutflow=output["cutflow"],
        metrics=metrics,
        output_dir=None,
        features=features,
        weight_checks=weight_checks,
        feature_agreement=agreement,
    )
    metrics["provenance"] = provenance(definition, fileset_path, command)
    if output_dir is not None:
        if agreement is not None:
            _plot_agreement(result, definition, pathlib.Path(output_dir) / "checks")
        return write_outputs(result, pathlib.Path(output_dir), started)
    metrics["total_time_s"] = round(time.perf_counter() - started, 3)
    return result


def provenance(
    definition: definition_module.AnalysisDefinition,
    fileset_path: str | pathlib.Path | None,
    command: str | None = None,
) -> dict[str, Any]:
    """Where a result came from: liberica's version, the command, the time, the fileset
    and the definition (its source and content digest)."""
    entry: dict[str, Any] = {
        "liberica_version": liberica.__version__,
        "command": command or "Python API",
        "time_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "definition": definition.source,
        "definition_digest": definition.digest,
    }
    if fileset_path is not None:
        path = pathlib.Path(fileset_path)
        entry["fileset"] = str(path.resolve())
        entry["fileset_digest"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entry


def write_outputs(
    result: ProcessingResult, output_dir: pathlib.Path, started: float | None = None
) -> ProcessingResult:
    """Write histograms.root, histograms.pkl, cutflow.json, metrics.json (and binning.json
    for a run with rebinned regions).

    Args:
        result: the processing result
        output_dir: the run folder
        started: ``time.perf_counter()`` when the run began: metrics' ``total_time_s``
            (the whole call: checks, cluster start, processing, writing) counts from it
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    n_written = outputs.write_root(output_dir / "histograms.root", result.histograms)
    outputs.write_pickle(output_dir / "histograms.pkl", result.histograms, result.counts)
    outputs.write_json(output_dir / "cutflow.json", result.cutflow)
    if "binning" in result.metrics:
        outputs.write_json(output_dir / BINNING_FILE, result.metrics["binning"])
    if "blinding" in result.metrics:
        outputs.write_json(output_dir / "blinding.json", result.metrics["blinding"])
    if result.features is not None:
        outputs.write_features(output_dir / "features.parquet", result.features)
    if started is not None:
        result.metrics["total_time_s"] = round(time.perf_counter() - started, 3)
    outputs.write_json(output_dir / "metrics.json", result.metrics)
    log.info("wrote %d histograms and the run summary to %s", n_written, output_dir)
    return result._replace(output_dir=output_dir)


def _feature_agreement(histograms: dict, definition, blinded: Collection[str] = ()) -> Any:
    """The definition's data/MC feature check on the regions this run has (a training run
    has no score regions) and shows in full (not ``blinded``), or None without a check."""
    config = definition.checks.feature_agreement
    if config is None:
        return None
    left_out = [r for r in config.regions if r in blinded]
    if left_out:
        log.info("data/MC check: %s left out (blinded bins)", ", ".join(left_out))
    present = tuple(r for r in config.regions if r in histograms and r not in blinded)
    if not present:
        return None
    from liberica.fits.agreement import feature_agreement

    checks = definition.checks._replace(feature_agreement=config._replace(regions=present))
    summary = feature_agreement(histograms, definition._replace(checks=checks))
    if summary.not_assessed:
        log.warning(
            "data/MC check: %d feature(s) not assessed: %s",
            len(summary.not_assessed),
            "; ".join(summary.not_assessed.values()),
        )
    if summary.flagged:
        log.warning(
            "data and MC disagree in %d feature(s): %s (checks.feature_agreement)",
            len(summary.flagged),
            ", ".join(summary.flagged),
        )
    return summary


def _plot_agreement(result: ProcessingResult, definition, folder: pathlib.Path) -> None:
    """Data/MC with ratio panels for every checked feature, and the summary of the measure."""
    from liberica.fits.agreement_plots import plot_agreement

    start = time.perf_counter()
    paths = plot_agreement(
        result.histograms,
        result.feature_agreement,
        definition.processes,
        folder,
        lumi_fb=result.metrics.get("lumi_fb"),
        pseudo_data=True,
    )
    log.info("data/MC figures: %d in %s (%.1f s)", len(paths), folder, time.perf_counter() - start)
