"""Where one chunk of the full hzz4l job spends its time: a wall-clock split, no profiler.

Reads the first file of a sample of the performance benchmark's cached sample
as one chunk, then times each step of the processor as ``HZZ4lProcessor.process``
runs them, and the whole ``process`` for comparison; best of ``--repeat``.

    python benchmarks/chunk_split.py [--sample ggH125_ZZ4lep] [--fileset PATH]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np
import uproot
from coffea.nanoevents import NanoEventsFactory

from liberica.analysis.hzz4l import selections
from liberica.analysis.hzz4l.processor import REQUIRED_BRANCHES, HZZ4lProcessor, Objects
from liberica.core.definition import load
from liberica.orchestration.chunks import uproot_options
from liberica.orchestration.pipeline import classifiers_of
from liberica.processors import histograms, weights
from liberica.processors.leptons import open_data_lepton_columns, take_events, with_directions
from liberica.processors.schema import OpenDataSchema

DEFAULT_FILESET = pathlib.Path("liberica-data/hzz4l-20000000-seed42-500000-per-file/fileset.json")


def _split(filename: str, metadata: dict, processor: HZZ4lProcessor) -> dict[str, float]:
    definition = processor.definition
    timing = {"features_s": 0.0, "inference_s": 0.0, "rows_scored": 0}
    steps: dict[str, float] = {}
    last = time.perf_counter()

    def tick(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps[name] = steps.get(name, 0.0) + now - last
        last = now

    stop = metadata["entrystop"]
    options = uproot_options([filename])  # as the pipeline reads local files
    uproot.open(filename, **options)["mini"].arrays(list(REQUIRED_BRANCHES), how=dict)
    tick("pure uproot read (a)")
    events = NanoEventsFactory.from_root(
        {filename: "mini"},
        schemaclass=OpenDataSchema,
        entry_stop=stop,
        metadata=metadata,
        mode="virtual",
        preload=REQUIRED_BRANCHES,
        uproot_options=options,
    ).events()
    tick("coffea open + preloaded read")
    leptons = open_data_lepton_columns(events)
    leptons = with_directions(take_events(leptons, np.flatnonzero(leptons.counts >= 4)))
    event_number = np.asarray(events["eventNumber"], dtype=np.int64)
    tick("lepton columns of events with >= 4 leptons")
    kinds = {region.selection for region in definition.regions.values()}
    chunk = selections.ChunkSelections(
        kinds, definition.cuts.leptons, definition.cuts.events, events, leptons
    )
    results = chunk.nominal()
    tick("nominal selections")
    processor._add_scores(results, event_number, timing)
    tick("nominal classifier (features + ONNX)")
    weight = weights.nominal_weight(
        events, float(metadata["xsec"]), float(metadata["sumw"]), processor.lumi_fb
    )
    weights_of = {}
    for name, result in results.items():
        row_weight = weight[result.event_index]
        weights_of[name] = {"nominal": row_weight}
        rows = kinds.RowInputs(events, result.event_index, result.weight_objects, {})
        for systematic in definition.systematics_of("weight"):
            up, down = kinds.get(systematic.kind).ratios(systematic, rows)
            weights_of[name][f"{systematic.name}Up"] = row_weight * up
            weights_of[name][f"{systematic.name}Down"] = row_weight * down
    tick("weights and weight variations")
    filler = histograms.ChunkFiller(*histograms.book(definition), metadata["process"])
    processor._fill(filler, results, processor._region_masks(results), weights_of)
    tick("region masks + fills, nominal and weight variations")
    inputs = kinds.ChunkInputs(np.asarray(events["channelNumber"], dtype=np.int64), event_number)
    variations = [
        (f"{s.name}{direction}", varied)
        for s in definition.systematics_of("object")
        for direction, varied in kinds.get(s.kind).vary(s, leptons, inputs)
    ]
    for label, varied in variations:
        tick("momentum variations: the varied columns")
        varied_results = chunk.varied(Objects(varied))
        tick("momentum variations: selections")
        processor._add_scores(varied_results, event_number, timing)
        tick("momentum variations: classifier")
        processor._fill(
            filler,
            varied_results,
            processor._region_masks(varied_results),
            {n: {label: weight[r.event_index]} for n, r in varied_results.items()},
        )
        tick("momentum variations: masks + fills")
    processor.process(events)
    tick("the whole process() after the read, for comparison")
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", type=pathlib.Path, default=DEFAULT_FILESET)
    parser.add_argument("--sample", default="ggH125_ZZ4lep")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.fileset.exists():
        parser.error(f"{args.fileset} not found: run benchmarks/performance.py first")
    fileset = json.loads(args.fileset.read_text())
    entry = fileset[args.sample]
    filename = next(iter(entry["files"]))
    n = uproot.open(filename)["mini"].num_entries
    metadata = dict(
        entry["metadata"], dataset=args.sample, filename=filename, entrystart=0, entrystop=n
    )
    definition = load("hzz4l")
    processor = HZZ4lProcessor(definition, 140.0, True, classifiers_of(definition))
    runs = [_split(filename, metadata, processor) for _ in range(args.repeat)]
    print(f"{args.sample}: one chunk of {n:,} events ({filename}), best of {args.repeat}, ms\n")
    print("| step | ms |\n| --- | ---: |")
    for step in runs[0]:
        print(f"| {step} | {1e3 * min(run[step] for run in runs):.0f} |")


if __name__ == "__main__":
    main()
