"""The H -> ZZ* -> 4l processor.

A pure function of a chunk: objects -> object variations -> selections ->
weights -> histograms and cutflows. It returns a dictionary that coffea's
executors merge by addition.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from coffea import processor

from liberica.analysis.definition import AnalysisDefinition
from liberica.processors import histograms, selections, variations, weights
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
    "lep_trackd0pvunbiased",
    "lep_tracksigd0pvunbiased",
)
"""Branches the processor reads; a file lacking one is refused before any chunk runs."""


class HZZ4lProcessor(processor.ProcessorABC):
    """Histograms and cutflows of the H -> ZZ* -> 4l analysis.

    Each chunk's metadata (from the fileset) carries ``process``, ``is_data``,
    and for MC ``xsec`` (pb) and ``sumw``; an alternative sample carries the
    name of its systematic in ``variation``.

    Args:
        definition: the validated analysis definition
        lumi_fb: integrated luminosity MC is normalized to, in fb^-1
        systematics: whether to run weight, object and sample variations
    """

    def __init__(
        self, definition: AnalysisDefinition, lumi_fb: float, systematics: bool = True
    ) -> None:
        self.definition = definition
        self.lumi_fb = lumi_fb
        self.systematics = systematics

    # -- object variations ---------------------------------------------------

    def _object_variations(self, events: ak.Array, leptons: ak.Array) -> dict[str, ak.Array]:
        varied: dict[str, ak.Array] = {}
        for systematic in self.definition.systematics_of("object"):
            options = systematic.options
            if systematic.kind == "lepton_momentum_scale":
                for direction, sign in (("Up", 1), ("Down", -1)):
                    varied[f"{systematic.name}{direction}"] = variations.scale_momentum(
                        leptons, options["flavour"], sign * options["relative_shift"]
                    )
            elif systematic.kind == "lepton_resolution":
                varied[f"{systematic.name}Up"] = variations.smear_resolution(
                    leptons,
                    events["channelNumber"],
                    events["eventNumber"],
                    options["electron_relative_smear"],
                    options["muon_relative_smear"],
                    salt=_SMEARING_SALT,
                )
        return varied

    # -- selections ------------------------------------------------------------

    def _select(self, events: ak.Array, leptons: ak.Array) -> dict[str, selections.SelectionResult]:
        kinds = {region.selection for region in self.definition.regions.values()}
        results = {}
        if "agc_baseline" in kinds:
            results["agc_baseline"] = selections.agc_baseline(
                leptons, self.definition.event_selection.z_mass
            )
        if "hzz4l" in kinds:
            results["hzz4l"] = selections.hzz4l(
                events,
                leptons,
                self.definition.lepton_selection,
                self.definition.event_selection,
            )
        return results

    def _region_masks(
        self, results: dict[str, selections.SelectionResult]
    ) -> dict[str, np.ndarray]:
        masks = {}
        for name, region in self.definition.regions.items():
            result = results[region.selection]
            mask = result.selection.all(*result.steps)
            if set(region.channels) != set(CHANNEL_CODES):
                codes = [CHANNEL_CODES[c] for c in region.channels]
                mask = mask & np.isin(result.channel, codes)
            masks[name] = mask
        return masks

    # -- filling ---------------------------------------------------------------

    def _fill(
        self,
        output: dict,
        results: dict[str, selections.SelectionResult],
        masks: dict[str, np.ndarray],
        process: str,
        variation: str,
        weight: np.ndarray,
        regions: list[str] | None = None,
    ) -> None:
        for name in regions if regions is not None else self.definition.regions:
            region = self.definition.regions[name]
            mask = masks[name]
            values = results[region.selection].observables[region.observable][mask]
            fields = {region.observable: values, "process": process, "variation": variation}
            output["histograms"][name].fill(**fields, weight=weight[mask])
            output["counts"][name].fill(**fields)

    def _cutflow(
        self,
        results: dict[str, selections.SelectionResult],
        masks: dict[str, np.ndarray],
        weight: np.ndarray,
    ) -> dict[str, dict[str, dict[str, float]]]:
        def entry(passed: np.ndarray) -> dict[str, float]:
            return {"raw": int(passed.sum()), "weighted": float(weight[passed].sum())}

        # the cumulative steps of each selection, computed once for all its regions
        shared = {}
        for selection_name, result in results.items():
            steps = {"all_events": {"raw": len(weight), "weighted": float(weight.sum())}}
            for k in range(1, len(result.steps) + 1):
                steps[result.steps[k - 1]] = entry(result.selection.all(*result.steps[:k]))
            shared[selection_name] = steps
        cutflow = {}
        for name, region in self.definition.regions.items():
            steps = {step: dict(value) for step, value in shared[region.selection].items()}
            if set(region.channels) != set(CHANNEL_CODES):
                steps["channel"] = entry(masks[name])
            cutflow[name] = steps
        return cutflow

    # -- the chunk -------------------------------------------------------------

    def process(self, events: ak.Array) -> dict[str, Any]:
        """Histograms, cutflows and event counts of one chunk."""
        metadata = events.metadata
        sample = metadata["dataset"]
        is_data = bool(metadata.get("is_data", False))
        process = histograms.DATA_PROCESS if is_data else metadata["process"]
        sample_variation = metadata.get("variation")

        weighted, counts = histograms.book(self.definition)
        output: dict[str, Any] = {"histograms": weighted, "counts": counts}

        n = len(events)
        if is_data:
            weight = np.ones(n)
        else:
            weight = weights.nominal_weight(
                events, float(metadata["xsec"]), float(metadata["sumw"]), self.lumi_fb
            )
        leptons = events.leptons
        results = self._select(events, leptons)
        masks = self._region_masks(results)

        nominal_label = f"{sample_variation}Up" if sample_variation else histograms.NOMINAL
        if sample_variation and not self.systematics:
            nominal_label = None
        if nominal_label is not None:
            self._fill(output, results, masks, process, nominal_label, weight)

        if self.systematics and not is_data and not sample_variation:
            weight_systematics = self.definition.systematics_of("weight")
            for selection_name, result in results.items():
                ratios = weights.weight_variation_ratios(
                    weight_systematics, events, result.lepton_pt, result.lepton_abs_pdg_id
                )
                # each selection fills only its own regions
                regions = [
                    r
                    for r, reg in self.definition.regions.items()
                    if reg.selection == selection_name
                ]
                for variation, ratio in ratios.items():
                    self._fill(
                        output, results, masks, process, variation, weight * ratio, regions=regions
                    )
            for variation, varied_leptons in self._object_variations(events, leptons).items():
                varied_results = self._select(events, varied_leptons)
                self._fill(
                    output,
                    varied_results,
                    self._region_masks(varied_results),
                    process,
                    variation,
                    weight,
                )

        output["cutflow"] = {sample: self._cutflow(results, masks, weight)}
        output["events"] = {sample: n}
        output["sum_mc_weights"] = {
            sample: float(np.sum(np.asarray(events["mcWeight"], dtype=np.float64)))
        }
        return output

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        """Complete the variation axis once all chunks are merged."""
        if self.systematics:
            accumulator["variation_completion"] = histograms.complete_variations(
                accumulator["histograms"], accumulator["counts"], self.definition
            )
        return accumulator
