"""The rate of processing DAML tables (``hllj_table``, format ``daml_csv``).

For each size (MC rows of the four tables; the pseudo-data table adds its own),
generated once into ``--cache``:
  (a) the CSV -> parquet conversion, cold (no cached conversion);
  (b) the file checks with the conversion cached (the content hash only);
  (c) the full job (the classifier, nominal: a table has no template systematics),
      iterative (1 core) and futures x2, best of ``--repeat`` fresh processes.
A row is one event: rows/s is events/s.

    python benchmarks/daml_tables.py [--sizes 250000,2000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import platform
import shutil
import time


def _tables(fileset_path: pathlib.Path) -> list[pathlib.Path]:
    fileset = json.loads(fileset_path.read_text())
    return [pathlib.Path(f) for entry in fileset.values() for f in entry["files"]]


def _convert_all(fileset_path: str) -> tuple[int, float]:
    from liberica.processors.formats.daml_csv import convert

    start = time.perf_counter()
    rows = sum(convert(path).entries for path in _tables(pathlib.Path(fileset_path)))
    return rows, time.perf_counter() - start


def _process(fileset_path: str, executor: str, chunksize: int) -> dict:
    from liberica.orchestration.pipeline import run_processor

    run = run_processor(
        "hllj_table",
        fileset_path,
        executor=executor,
        workers=2,
        chunksize=chunksize,
        status=False,
    )
    metrics = run.metrics
    return {
        "events": metrics["events_processed"],
        "wall_s": metrics["processing_wall_s"],
        "rate": metrics["events_per_second"],
        "peak_rss_mb": max(metrics["peak_rss_mb_per_process"].values()),
    }


def _fresh(function, *args):
    """Run ``function(*args)`` in a fresh process (its own imports and peak RSS)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="250000,2000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunksize", type=int, default=500_000)
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("liberica-data"))
    args = parser.parse_args()

    from liberica.analysis.hllj.daml_tables import generate_daml_tables

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for size in (int(s) for s in args.sizes.split(",")):
        folder = args.cache / f"daml-tables-{size}"
        fileset = folder / "fileset.json"
        if not fileset.exists():
            start = time.perf_counter()
            generate_daml_tables(folder, events=size)
            print(f"{size:,} rows: generated in {time.perf_counter() - start:.1f} s")
        megabytes = sum(p.stat().st_size for p in _tables(fileset)) / 1e6
        shutil.rmtree(folder / ".liberica-parquet", ignore_errors=True)
        rows, cold = _fresh(_convert_all, str(fileset))
        _, cached = _fresh(_convert_all, str(fileset))
        print(
            f"{size:,} MC rows, {rows:,} rows with the pseudo-data, {megabytes:.0f} MB of CSV: "
            f"conversion {cold:.2f} s ({rows / cold:,.0f} rows/s), cached {cached:.2f} s"
        )
        for executor in ("iterative", "futures"):
            runs = [
                _fresh(_process, str(fileset), executor, args.chunksize) for _ in range(args.repeat)
            ]
            best = max(runs, key=lambda r: r["rate"])
            cores = 1 if executor == "iterative" else 2
            print(
                f"  {executor:9s}: {best['events']:,} rows in {best['wall_s']:.2f} s, "
                f"{best['rate']:,.0f} rows/s ({best['rate'] / cores:,.0f} per core), "
                f"peak RSS {best['peak_rss_mb']} MB; all rates "
                + ", ".join(f"{r['rate']:,.0f}" for r in runs)
            )


if __name__ == "__main__":
    main()
