"""Digests of a run's histograms and cutflows, to compare two codes bit for bit.

A digest is the sha256 (first 16 hex digits) of the exact bytes: for each
region, process and variation, the weighted values, the variances and the raw
counts with flow bins; for each sample and region, the cutflow as JSON (floats
written exactly). ``hzz4l_default_reference.json`` in tests/data holds the
digests of the default sample processed by liberica at 1b1fe4b, before the
plug-in port; make it again with

    python tests/reference.py OUT.json [CACHE_DIR]

(iterative, so that chunks merge in one order; every systematic, the default 2M-event sample generated into
CACHE_DIR if absent).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys

import numpy as np


def _digest(*arrays: np.ndarray) -> str:
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()[:16]


def digests(result) -> dict:
    """``{"histograms": {region: {process: {variation: digest}}}, "cutflow": {...}}``."""
    histograms: dict = {}
    for region, h in result.histograms.items():
        counts = result.counts[region]
        per_process: dict = {}
        for p, process in enumerate(h.axes["process"]):
            per_variation = {}
            for v, variation in enumerate(h.axes["variation"]):
                view = h.view(flow=True)
                per_variation[variation] = _digest(
                    view["value"][:, p, v],
                    view["variance"][:, p, v],
                    counts.view(flow=True)[:, p, v].astype(np.int64),
                )
            per_process[process] = per_variation
        histograms[region] = per_process
    cutflow = {
        sample: {
            region: hashlib.sha256(json.dumps(steps, sort_keys=True).encode()).hexdigest()[:16]
            for region, steps in regions.items()
        }
        for sample, regions in result.cutflow.items()
    }
    return {"histograms": histograms, "cutflow": cutflow}


def main(out: str, cache: str = "liberica-data") -> None:
    from liberica.orchestration.pipeline import run_processor

    folder = pathlib.Path(cache) / "hzz4l-2000000-seed42"
    try:
        from liberica.core import registry
        from liberica.samples import cached_sample

        sample = cached_sample(registry.get("hzz4l"), folder)
    except ImportError:  # liberica before the plug-in registry (1b1fe4b)
        from liberica.samples import cached_hzz4l

        sample = cached_hzz4l(folder)
    result = run_processor("hzz4l", sample.fileset_path, executor="iterative", status=False)
    pathlib.Path(out).write_text(json.dumps(digests(result), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
