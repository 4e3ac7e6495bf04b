"""Rate of the default hzz4l run against a pure uproot read of the same branches.

Generates (or reuses) the embedded default sample, then, in one run and on the
same files:
  (a) reads exactly the branches the processor touches with uproot, file by file;
  (b) runs the processor with the iterative executor (1 core);
  (c) runs it with the futures executor on 2 workers.
Prints events/s and events/s per core for each, and the ratios to (a).

    python benchmarks/default_run.py [--cache liberica-data] [--events 2000000]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time

import uproot

from liberica.analysis import fileset as fileset_module
from liberica.analysis.definition import load
from liberica.analysis.pipeline import run_processor
from liberica.processors.hzz4l import REQUIRED_BRANCHES
from liberica.samples import cached_hzz4l


def pure_read(fileset: dict, branches: tuple[str, ...]) -> tuple[int, float, int]:
    """Events, seconds and bytes for reading ``branches`` of every file with uproot."""
    events, read_bytes = 0, 0
    start = time.perf_counter()
    for entry in fileset.values():
        for filename, tree_name in entry["files"].items():
            with uproot.open(filename) as root_file:
                tree = root_file[tree_name]
                tree.arrays(list(branches), library="ak")
                events += tree.num_entries
                read_bytes += root_file.file.source.num_requested_bytes
    return events, time.perf_counter() - start, read_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("liberica-data"))
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    sample = cached_hzz4l(
        args.cache / f"hzz4l-{args.events}-seed{args.seed}", events=args.events, seed=args.seed
    )
    definition = load("hzz4l")
    fileset = fileset_module.prepare(
        fileset_module.read(sample.fileset_path), definition, REQUIRED_BRANCHES
    )
    # warm the page cache so that (a) and (b) read from the same place
    pure_read(fileset, REQUIRED_BRANCHES)
    n_read, t_read, bytes_read = pure_read(fileset, REQUIRED_BRANCHES)
    read_rate = n_read / t_read
    rows = [("(a) uproot read of the processor's branches", n_read, t_read, read_rate, 1)]
    for executor, workers in (("iterative", 1), ("futures", 2)):
        result = run_processor(
            definition, sample.fileset_path, executor=executor, workers=workers, status=False
        )
        m = result.metrics
        rows.append(
            (
                f"processor, {executor} x{workers}",
                m["events_processed"],
                m["wall_time_s"],
                m["events_per_second"],
                m["cores"],
            )
        )
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}; {bytes_read / 1e6:.1f} MB of branches read in (a)"
    )
    print("| what | events | wall s | events/s | events/s per core | per core / (a) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, n, t, rate, cores in rows:
        print(
            f"| {name} | {n:,} | {t:.2f} | {rate:,.0f} | {rate / cores:,.0f} | "
            f"{rate / cores / read_rate:.3f} |"
        )
    print(json.dumps({"branches": list(REQUIRED_BRANCHES)}))


if __name__ == "__main__":
    main()
