"""The chunks of a prepared fileset, as coffea work items.

``fileset.prepare`` has already opened every file; splitting here spares
coffea's preprocessing, which opens each file once more on the executor
(0.7 s for the 41 files of the performance benchmark, 1.2 s through a dask
scheduler, before the first chunk can start). The split is coffea's own, so
chunk boundaries, and the checkpoint keys made from them, are unchanged.
It also picks how uproot reads the chunks' files (``uproot_options``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import uproot
from coffea.processor.executor import WorkItem


def split(num_entries: int, chunksize: int) -> list[tuple[int, int]]:
    """Entry ranges of one file: coffea's split into ``round(n / chunksize)`` equal chunks.

    At least one chunk; the last may be shorter. An empty file is one empty chunk.
    """
    if num_entries == 0:
        return [(0, 0)]
    n_chunks = max(round(num_entries / chunksize), 1)
    size = math.ceil(num_entries / n_chunks)
    return [(start, min(num_entries, start + size)) for start in range(0, num_entries, size)]


def work_items(
    fileset: dict[str, Any], chunksize: int, preload: tuple[str, ...] | None = None
) -> list[WorkItem]:
    """Every chunk of a prepared fileset, sample by sample and file by file.

    Args:
        fileset: from ``fileset.prepare`` (with ``num_entries`` and ``uuid`` per file)
        chunksize: target events per chunk
        preload: branches each chunk reads in one call before processing
    """
    branches = frozenset(preload) if preload else None
    items = []
    for sample, entry in fileset.items():
        metadata = entry["metadata"]
        for filename, tree in entry["files"].items():
            for start, stop in split(entry["num_entries"][filename], chunksize):
                items.append(
                    WorkItem(
                        sample,
                        filename,
                        tree,
                        start,
                        stop,
                        entry["uuid"][filename],
                        metadata,
                        branches,
                    )
                )
    return items


def uproot_options(filenames: Iterable[str]) -> dict[str, Any]:
    """The ``uproot.open`` options for reading ``filenames``' chunks.

    uproot opens local paths through fsspec by default. Reading them with
    plain file reads instead (``MultithreadedFileSource``) took the pure read
    of the performance benchmark's branches from 2.8 s to 1.8 s, and the
    full job from 12.5 s to 11.5 s: fsspec's reads fault about 0.5M pages a
    run in again (benchmarks/RESULTS.md). Where any file is remote (a URL
    with a scheme), uproot's choice per file stands.
    """
    if all("://" not in str(name) for name in filenames):
        return {"handler": uproot.source.file.MultithreadedFileSource}
    return {}
