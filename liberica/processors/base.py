"""The base processor: everything a chunk needs that is not one analysis's physics.

An analysis subclasses :class:`AnalysisProcessor` and writes its hooks:

- ``columns(definition)``: the branches its hooks read (only those are read);
- ``objects(events)``: the chunk's objects, once (a NamedTuple whose fields the
  object systematics replace, e.g. ``leptons``), and the counts of objects it
  dropped as unphysical;
- ``selections(events, objects)``: an object with ``nominal()`` and
  ``varied(objects)``, each giving ``{selection: result}``.

A selection result gives, per row (a candidate of an event): ``event_index``
(its event in the chunk), ``event_steps`` and ``steps`` (the cutflow, as
masks), ``passed``, ``observables`` (variable -> values), ``categories``
(category -> codes, e.g. the channel) and ``weight_objects`` (what weight
systematics read, e.g. ``lepton_pt``). Classifier features come from the
registered feature set (``feature_set.compute(result, rows)``).

The base owns the rest, in a fixed order per chunk: the nominal weight of the
input format; objects; the nominal pass of every selection; classifier scores
(``models/``); region masks (categories, score cuts); the weight variations
through the kinds of ``processors/systematics.py``; the fills; then each object
variation, one at a time, re-running the selections; the features for
training; the cutflows; and the worker runtime (allocator, collector). Each MC
chunk's weights are also audited over all its events, before any selection
(``weight_audit.py``; the rules are applied once the run is merged).
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any, ClassVar

import awkward as ak
import numpy as np
from coffea import processor

from liberica.core.definition import (
    SCORE,
    AnalysisDefinition,
    ClassifierConfig,
    Discriminant,
    Region,
)
from liberica.models import inference
from liberica.models.spec import Classifier
from liberica.processors import allocator, collector, histograms, weight_audit
from liberica.processors import systematics as systematic_kinds
from liberica.processors.formats import InputFormat
from liberica.processors.formats import get as get_format


def score_key(classifier: str) -> str:
    """The observables key of a classifier's score (its first output)."""
    return f"{SCORE}:{classifier}"


def region_score_key(region: Region) -> str:
    """The observables key of the score a region cuts on or histograms: its classifier's
    first output, or the output (a class, or a ratio of summed classes) it names."""
    key = score_key(region.classifier)
    return key if region.output is None else f"{key}:{region.output.label}"


def _discriminant(columns: dict[str, np.ndarray], output: Discriminant) -> np.ndarray:
    """A region's score from the outputs ``{class: probabilities}`` of its classifier."""
    numerator = sum(columns[name] for name in output.numerator)
    if not output.denominator:
        return numerator
    denominator = sum(columns[name] for name in output.denominator)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, 0.0)


def _peak_rss_mb() -> int:
    """Peak resident memory of this process so far, in MB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives exec, so a
    spawned worker would report its parent's peak at the fork if larger.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)  # kB on Linux


class AnalysisProcessor(processor.ProcessorABC):
    """Histograms, cutflows and metrics of one analysis's chunk (see the module doc).

    Each chunk's metadata (from the fileset) carries ``process``, ``is_data``,
    the input format's normalization (open data: ``xsec`` in pb and ``sumw``)
    and, for an alternative sample, the name of its systematic in ``variation``.

    Args:
        definition: the validated analysis definition
        lumi_fb: integrated luminosity MC is normalized to, in fb^-1
        systematics: whether to run weight, object and sample variations
        classifiers: the fold models of each classifier of the definition
            (checked against its feature set)
        dump_features: the classifier whose features, with weight, process and
            eventNumber, each MC chunk also returns under ``features`` (for
            training), or None
        run_id: tags each chunk's output (``computed_in``), so that a resumed run
            can tell chunks loaded from checkpoints from those it computed
    """

    input_format: ClassVar[str] = "open_data"
    audit_weights: ClassVar[bool] = True
    """Whether each MC chunk returns its weight audit under ``weight_audit``."""
    dump_data: ClassVar[bool] = False
    """Whether ``dump_features`` also returns the data's rows (a data-driven hunt's input)."""
    extra_scale_factors: ClassVar[tuple[str, ...]] = ()
    """Per-event scale-factor branches multiplied into the format's nominal MC weight
    (e.g. ``scaleFactor_TAU`` and ``scaleFactor_BTAG`` for an analysis selecting taus
    and b-jets); list them in :meth:`columns` too."""

    def __init__(
        self,
        definition: AnalysisDefinition,
        lumi_fb: float,
        systematics: bool = True,
        classifiers: dict[str, list[Classifier]] | None = None,
        dump_features: ClassifierConfig | None = None,
        run_id: str = "",
    ) -> None:
        classifiers = dict(classifiers or {})
        missing = [name for name in definition.classifiers if not classifiers.get(name)]
        if missing:
            raise ValueError(f"analysis {definition.name} needs the models of {', '.join(missing)}")
        self.definition = definition
        self.lumi_fb = lumi_fb
        self.systematics = systematics
        self.classifiers = classifiers
        self.dump_features = dump_features
        self.run_id = run_id
        analysis = definition.registered()
        self._categories = dict(analysis.categories)
        self._feature_sets = dict(analysis.feature_sets)

    # -- the analysis's hooks ------------------------------------------------------

    @classmethod
    def columns(cls, definition: AnalysisDefinition) -> tuple[str, ...]:
        """The branches the hooks read; a file lacking one is refused before any chunk runs.

        Include :meth:`format_columns`, what the base itself reads.
        """
        raise NotImplementedError

    @classmethod
    def format_columns(cls) -> tuple[str, ...]:
        """The branches the base processor reads for the input format (weights, seeds)."""
        return get_format(cls.input_format).base_columns

    def objects(self, events: ak.Array) -> tuple[Any, dict[str, int]]:
        """The chunk's objects (a NamedTuple), and ``{branch: n}`` of objects dropped."""
        raise NotImplementedError

    def selections(self, events: ak.Array, objects: Any) -> Any:
        """The chunk's selections: ``nominal()`` and ``varied(objects)``."""
        raise NotImplementedError

    @property
    def format(self) -> InputFormat:
        """The input format of the chunks."""
        return get_format(self.input_format)

    # -- classifiers ---------------------------------------------------------------

    def _add_scores(self, results: dict[str, Any], event_number: np.ndarray, timing: dict) -> None:
        """Score the selected rows; add each classifier's score (NaN elsewhere) to the observables."""
        for name, config in self.definition.classifiers.items():
            result = results[config.selection]
            rows = np.flatnonzero(result.passed)
            start = time.perf_counter()
            features = self._feature_sets[config.feature_set].compute(result, rows)
            middle = time.perf_counter()
            scores = inference.evaluate(
                self.classifiers[name], features, event_number[result.event_index[rows]]
            )
            timing["features_s"] += middle - start
            timing["inference_s"] += time.perf_counter() - middle
            timing["rows_scored"] += len(rows)
            outputs = self.classifiers[name][0].spec.outputs
            columns = scores.reshape(len(rows), -1)
            by_class = {output: columns[:, k] for k, output in enumerate(outputs)}
            for k, output in enumerate(outputs):
                score = np.full(len(result.passed), np.nan)
                score[rows] = columns[:, k]
                # a region takes the first output, or a multi-class model's by name
                if k == 0:
                    result.observables[score_key(name)] = score
                if len(outputs) > 1:
                    result.observables[f"{score_key(name)}:{output}"] = score
            for region in self.definition.regions.values():
                if region.classifier != name or region.output is None:
                    continue
                key = region_score_key(region)
                if key not in result.observables:
                    score = np.full(len(result.passed), np.nan)
                    score[rows] = _discriminant(by_class, region.output)
                    result.observables[key] = score

    def _feature_rows(
        self, events: ak.Array, results: dict[str, Any], process: str, weight: np.ndarray
    ) -> np.ndarray:
        """Nominal features of the training selection's rows as a structured array.

        A classifier trained on a looser selection than the one it scores (an
        extended training set) also gets ``in_selection``: whether the row's event
        passes the scoring selection.
        """
        config = self.dump_features
        result = results[config.trained_on]
        feature_set = self._feature_sets[config.feature_set]
        rows = np.flatnonzero(result.passed)
        features = feature_set.compute(result, rows)
        event_index = result.event_index[rows]
        dtype = [(name, np.float32) for name in feature_set.features] + [
            ("weight", np.float64),
            ("eventNumber", np.int64),
            ("channelNumber", np.int64),
            ("process", "U16"),
        ]
        dtype += [(category, np.int8) for category in result.categories]
        extended = config.trained_on != config.selection
        if extended:
            dtype.append(("in_selection", np.bool_))
        table = np.empty(len(rows), dtype=dtype)
        for k, name in enumerate(feature_set.features):
            table[name] = features[:, k]
        table["weight"] = weight[event_index]
        table["eventNumber"] = np.asarray(events[self.format.event_number], dtype=np.int64)[
            event_index
        ]
        table["channelNumber"] = self.format.sample_numbers(events)[event_index]
        table["process"] = process
        for category, codes in result.categories.items():
            table[category] = codes[rows]
        if extended:
            scoring = results[config.selection]
            table["in_selection"] = np.isin(
                event_index, scoring.event_index[np.flatnonzero(scoring.passed)]
            )
        return table

    # -- regions ---------------------------------------------------------------------

    def _category_mask(self, result: Any, categories: dict) -> np.ndarray | None:
        """Rows in the ``{category: values}`` given, or None where they keep every value."""
        mask = None
        for category, values in categories.items():
            codes = self._categories[category]
            if set(values) == set(codes):
                continue
            inside = np.zeros(len(result.passed), dtype=bool)
            for value in values:
                inside |= result.categories[category] == codes[value]
            mask = inside if mask is None else mask & inside
        return mask

    def _region_masks(self, results: dict[str, Any]) -> dict[str, np.ndarray]:
        """Per region, the rows of its selection that fall in it."""
        masks = {}
        for name, region in self.definition.regions.items():
            result = results[region.selection]
            mask = result.passed
            in_categories = self._category_mask(result, region.categories)
            if in_categories is not None:
                mask = mask & in_categories
            if region.score is not None:
                low, high = region.score
                score = result.observables[region_score_key(region)]
                with np.errstate(invalid="ignore"):
                    # [low, high), with a top edge at 1 inclusive
                    mask = (
                        mask & (score >= low) & ((score < high) | (high >= 1.0) & (score <= high))
                    )
            masks[name] = mask
        return masks

    def _fill(
        self,
        filler: histograms.ChunkFiller,
        results: dict[str, Any],
        masks: dict[str, np.ndarray],
        weights_of: dict[str, dict[str, np.ndarray]],
    ) -> None:
        """Fill every region; ``weights_of[selection]`` maps variations to per-row weights."""
        for name, region in self.definition.regions.items():
            rows = np.flatnonzero(masks[name])
            variable = self.definition.observables[region.observable].variable
            if variable == SCORE:
                variable = region_score_key(region)
            observables = results[region.selection].observables
            versus = None
            if region.versus is not None:
                second = self.definition.observables[region.versus].variable
                if second == SCORE:
                    second = region_score_key(region)
                versus = observables[second][rows]
            weights_of_region = weights_of[region.selection]
            filler.fill(
                name,
                observables[variable][rows],
                {v: w[rows] for v, w in weights_of_region.items()},
                versus,
            )

    def _cutflow(
        self, results: dict[str, Any], masks: dict[str, np.ndarray], weight: np.ndarray
    ) -> dict[str, dict[str, dict[str, float]]]:
        def entry(passed: np.ndarray, weights: np.ndarray) -> dict[str, float]:
            return {"raw": int(passed.sum()), "weighted": float(weights[passed].sum())}

        # the cumulative steps of each selection, computed once for all its regions
        shared, row_weights = {}, {}
        for selection_name, result in results.items():
            steps = {"all_events": {"raw": len(weight), "weighted": float(weight.sum())}}
            passed_events = np.ones(len(weight), dtype=bool)
            for step, mask in result.event_steps:
                passed_events &= mask
                steps[step] = entry(passed_events, weight)
            row_weights[selection_name] = weight[result.event_index]
            passed = passed_events[result.event_index]
            for step, mask in result.steps:
                passed = passed & mask
                steps[step] = entry(passed, row_weights[selection_name])
            shared[selection_name] = steps
        cutflow = {}
        for name, region in self.definition.regions.items():
            steps = {step: dict(value) for step, value in shared[region.selection].items()}
            result = results[region.selection]
            kept = result.passed
            for category, values in region.categories.items():
                inside = self._category_mask(result, {category: values})
                if inside is not None:
                    kept = kept & inside
                    steps[category] = entry(kept, row_weights[region.selection])
            if region.score is not None:
                steps["score"] = entry(masks[name], row_weights[region.selection])
            cutflow[name] = steps
        return cutflow

    # -- the chunk -----------------------------------------------------------------

    def process(self, events: ak.Array) -> dict[str, Any]:
        """Histograms, cutflows and event counts of one chunk."""
        allocator.keep_freed_memory()  # once per process: the next chunk reuses this one's pages
        collector.collect_previous_chunks()  # the last chunk's events object sits in reference cycles
        return self._process(events)

    def _process(self, events: ak.Array) -> dict[str, Any]:
        metadata = events.metadata
        sample = metadata["dataset"]
        is_data = bool(metadata.get("is_data", False))
        process = histograms.DATA_PROCESS if is_data else metadata["process"]
        sample_variation = metadata.get("variation")

        chunk_start = time.perf_counter()
        sessions_before = inference.stats()["sessions_created"]
        timing = {"features_s": 0.0, "inference_s": 0.0, "rows_scored": 0}
        weighted, counts = histograms.book(self.definition, self.systematics)
        output: dict[str, Any] = {"histograms": weighted, "counts": counts}

        n = len(events)
        if is_data:
            weight = np.ones(n)
        else:
            weight = self.format.nominal_weight(events, metadata, self.lumi_fb)
            for branch in self.extra_scale_factors:
                weight = weight * np.asarray(events[branch], dtype=np.float64)
        event_number = np.asarray(events[self.format.event_number], dtype=np.int64)
        if self.audit_weights and not is_data:
            output["weight_audit"] = {
                sample: weight_audit.SampleWeights.of_chunk(
                    event_number,
                    np.asarray(events[self.format.generator_weight], dtype=np.float64),
                    weight,
                    process=process,
                    xsec=metadata.get("xsec"),
                    sumw=metadata.get("sumw"),
                    lumi_fb=self.lumi_fb,
                )
            }
        objects, unphysical = self.objects(events)
        chunk_selections = self.selections(events, objects)
        results = chunk_selections.nominal()
        self._add_scores(results, event_number, timing)
        masks = self._region_masks(results)
        filler = histograms.ChunkFiller(weighted, counts, process)

        nominal_label = f"{sample_variation}Up" if sample_variation else histograms.NOMINAL
        if sample_variation and not self.systematics:
            nominal_label = None
        # per selection, the weights of its rows under each variation
        row_weight = {name: weight[result.event_index] for name, result in results.items()}
        weights_of: dict[str, dict[str, np.ndarray]] = {name: {} for name in results}
        if nominal_label is not None:
            for name in results:
                weights_of[name][nominal_label] = row_weight[name]
        run_variations = self.systematics and not is_data and not sample_variation
        if run_variations:
            weight_systematics = self.definition.systematics_of("weight")
            for name, result in results.items():
                rows = systematic_kinds.RowInputs(
                    events, result.event_index, result.weight_objects, {}
                )
                for systematic in weight_systematics:
                    kind = systematic_kinds.get(systematic.kind)
                    up, down = kind.ratios(systematic, rows)
                    weights_of[name][f"{systematic.name}Up"] = row_weight[name] * up
                    weights_of[name][f"{systematic.name}Down"] = row_weight[name] * down
        self._fill(filler, results, masks, weights_of)
        if run_variations:
            chunk = systematic_kinds.ChunkInputs(self.format.sample_numbers(events), event_number)
            for systematic in self.definition.systematics_of("object"):
                kind = systematic_kinds.get(systematic.kind)
                collection = getattr(objects, kind.collection)
                for direction, varied_collection in kind.vary(systematic, collection, chunk):
                    varied = objects._replace(**{kind.collection: varied_collection})
                    varied_results = chunk_selections.varied(varied)
                    self._add_scores(varied_results, event_number, timing)
                    label = f"{systematic.name}{direction}"
                    self._fill(
                        filler,
                        varied_results,
                        self._region_masks(varied_results),
                        {
                            name: {label: weight[result.event_index]}
                            for name, result in varied_results.items()
                        },
                    )
                    del varied, varied_collection, varied_results  # one variation at a time

        dumps = self.dump_features is not None and not sample_variation
        if dumps and (self.dump_data or not is_data):
            output["features"] = [self._feature_rows(events, results, process, weight)]
        output["cutflow"] = {sample: self._cutflow(results, masks, weight)}
        output["events"] = {sample: n}
        if unphysical:
            output["unphysical_objects"] = {sample: unphysical}
        output["sum_mc_weights"] = {
            sample: float(
                np.sum(np.asarray(events[self.format.generator_weight], dtype=np.float64))
            )
        }
        if self.classifiers:
            if is_data:  # counted apart: a blinded run must not tell how many data rows
                timing["data_rows_scored"] = timing.pop("rows_scored")
            stats = inference.stats()
            output["inference"] = {
                "per_process": {
                    str(stats["pid"]): {
                        "chunks": 1,
                        "sessions_created": stats["sessions_created"] - sessions_before,
                    }
                },
                "providers": {stats["provider"]: 1},
                **timing,
            }
        output["chunk_time_s"] = time.perf_counter() - chunk_start
        output["computed_in"] = {self.run_id: {"chunks": 1, "events": n}}
        # a set merges by union: (process id, peak resident MB) pairs, max taken later
        output["peak_rss"] = {(os.getpid(), _peak_rss_mb())}
        return output

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        """Complete the variation axis once all chunks are merged."""
        if self.systematics and "histograms" in accumulator:
            accumulator["variation_completion"] = histograms.complete_variations(
                accumulator["histograms"], accumulator["counts"], self.definition
            )
        return accumulator
