"""The H -> ZZ* -> 4l processor.

A pure function of a chunk: objects -> object variations -> selections ->
weights -> histograms and cutflows. It returns a dictionary that coffea's
executors merge by addition.

The chunk's leptons are flattened once into numpy columns (GeV); the
selections work on four-lepton candidates, and each momentum variation re-runs
them only on the events they could select (``selections.ChunkSelections``).
Histograms are filled by ``bincount`` over the axis' own bin index, once per
region and selection pass for all weight variations. The process keeps freed
memory for the next chunk (``allocator``) and frees the last chunk's cyclic
garbage first (``collector``).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from typing import Any

import awkward as ak
import numpy as np
from coffea import processor

from liberica.analysis.definition import AnalysisDefinition, Systematic
from liberica.models import inference
from liberica.models.spec import Classifier
from liberica.processors import (
    allocator,
    collector,
    histograms,
    quadruplets,
    selections,
    variations,
    weights,
)
from liberica.processors.features import FEATURE_NAMES, hzz4l_features
from liberica.processors.leptons import (
    LeptonColumns,
    drop_unphysical,
    open_data_lepton_columns,
    take_events,
    with_directions,
)
from liberica.processors.quadruplets import CHANNEL_CODES

_SMEARING_SALT = 0x5EED_0001

REQUIRED_BRANCHES = (
    "eventNumber",
    "channelNumber",
    "mcWeight",
    "scaleFactor_ELE",
    "scaleFactor_MUON",
    "scaleFactor_LepTRIGGER",
    "scaleFactor_PILEUP",
    "trigE",
    "trigM",
    "lep_pt",
    "lep_eta",
    "lep_phi",
    "lep_E",
    "lep_charge",
    "lep_type",
    "lep_isTightID",
    "lep_ptcone30",
    "lep_etcone20",
    "lep_z0",
    "lep_tracksigd0pvunbiased",
)
"""Branches the processor reads; a file lacking one is refused before any chunk runs."""


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


def _in_channels(channel: np.ndarray, names: list[str]) -> np.ndarray:
    """Per row, whether its channel code is one of the channels ``names``."""
    inside = np.zeros(len(channel), dtype=bool)
    for name in names:
        inside |= channel == CHANNEL_CODES[name]
    return inside


def warm_up() -> None:
    """Compile the processor's numba loops for the open-data dtypes, or load them from numba's cache.

    Runs the smearing, four-lepton selection, pairing, features and scale-factor
    ratios on one synthetic event, with float32 kinematics as the files hold them and float64 as the
    momentum variations make them. ``clusters.open_executor`` calls this once
    per worker as it starts, so that it counts as start time, not as the first
    chunk's; a chunk with other dtypes still compiles what it needs.
    """
    nominal = with_directions(
        LeptonColumns(
            offsets=np.array([0, 4]),
            event_index=np.array([0]),
            pt=np.array([50.0, 40.0, 30.0, 20.0], dtype=np.float32),
            eta=np.array([0.1, -0.2, 0.3, -0.4], dtype=np.float32),
            phi=np.array([0.5, -2.0, 1.5, 3.0], dtype=np.float32),
            energy=np.array([51.0, 41.0, 32.0, 22.0], dtype=np.float32),
            charge=np.array([1, -1, 1, -1], dtype=np.int32),
            abs_pdg_id=np.array([11, 11, 13, 13], dtype=np.int32),
        )
    )
    one = np.array([1])
    variations.smear_resolution(nominal, one, one, 0.01, 0.01, salt=_SMEARING_SALT)
    scale_factor = Systematic(
        "warm_up",
        "lepton_scale_factor",
        {"flavour": "muon", "pt_edges": [5.0], "relative_uncertainty": [0.01]},
    )
    for leptons in (nominal, variations.scale_momentum(nominal, "electron", 0.01)):
        for mask in (None, np.ones(4, dtype=bool)):
            quad = quadruplets.four_leptons(leptons, mask)
            pairing = quadruplets.pair_into_z_bosons(quad, 91.1876)
            quadruplets.four_lepton_mass(quad)
            quadruplets.four_lepton_pt(quad)
            hzz4l_features(quad, pairing, np.flatnonzero(pairing.has_two_sfos_pairs))
            weights.lepton_sf_ratios(scale_factor, quad.pt, quad.abs_pdg_id)


class HZZ4lProcessor(processor.ProcessorABC):
    """Histograms and cutflows of the H -> ZZ* -> 4l analysis.

    Each chunk's metadata (from the fileset) carries ``process``, ``is_data``,
    and for MC ``xsec`` (pb) and ``sumw``; an alternative sample carries the
    name of its systematic in ``variation``.

    With a classifier, the events of its selection are scored in every chunk
    and for every object variation (features recomputed on the varied leptons),
    in one batched call per fold model; regions may cut on the score and
    histogram it.

    Args:
        definition: the validated analysis definition
        lumi_fb: integrated luminosity MC is normalized to, in fb^-1
        systematics: whether to run weight, object and sample variations
        classifiers: the fold models (checked against the features), required
            when the definition has a classifier
        dump_features: also return the nominal features of selected MC events
            (with weight, process and eventNumber) under ``features``
        run_id: tags each chunk's output (``computed_in``), so that a resumed run
            can tell chunks loaded from checkpoints from those it computed
    """

    def __init__(
        self,
        definition: AnalysisDefinition,
        lumi_fb: float,
        systematics: bool = True,
        classifiers: list[Classifier] | None = None,
        dump_features: bool = False,
        run_id: str = "",
    ) -> None:
        if definition.classifier is not None and not classifiers:
            raise ValueError(f"analysis {definition.name} needs its classifier models")
        self.definition = definition
        self.lumi_fb = lumi_fb
        self.systematics = systematics
        self.classifiers = list(classifiers or [])
        self.dump_features = dump_features
        self.run_id = run_id

    # -- object variations ---------------------------------------------------

    def _object_variations(
        self, leptons: LeptonColumns, channel_number: np.ndarray, event_number: np.ndarray
    ) -> Iterator[tuple[str, LeptonColumns]]:
        """Each variation's label and lepton columns, one at a time (event numbers per chunk event)."""
        for systematic in self.definition.systematics_of("object"):
            options = systematic.options
            if systematic.kind == "lepton_momentum_scale":
                for direction, sign in (("Up", 1), ("Down", -1)):
                    yield (
                        f"{systematic.name}{direction}",
                        variations.scale_momentum(
                            leptons, options["flavour"], sign * options["relative_shift"]
                        ),
                    )
            elif systematic.kind == "lepton_resolution":
                yield (
                    f"{systematic.name}Up",
                    variations.smear_resolution(
                        leptons,
                        channel_number[leptons.event_index],
                        event_number[leptons.event_index],
                        options["electron_relative_smear"],
                        options["muon_relative_smear"],
                        salt=_SMEARING_SALT,
                    ),
                )

    # -- selections ------------------------------------------------------------

    def _region_masks(
        self, results: dict[str, selections.SelectionResult]
    ) -> dict[str, np.ndarray]:
        """Per region, the rows of its selection that fall in it."""
        masks = {}
        for name, region in self.definition.regions.items():
            result = results[region.selection]
            mask = result.passed
            if set(region.channels) != set(CHANNEL_CODES):
                mask = mask & _in_channels(result.channel, region.channels)
            if region.score is not None:
                low, high = region.score
                score = result.observables["score"]
                with np.errstate(invalid="ignore"):
                    # [low, high), with a top edge at 1 inclusive
                    mask = (
                        mask & (score >= low) & ((score < high) | (high >= 1.0) & (score <= high))
                    )
            masks[name] = mask
        return masks

    # -- classifier --------------------------------------------------------------

    def _add_scores(
        self,
        results: dict[str, selections.SelectionResult],
        event_number: np.ndarray,
        timing: dict,
    ) -> None:
        """Score the selected rows; add ``score`` (NaN elsewhere) to the observables."""
        if not self.classifiers:
            return
        result = results[self.definition.classifier.selection]
        rows = np.flatnonzero(result.passed)
        start = time.perf_counter()
        features = hzz4l_features(result.quad, result.pairing, rows)
        middle = time.perf_counter()
        scores = inference.evaluate(
            self.classifiers, features, event_number[result.quad.event_index[rows]]
        )
        timing["features_s"] += middle - start
        timing["inference_s"] += time.perf_counter() - middle
        timing["rows_scored"] += len(rows)
        score = np.full(len(result.passed), np.nan)
        score[rows] = scores
        result.observables["score"] = score

    def _feature_rows(
        self,
        events: ak.Array,
        result: selections.SelectionResult,
        process: str,
        weight: np.ndarray,
    ) -> np.ndarray:
        """Nominal features of the selected events as a structured array, for training."""
        rows = np.flatnonzero(result.passed)
        features = hzz4l_features(result.quad, result.pairing, rows)
        event_index = result.quad.event_index[rows]
        dtype = [(name, np.float32) for name in FEATURE_NAMES] + [
            ("weight", np.float64),
            ("eventNumber", np.int64),
            ("channelNumber", np.int64),
            ("process", "U16"),
            ("channel", np.int8),
        ]
        table = np.empty(len(rows), dtype=dtype)
        for k, name in enumerate(FEATURE_NAMES):
            table[name] = features[:, k]
        table["weight"] = weight[event_index]
        table["eventNumber"] = np.asarray(events["eventNumber"], dtype=np.int64)[event_index]
        table["channelNumber"] = np.asarray(events["channelNumber"], dtype=np.int64)[event_index]
        table["process"] = process
        table["channel"] = result.channel[rows]
        return table

    # -- filling ---------------------------------------------------------------

    def _fill(
        self,
        filler: histograms.ChunkFiller,
        results: dict[str, selections.SelectionResult],
        masks: dict[str, np.ndarray],
        weights_of: dict[str, dict[str, np.ndarray]],
    ) -> None:
        """Fill every region; ``weights_of[selection]`` maps variations to per-row weights."""
        for name, region in self.definition.regions.items():
            rows = np.flatnonzero(masks[name])
            variable = self.definition.observables[region.observable].variable
            values = results[region.selection].observables[variable][rows]
            weights_of_region = weights_of[region.selection]
            filler.fill(name, values, {v: w[rows] for v, w in weights_of_region.items()})

    def _cutflow(
        self,
        results: dict[str, selections.SelectionResult],
        masks: dict[str, np.ndarray],
        weight: np.ndarray,
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
            row_weights[selection_name] = weight[result.quad.event_index]
            passed = passed_events[result.quad.event_index]
            for step, mask in result.steps:
                passed = passed & mask
                steps[step] = entry(passed, row_weights[selection_name])
            shared[selection_name] = steps
        cutflow = {}
        for name, region in self.definition.regions.items():
            steps = {step: dict(value) for step, value in shared[region.selection].items()}
            result = results[region.selection]
            if set(region.channels) != set(CHANNEL_CODES):
                in_channel = result.passed & _in_channels(result.channel, region.channels)
                steps["channel"] = entry(in_channel, row_weights[region.selection])
            if region.score is not None:
                steps["score"] = entry(masks[name], row_weights[region.selection])
            cutflow[name] = steps
        return cutflow

    # -- the chunk -------------------------------------------------------------

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
            weight = weights.nominal_weight(
                events, float(metadata["xsec"]), float(metadata["sumw"]), self.lumi_fb
            )
        event_number = np.asarray(events["eventNumber"], dtype=np.int64)
        leptons, unphysical = drop_unphysical(open_data_lepton_columns(events))
        # every selection needs four leptons: the other events are never selected
        leptons = with_directions(take_events(leptons, np.flatnonzero(leptons.counts >= 4)))
        chunk_selections = selections.ChunkSelections(
            {region.selection for region in self.definition.regions.values()},
            self.definition.lepton_selection,
            self.definition.event_selection,
            events,
            leptons,
        )
        results = chunk_selections.nominal()
        self._add_scores(results, event_number, timing)
        masks = self._region_masks(results)
        filler = histograms.ChunkFiller(weighted, counts, process)

        nominal_label = f"{sample_variation}Up" if sample_variation else histograms.NOMINAL
        if sample_variation and not self.systematics:
            nominal_label = None
        # per selection, the weights of its rows under each variation
        row_weight = {name: weight[result.quad.event_index] for name, result in results.items()}
        weights_of: dict[str, dict[str, np.ndarray]] = {name: {} for name in results}
        if nominal_label is not None:
            for name in results:
                weights_of[name][nominal_label] = row_weight[name]
        run_variations = self.systematics and not is_data and not sample_variation
        if run_variations:
            weight_systematics = self.definition.systematics_of("weight")
            for name, result in results.items():
                quad = result.quad
                ratios = weights.weight_variation_ratios(
                    weight_systematics, events, quad.event_index, quad.pt, quad.abs_pdg_id
                )
                for variation, ratio in ratios.items():
                    weights_of[name][variation] = row_weight[name] * ratio
        self._fill(filler, results, masks, weights_of)
        if run_variations:
            channel_number = np.asarray(events["channelNumber"], dtype=np.int64)
            varied = self._object_variations(leptons, channel_number, event_number)
            for variation, varied_leptons in varied:
                varied_results = chunk_selections.varied(varied_leptons)
                self._add_scores(varied_results, event_number, timing)
                self._fill(
                    filler,
                    varied_results,
                    self._region_masks(varied_results),
                    {
                        name: {variation: weight[result.quad.event_index]}
                        for name, result in varied_results.items()
                    },
                )
                del varied_leptons, varied_results  # one variation in memory at a time

        if self.dump_features and not is_data and not sample_variation:
            selection = (
                self.definition.classifier.selection if self.definition.classifier else "hzz4l"
            )
            output["features"] = [self._feature_rows(events, results[selection], process, weight)]
        output["cutflow"] = {sample: self._cutflow(results, masks, weight)}
        output["events"] = {sample: n}
        if unphysical:
            output["unphysical_objects"] = {sample: unphysical}
        output["sum_mc_weights"] = {
            sample: float(np.sum(np.asarray(events["mcWeight"], dtype=np.float64)))
        }
        if self.classifiers:
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
