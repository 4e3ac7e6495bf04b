"""The performance benchmark: processing rate against pure I/O, memory, chunk size.

One command, one run, the same files for every row of an analysis, for hzz4l
and then for hllj (``--analyses``):
  (a) pure uproot read of exactly the branches the processor touches;
  (b) the processor, nominal only, no classifier (iterative, 1 core);
  (c) with every systematic, no classifier;
  (d) with every systematic and the classifier (the full job);
  (e) the full job with futures and with dask-local on 2 workers.
For each: events/s per core, ratio to (a), peak RSS per worker process and
bytes read, from the fastest of ``--repeat`` runs. For hzz4l, then a profile of
one chunk of (d), and a chunk-size scan of (d) from 50k to 1M events on a
subset of the files. Every processing row runs in a fresh process, so that its
peak RSS is its own. For hllj, rows (a)-(d) and futures x2: an analysis
written in coffea idioms (awkward + vector, PackedSelection) should reach 0.3
of its pure read with every systematic and the classifier.

The samples (hzz4l: default 20M MC events in 41 files of at most 500k events;
hllj: 10M; dilepton_ad: its default 1.2M, with both autoencoders as its classifier,
``--analyses dilepton_ad``; tth2lss1tau: its default 600k, the FT-Transformer scoring
every chunk's signal-region events) are generated once and cached.

    python benchmarks/performance.py [--events 20000000] [--hllj-events 10000000]
                                     [--events-per-file 500000] [--analyses hzz4l,hllj]

``--compare-with TREE`` instead times the full job (d) of this checkout and of
another liberica source tree (e.g. ``git worktree add /tmp/old REV``) in
alternating fresh processes, ``--repeat`` rounds, and prints both rates.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import cProfile
import io
import json
import multiprocessing
import os
import pathlib
import platform
import pstats
import time

import uproot

CHUNK_SCAN = (50_000, 100_000, 200_000, 500_000, 1_000_000)


def pure_read(
    fileset: dict, branches: tuple[str, ...], uproot_default: bool = False
) -> tuple[int, float, int]:
    """Events, seconds and bytes for reading ``branches`` of every file with uproot.

    The files are opened as the processing rows open them (``chunks.uproot_options``),
    in a process with liberica's allocator settings, as a worker has; with
    ``uproot_default``, through the source uproot picks itself.
    """
    from liberica.orchestration.chunks import uproot_options
    from liberica.processors import allocator

    allocator.keep_freed_memory()
    files = [(f, t) for entry in fileset.values() for f, t in entry["files"].items()]
    options = {} if uproot_default else uproot_options(f for f, _ in files)
    events, read_bytes = 0, 0
    start = time.perf_counter()
    for filename, tree_name in files:
        with uproot.open(filename, **options) as root_file:
            tree = root_file[tree_name]
            tree.arrays(list(branches), library="ak")
            events += tree.num_entries
            read_bytes += root_file.file.source.num_requested_bytes
    return events, time.perf_counter() - start, read_bytes


def _process(
    fileset_path: str,
    systematics: bool,
    classifier: bool,
    executor: str,
    chunksize: int,
    analysis: str = "hzz4l",
) -> dict:
    """One processing run in this (fresh) process; returns its metrics."""
    from liberica.core.definition import load, without_classifier
    from liberica.orchestration.clusters import Profile
    from liberica.orchestration.pipeline import run_processor

    definition = load(analysis)
    if not classifier:
        definition = without_classifier(definition)
    profile = {
        "iterative": Profile("iterative", "iterative", {}),
        "futures": Profile("futures", "futures", {"workers": 2}),
        "dask-local": Profile("dask-local", "dask-local", {"workers": 2, "threads_per_worker": 1}),
    }[executor]
    result = run_processor(
        definition,
        fileset_path,
        profile=profile,
        systematics=systematics,
        chunksize=chunksize,
        status=False,
    )
    return result.metrics


def _reads(fileset: dict, branches: tuple[str, ...], repeat: int) -> tuple[int, float, int, float]:
    """Row (a): events, seconds and bytes of the fastest of ``repeat`` reads after a
    warm-up read (the page cache then holds the files), and the fastest read
    through uproot's default source."""
    pure_read(fileset, branches)
    n_read, t_read, bytes_read = min(
        (pure_read(fileset, branches) for _ in range(repeat)), key=lambda r: r[1]
    )
    t_default = min(pure_read(fileset, branches, uproot_default=True)[1] for _ in range(repeat))
    return n_read, t_read, bytes_read, t_default


def _in_fresh_process(function, *args):
    """``function(*args)`` in a fresh process.

    The benchmark's own process stays small. Once it had held the reads'
    arrays (2.1 GB resident, the allocator keeping freed memory), the futures
    row ran 12-18% slower (2.48-2.64M against 2.98-3.03M events/s, taken
    alternately) and the iterative row no slower (1.78-1.86M against
    1.66-1.72M): the two-worker ratios of runs 1-15 were measured so.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def _best_of(repeat: int, *args) -> dict:
    """The metrics of the fastest of ``repeat`` runs, each in a fresh process."""
    runs = [_in_fresh_process(_process, *args) for _ in range(repeat)]
    return max(runs, key=lambda m: m["events_per_second"])


PROFILE_SAMPLE = {
    "hzz4l": "ZZllll",
    "hllj": "Zjets",
    "dilepton_ad": "DYmumu_40_120",
    "tth2lss1tau": "ttbar",
}
"""The MC sample whose first file the profile runs on: the analysis's main background."""


def _profile_one_chunk(analysis: str, fileset_path: pathlib.Path, chunksize: int) -> str:
    """cProfile of the full job on one MC file's first chunk and one data file's, after the
    processor module's ``warm_up()`` (where it has one), as on every worker."""
    import importlib

    from liberica.core import registry
    from liberica.orchestration.pipeline import run_processor

    fileset = json.loads(fileset_path.read_text())
    sample = PROFILE_SAMPLE[analysis]
    first = dict(list(fileset[sample]["files"].items())[:1])
    single = {
        sample: {
            "files": {str(fileset_path.parent / k): v for k, v in first.items()},
            "metadata": fileset[sample]["metadata"],
        }
    }
    data = {k: v for k, v in fileset.items() if v["metadata"].get("is_data")}
    for name, entry in data.items():
        single[name] = {
            "files": {str(fileset_path.parent / k): v for k, v in list(entry["files"].items())[:1]},
            "metadata": entry["metadata"],
        }
    path = fileset_path.parent / "one_chunk_fileset.json"
    path.write_text(json.dumps(single))
    module = registry.get(analysis).processor.partition(":")[0]
    warm_up = getattr(importlib.import_module(module), "warm_up", None)
    if callable(warm_up):
        warm_up()  # compiled loops loaded, as on every worker before its first chunk
    profiler = cProfile.Profile()
    profiler.enable()
    run_processor(analysis, path, executor="iterative", chunksize=chunksize, status=False)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(25)
    return text.getvalue()


def _subset(fileset_path: pathlib.Path, events: int) -> pathlib.Path:
    """A fileset with about ``events`` events: the first files of each sample, in proportion."""
    fileset = json.loads(fileset_path.read_text())
    total = 0
    per_file = {}
    for name, entry in fileset.items():
        for filename in entry["files"]:
            with uproot.open(fileset_path.parent / filename) as f:
                per_file[(name, filename)] = f[entry["files"][filename]].num_entries
                total += per_file[(name, filename)]
    fraction = min(1.0, events / total)
    subset = {}
    for name, entry in fileset.items():
        files = list(entry["files"].items())
        keep = max(1, round(fraction * len(files)))
        subset[name] = {
            "files": {str(fileset_path.parent / k): v for k, v in files[:keep]},
            "metadata": entry["metadata"],
        }
    path = fileset_path.parent / f"subset_{events}.json"
    path.write_text(json.dumps(subset))
    return path


def _process_in_tree(tree: pathlib.Path, fileset_path: str, chunksize: int) -> dict:
    """Row (d) with the liberica of source tree ``tree``, in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(tree / 'benchmarks')!r})\n"
        "import performance\n"
        f"metrics = performance._process({fileset_path!r}, True, True, 'iterative', {chunksize})\n"
        "print(json.dumps({k: metrics[k] for k in ('events_processed', 'events_per_second')}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _compare(other: pathlib.Path, fileset_path: str, chunksize: int, rounds: int) -> None:
    """Row (d) of this checkout and of ``other``, alternating, and the ratio of the best."""
    this = pathlib.Path(__file__).resolve().parents[1]
    rates: dict[str, list[float]] = {"this": [], "other": []}
    for round_ in range(rounds):
        for label, tree in (("other", other), ("this", this)):
            metrics = _process_in_tree(tree, fileset_path, chunksize)
            rates[label].append(metrics["events_per_second"])
            print(
                f"round {round_ + 1}: {label} ({tree}): {metrics['events_per_second']:,.0f} "
                f"ev/s, {metrics['events_processed']:,} events",
                flush=True,
            )
    best = {k: max(v) for k, v in rates.items()}
    print("\n| tree | rounds, events/s | best |\n| --- | --- | ---: |")
    for label, tree in (("other", other), ("this", this)):
        runs = ", ".join(f"{r:,.0f}" for r in rates[label])
        print(f"| {label}: {tree} | {runs} | {best[label]:,.0f} |")
    print(f"\nthis / other (best of each): {best['this'] / best['other']:.3f}")


CONFIGURATIONS = {
    "hzz4l": [
        ("(b) nominal, no classifier, iterative", (False, False, "iterative")),
        ("(c) all systematics, no classifier, iterative", (True, False, "iterative")),
        ("(d) all systematics + classifier, iterative", (True, True, "iterative")),
        ("(e) full job, futures x2", (True, True, "futures")),
        ("(e) full job, dask-local x2", (True, True, "dask-local")),
    ],
    "hllj": [
        ("(b) nominal, no classifier, iterative", (False, False, "iterative")),
        ("(c) all systematics, no classifier, iterative", (True, False, "iterative")),
        ("(d) all systematics + classifier, iterative", (True, True, "iterative")),
        ("(e) full job, futures x2", (True, True, "futures")),
    ],
    "tth2lss1tau": [
        ("(b) nominal, no classifier, iterative", (False, False, "iterative")),
        ("(c) all systematics, no classifier, iterative", (True, False, "iterative")),
        ("(d) all systematics + FT-Transformer, iterative", (True, True, "iterative")),
        ("(e) full job, futures x2", (True, True, "futures")),
    ],
    "dilepton_ad": [
        ("(b) nominal, no autoencoder, iterative", (False, False, "iterative")),
        ("(c) all systematics, no autoencoder, iterative", (True, False, "iterative")),
        ("(d) all systematics + both autoencoders, iterative", (True, True, "iterative")),
        ("(e) full job, futures x2", (True, True, "futures")),
    ],
}
"""The processing rows of each analysis: label, (systematics, classifier, executor)."""

Row = tuple[str, int, float, float, int, dict, int]
"""label, events, wall seconds, events/s, cores, peak RSS per process, bytes read."""


def _rate_rows(analysis: str, fileset_path: pathlib.Path, chunksize: int, repeat: int):
    """Rows (a)-(e) of one analysis on its sample, and the uproot-default read time."""
    from liberica.core import registry
    from liberica.core.definition import load
    from liberica.orchestration import fileset as fileset_module
    from liberica.processors.formats.open_data import OPEN_DATA

    definition = load(analysis)
    branches = tuple(registry.get(analysis).processor_class().columns(definition))
    fileset = fileset_module.prepare(
        fileset_module.read(fileset_path), definition, branches, OPEN_DATA
    )
    # the first read warms the page cache: every row reads from memory
    n_read, t_read, bytes_read, t_default = _in_fresh_process(_reads, fileset, branches, repeat)
    rows: list[Row] = [
        ("(a) uproot read of the processor's branches", n_read, t_read, n_read / t_read, 1, {},
         bytes_read)
    ]  # fmt: skip
    # rounds over every row, so that a slow spell of the VM hits all rows alike
    best: dict[str, dict] = {}
    for round_ in range(repeat):
        for label, (systematics, classifier, executor) in CONFIGURATIONS[analysis]:
            m = _in_fresh_process(
                _process, str(fileset_path), systematics, classifier, executor, chunksize, analysis
            )
            if label not in best or m["events_per_second"] > best[label]["events_per_second"]:
                best[label] = m
            print(
                f"round {round_ + 1}: {analysis} {label}: {m['events_per_second']:,.0f} ev/s",
                flush=True,
            )
    for label, _ in CONFIGURATIONS[analysis]:
        m = best[label]
        rows.append(
            (
                label,
                m["events_processed"],
                m["processing_wall_s"],
                m["events_per_second"],
                m["cores"],
                m["peak_rss_mb_per_process"],
                m["bytes_read"],
            )
        )
    return rows, t_default, sum(len(e["files"]) for e in fileset.values())


def _print_rows(rows: list[Row], t_default: float) -> None:
    """The rate table, the uproot-default read and the executors against iterative."""
    n_read, read_rate = rows[0][1], rows[0][3]
    print(
        "| what | events | wall s | events/s | events/s per core | per core / (a) "
        "| peak RSS per worker MB | bytes read MB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, n, t, rate, cores, rss, nbytes in rows:
        peak = max(rss.values()) if rss else "-"
        print(
            f"| {name} | {n:,} | {t:.2f} | {rate:,.0f} | {rate / cores:,.0f} | "
            f"{rate / cores / read_rate:.3f} | {peak} | {nbytes / 1e6:,.0f} |"
        )
    print(
        f"\n(a) through uproot's default source for local files (fsspec): "
        f"{t_default:.2f} s, {n_read / t_default:,.0f} events/s"
    )
    iterative = rows[3][3]
    for name, _, _, rate, *_ in rows[4:]:
        print(f"\n{name}: {rate / iterative:.2f}x the iterative full job")


def _sample(analysis: str, args: argparse.Namespace):
    """The analysis's benchmark sample, generated once into the cache."""
    from liberica.core import registry
    from liberica.samples import cached_sample

    events = {"hzz4l": args.events, "hllj": args.hllj_events}.get(analysis, args.other_events)
    registered = registry.get(analysis)
    events = events or registered.default_events
    folder = f"{analysis}-{events}-seed{args.seed}-{args.events_per_file}-per-file"
    return cached_sample(
        registered,
        args.cache / folder,
        events=events,
        seed=args.seed,
        events_per_file=args.events_per_file,
        lumi_fb=registered.default_lumi_fb,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("liberica-data"))
    parser.add_argument("--events", type=int, default=20_000_000, help="hzz4l's MC events")
    parser.add_argument("--hllj-events", type=int, default=10_000_000, help="hllj's MC events")
    parser.add_argument(
        "--other-events",
        type=int,
        default=None,
        help="MC events of any other analysis (dilepton_ad) [default: its default sample's]",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--analyses",
        default="hzz4l,hllj",
        help="comma-separated: the analyses to benchmark, in this order",
    )
    parser.add_argument(
        "--events-per-file",
        type=int,
        default=500_000,
        help="file size of the generated sample; a chunk never spans two files",
    )
    parser.add_argument(
        "--chunksize",
        type=int,
        default=None,
        help="chunk size of rows (a)-(e) [default: liberica's]",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="rounds over every row; each row's fastest run counts (the VM's speed drifts)",
    )
    parser.add_argument(
        "--scan-events",
        type=int,
        default=4_000_000,
        help="events of hzz4l's subset the chunk-size scan runs on",
    )
    parser.add_argument(
        "--compare-with",
        type=pathlib.Path,
        default=None,
        help="another liberica source tree: time hzz4l's row (d) of both, alternating",
    )
    args = parser.parse_args()
    analyses = [a.strip() for a in args.analyses.split(",") if a.strip()]
    unknown = set(analyses) - set(CONFIGURATIONS)
    if unknown:
        parser.error(f"--analyses: no benchmark rows for {sorted(unknown)}")

    import coffea
    import onnxruntime

    from liberica.orchestration.pipeline import DEFAULT_CHUNKSIZE

    chunksize = args.chunksize or DEFAULT_CHUNKSIZE
    if args.compare_with is not None:
        sample = _sample("hzz4l", args)
        _compare(args.compare_with, str(sample.fileset_path), chunksize, args.repeat)
        return
    print(
        f"\n# {time.strftime('%Y-%m-%d')}, {platform.node()} ({platform.machine()}, "
        f"{os.cpu_count()} cores), Python {platform.python_version()}, coffea "
        f"{coffea.__version__}, uproot {uproot.__version__}, onnxruntime "
        f"{onnxruntime.__version__}; chunk size {chunksize:,}"
    )
    for analysis in analyses:
        start = time.perf_counter()
        sample = _sample(analysis, args)
        generation_s = time.perf_counter() - start
        rows, t_default, n_files = _rate_rows(analysis, sample.fileset_path, chunksize, args.repeat)
        print(
            f"\n## {analysis}: {rows[0][1]:,} events in {n_files} files (generated or found "
            f"in {generation_s:.0f} s)\n"
        )
        _print_rows(rows, t_default)
        if analysis != "hzz4l":
            full = rows[3]
            print(f"\n{analysis}: the full job is {full[3] / rows[0][3]:.3f} of its pure read")
            print("\nprofile of (d) on one MC file and one data file, by own time:\n")
            print("```")
            print(_profile_one_chunk(analysis, sample.fileset_path, chunksize).strip())
            print("```")
            continue
        scan_path = str(_subset(sample.fileset_path, args.scan_events))
        scan = []
        for size in CHUNK_SCAN:
            scan.append((size, _best_of(args.repeat, scan_path, True, True, "iterative", size)))
        profile_text = _profile_one_chunk(analysis, sample.fileset_path, chunksize)
        print(f"\nchunk-size scan of (d), iterative, {scan[0][1]['events_processed']:,} events:\n")
        print("| chunk size | chunks | events/s | peak RSS MB |")
        print("| ---: | ---: | ---: | ---: |")
        for size, m in scan:
            print(
                f"| {size:,} | {m['chunks']} | {m['events_per_second']:,.0f} | "
                f"{max(m['peak_rss_mb_per_process'].values())} |"
            )
        print("\nprofile of (d) on one MC file and one data file, by own time:\n")
        print("```")
        print(profile_text.strip())
        print("```")


if __name__ == "__main__":
    main()
